package fhirpath

import (
	"encoding/json"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// TestFixedMatchesBig checks the int64 fast paths of comparison and + - * against the
// math/big path they stand in for, on random Integers and Decimals of every scale and size
// up to and past what an int64 holds (where the fast path must decline).
func TestFixedMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	number := func() Value {
		digits := 1 + rng.Intn(20)
		var b strings.Builder
		if rng.Intn(3) == 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(1 + rng.Intn(9)))
		for range digits - 1 {
			b.WriteByte(byte('0' + rng.Intn(10)))
		}
		s := b.String()
		if rng.Intn(2) == 0 { // a Decimal: put a point somewhere inside the digits
			p := len(s) - 1 - rng.Intn(min(digits, 17))
			if p > 0 && s[p-1] != '-' {
				s = s[:p] + "." + s[p:]
			}
		}
		typ := "integer"
		if strings.Contains(s, ".") || rng.Intn(5) == 0 {
			typ = "decimal" // also a FHIR decimal written without a point
		}
		return Value{Data: json.Number(s), Type: typ}
	}
	fast, checked := 0, 0
	for range 20000 {
		a, b := number(), number()
		fa, okA := fixedOf(a)
		fb, okB := fixedOf(b)
		na, _ := numOf(a)
		nb, _ := numOf(b)
		if !okA || !okB {
			continue
		}
		if c, ok := cmpFixed(fa, fb); ok {
			checked++
			if want := na.r.Cmp(nb.r); c != want {
				t.Fatalf("cmp %s %s = %d, want %d", a.Data, b.Data, c, want)
			}
		}
		for _, op := range []string{"+", "-", "*"} {
			got, ok := fixedOp(op, fa, fb)
			if !ok {
				continue
			}
			fast++
			want, err := numberOp(op, na, nb)
			if err != nil || len(want) != 1 || want[0].Data != got.Data || want[0].Type != got.Type {
				t.Fatalf("%s %s %s = %v, want %v", a.Data, op, b.Data, got, want)
			}
		}
	}
	t.Logf("%d comparisons and %d operations took the fast path and matched math/big", checked, fast)
	if checked < 10000 || fast < 10000 {
		t.Fatalf("too few fast-path cases checked: %d comparisons, %d operations", checked, fast)
	}
}
