// Command rxcodes writes nlp/lexicon/rxnorm_codes.tsv, the RxNorm codes the pipeline may give
// medications, from real data in the project only: the RxNorm codings of the Synthea
// MedicationRequests in testdata/synthea-ndjson-10.tar.gz and the drug table of the demo
// package (demo/terminology.go). Run from the repository root: go run ./nlp/internal/rxcodes
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"sort"
	"strings"
)

const sysRxNorm = "http://www.nlm.nih.gov/research/umls/rxnorm"

func main() {
	codes := map[string]string{} // rxcui -> display
	source := map[string]string{}
	if err := synthea("testdata/synthea-ndjson-10.tar.gz", codes, source); err != nil {
		log.Fatal(err)
	}
	if err := demo("demo/terminology.go", codes, source); err != nil {
		log.Fatal(err)
	}
	ids := make([]string, 0, len(codes))
	for id := range codes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString("rxcui\tname\tsource\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", id, codes[id], source[id])
	}
	if err := os.WriteFile("nlp/lexicon/rxnorm_codes.tsv", []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d RxNorm codes", len(ids))
}

func synthea(path string, codes, source map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(h.Name, "MedicationRequest.") {
			continue
		}
		sc := bufio.NewScanner(tr)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r struct {
				Med struct {
					Coding []struct{ System, Code, Display string }
				} `json:"medicationCodeableConcept"`
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return err
			}
			for _, c := range r.Med.Coding {
				if c.System == sysRxNorm && c.Code != "" {
					codes[c.Code] = c.Display
					source[c.Code] = "synthea"
				}
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
}

var demoDrug = regexp.MustCompile(`rxnorm: "(\d+)", display: "([^"]+)"`)

func demo(path string, codes, source map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, m := range demoDrug.FindAllStringSubmatch(string(b), -1) {
		if _, ok := codes[m[1]]; !ok {
			source[m[1]] = "demo"
		} else if source[m[1]] == "synthea" {
			source[m[1]] = "synthea,demo"
		}
		codes[m[1]] = m[2]
	}
	return nil
}
