// Package demo generates a deterministic synthetic population of FHIR R4
// resources: a small health system (organizations, locations, a dozen
// practitioners) and patients with three years of visits, problems, vital
// signs, laboratory results, prescriptions, allergies, immunizations and a
// plain-text clinical note for every visit.
//
// It feeds the --demo mode, which loads the population into an empty
// datastore so a newcomer sees a connected graph in GraphiQL, and it gives
// tests and benchmarks data of any size. Everything is computed from the
// options: there is no I/O, no clock and no dependency outside the standard
// library, and the same options always produce byte-identical output.
//
// Each patient is built as one consistent story before any JSON is written,
// so structured data and notes agree: a note names the patient's conditions
// and medications (with dose, route and frequency), its vital signs are the
// Observations of the visit, and an antibiotic is never one the patient is
// allergic to. Notes also carry the constructs a clinical NLP pipeline must
// handle: negated findings, family history, historical and hypothetical
// statements, and uncertain ones ("possible", "ruled out").
//
// All times are given with a fixed -05:00 offset and fall before the epoch,
// 15 January 2025. Codes come from small curated tables (SNOMED CT,
// ICD-10-CM, LOINC, RxNorm, CVX, UCUM); see terminology.go for sources and
// notices.
package demo

import (
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// zone is the fixed offset all generated times use.
var zone = time.FixedZone("-0500", -5*60*60)

// epoch is the end of the generated history: every date is before it.
var epoch = time.Date(2025, time.January, 15, 17, 0, 0, 0, zone)

// Options sizes and seeds a population.
type Options struct {
	// Patients is the number of patients. Zero or less means the default, 50.
	Patients int
	// Seed selects the population; zero is a valid seed. Patient n draws from
	// its own stream derived from Seed and n, so the first k patients of a
	// larger population are identical to a population of k.
	Seed int64
	// EncountersPerPatient is the number of visits each patient has. Zero or
	// less means the default, 4.
	EncountersPerPatient int
}

// DefaultOptions returns the options --demo uses: 50 patients with 4 visits
// each, seed 1.
func DefaultOptions() Options {
	return Options{Patients: 50, Seed: 1, EncountersPerPatient: 4}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Patients <= 0 {
		o.Patients = d.Patients
	}
	if o.EncountersPerPatient <= 0 {
		o.EncountersPerPatient = d.EncountersPerPatient
	}
	return o
}

// Generate returns the population as compact FHIR R4 JSON resources, each a
// complete resource with resourceType and id. Resources are ordered so that
// every reference target appears before the resources that refer to it:
// organizations (parents first), locations and practitioners, then for each
// patient the Patient and, visit by visit, its Encounter followed by the
// Conditions, AllergyIntolerances, Observations, MedicationRequests,
// Immunizations and DocumentReference recorded at it. References are
// relative ("Patient/pat-0001") and ids are readable: org-01, loc-01,
// prac-01, pat-0001, enc-0001-01, cond-0001-01, allergy-0001-01,
// obs-0001-001, medrx-0001-01, imm-0001-01, doc-0001-01 (the patient number
// widens beyond 9999 patients). The same options always give byte-identical
// output.
func Generate(opts Options) []json.RawMessage {
	opts = opts.withDefaults()
	fac := newFacilities(stream(opts.Seed, 0))
	out := facilityResources(fac)

	width := max(4, len(strconv.Itoa(opts.Patients)))
	per := make([][]json.RawMessage, opts.Patients)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), opts.Patients) {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > opts.Patients {
					return
				}
				r := stream(opts.Seed, uint64(i))
				p := newPatient(r, fac, i, width, opts.EncountersPerPatient)
				per[i-1] = patientResources(r, p)
			}
		})
	}
	wg.Wait()

	total := len(out)
	for _, rs := range per {
		total += len(rs)
	}
	out = append(make([]json.RawMessage, 0, total), out...)
	for _, rs := range per {
		out = append(out, rs...)
	}
	return out
}

// stream returns the random source for one part of the population: 0 for
// the facilities, n for patient n. SplitMix64 spreads the stream number so
// neighbouring patients get unrelated PCG states.
func stream(seed int64, n uint64) *rand.Rand {
	z := n + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return rand.New(rand.NewPCG(uint64(seed), z))
}
