package terminology

import "testing"

// BenchmarkMember is the check validation makes for each coded element with a required
// binding.
func BenchmarkMember(b *testing.B) {
	r := Default()
	cases := []struct{ vs, system, code string }{
		{genderVS + "|4.0.1", "", "female"},
		{"http://terminology.hl7.org/ValueSet/v3-ActEncounterCode", "http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB"},
	}
	for _, c := range cases {
		if m, _ := r.Member(c.vs, c.system, c.code); m != In {
			b.Fatalf("%s %s: %v", c.vs, c.code, m)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := cases[i%len(cases)]
		r.Member(c.vs, c.system, c.code)
	}
}

// BenchmarkLoadSpec decodes the embedded specification terminology (done once per process).
func BenchmarkLoadSpec(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var d specData
		if err := decodeSpec(&d); err != nil {
			b.Fatal(err)
		}
	}
}
