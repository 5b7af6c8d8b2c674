package jsontree

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/fhirgate/fhirgate/internal/datasets"
)

// reference decodes as encoding/json's Decoder with UseNumber, which Decode must match.
func reference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// referenceObject decodes into a map as encoding/json's Decoder with UseNumber.
func referenceObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}

// same fails the test unless Decode returns on data exactly what encoding/json returns:
// the same tree, or an error with the same message.
func same(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := Decode(data)
	want, wantErr := reference(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %#v, %v; encoding/json: %#v, %v", data, got, gotErr, want, wantErr)
	}
	gotM, gotErr := DecodeObject(data)
	wantM, wantErr := referenceObject(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(gotM, wantM) {
		t.Fatalf("DecodeObject(%q) = %#v, %v; encoding/json: %#v, %v", data, gotM, gotErr, wantM, wantErr)
	}
}

// TestDecodeAsEncodingJSON: on every official FHIR example and Synthea resource, on
// written edge cases and on a hundred thousand random mutations of real resources,
// Decode and DecodeObject return what encoding/json returns, error messages included.
func TestDecodeAsEncodingJSON(t *testing.T) {
	var corpus [][]byte
	for _, f := range datasets.Files(t, datasets.FHIRExamples, "*.json") {
		corpus = append(corpus, f.Data)
	}
	for _, f := range datasets.Files(t, datasets.Synthea, "*.000.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			corpus = append(corpus, bytes.Clone(sc.Bytes()))
		}
	}
	if len(corpus) < 5000 {
		t.Fatalf("%d documents in the corpus, want the examples and Synthea", len(corpus))
	}
	fast := 0
	for _, doc := range corpus {
		same(t, doc)
		d := decoder{data: doc}
		if _, ok := d.value(0); ok {
			fast++
		}
	}
	// The corpus is valid JSON: nearly all of it should take the fast path.
	if fast < len(corpus)*99/100 {
		t.Errorf("%d of %d documents decoded on the fast path", fast, len(corpus))
	}

	for _, s := range []string{
		``, ` `, `{`, `}`, `[`, `"`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a":1 "b":2}`,
		`{} trailing`, `[] [1]`, `0`, `-0`, `-`, `01`, `{"a":01}`, `1.`, `1.5e`, `1e+`, `1E-7`, `-12.5e+3`,
		`123abc`, `{"a":123abc}`, `true`, `tru`, `{"a":truex}`, `nul`, `null`, `falsey`, `[true,false,null]`,
		`"a string"`, `[{}]`, `{"a":null}`, `"\u00e9\u2028\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\u12"`,
		`"\uzzzz"`, `"\x"`, `"a\"b\\c\/d\b\f\n\r\t"`, "\"tab\tinside\"", "\"nl\ninside\"", "\"\xff\"",
		"\"caf\xc3\xa9\"", "\"cut \xc3\"", `{"a":1,"a":2}`, `{"":""}`, ` { "a" : [ 1 , { } ] } `,
		"\ufeff{}", `{"a":"é","b":"\u00e9"}`, strings.Repeat("[", 1200) + strings.Repeat("]", 1200),
		strings.Repeat(`{"a":`, 900) + "1" + strings.Repeat("}", 900),
	} {
		same(t, []byte(s))
	}

	r := rand.New(rand.NewPCG(7, 11))
	junk := []byte(`{}[]":,\-+.eE0123456789 tfnu` + "\x00\xff\xc3")
	for range 100000 {
		doc := bytes.Clone(corpus[r.IntN(len(corpus))])
		if len(doc) > 600 {
			doc = doc[:600+r.IntN(len(doc)-600)] // a cut, sometimes
		}
		for range 1 + r.IntN(3) {
			switch i := r.IntN(len(doc)); r.IntN(3) {
			case 0:
				doc[i] = junk[r.IntN(len(junk))]
			case 1:
				doc = append(doc[:i], doc[i+1:]...)
			default:
				doc = append(doc[:i], append([]byte{junk[r.IntN(len(junk))]}, doc[i:]...)...)
			}
			if len(doc) == 0 {
				break
			}
		}
		same(t, doc)
	}
}

// BenchmarkDecode decodes the Synthea resources with Decode and with encoding/json.
func BenchmarkDecode(b *testing.B) {
	var docs [][]byte
	size := 0
	for _, f := range datasets.Files(b, datasets.Synthea, "*.000.ndjson") {
		sc := bufio.NewScanner(bytes.NewReader(f.Data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			docs = append(docs, bytes.Clone(sc.Bytes()))
			size += len(sc.Bytes())
		}
	}
	for _, c := range []struct {
		name   string
		decode func([]byte) (any, error)
	}{{"jsontree", Decode}, {"encoding_json", reference}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, d := range docs {
					if _, err := c.decode(d); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(docs)), "us/resource")
		})
	}
}
