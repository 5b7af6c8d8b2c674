package fhirpath

import (
	"strings"
	"testing"
)

func TestUCUM(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"1000 'mg' = 1 'g'", "boolean:true"},
		{"1 'kg' = 1000 'g'", "boolean:true"},
		{"1 'g' = 1000000 'ug'", "boolean:true"},
		{"1 'kg' > 2 '[lb_av]'", "boolean:true"},
		{"1 'kg' < 2.3 '[lb_av]'", "boolean:true"},
		{"1 'L' = 1000 'mL'", "boolean:true"},
		{"1 'dL' = 100 'mL'", "boolean:true"},
		{"5.5 'mmol/L' = 5500 'umol/L'", "boolean:true"},
		{"100 'mg/dL' = 1 'g/L'", "boolean:true"},
		{"1 'm' = 100 'cm'", "boolean:true"},
		{"10 'mm' = 1 'cm'", "boolean:true"},
		{"1 '[in_i]' = 2.54 'cm'", "boolean:true"},
		{"1 '[in_i]' < 3 'cm'", "boolean:true"},
		{"1 'h' = 60 'min'", "boolean:true"},
		{"1 'd' = 24 'h'", "boolean:true"},
		{"1 'wk' = 7 'd'", "boolean:true"},
		{"90 's' > 1 'min'", "boolean:true"},
		{"1 'a' = 12 'mo'", "boolean:true"},
		{"1 'g' = 1 'm'", ""},
		{"1 'g' < 1 'm'", ""},
		{"1 'Cel' = 33.8 '[degF]'", ""}, // affine units are not converted
		{"1 year = 1 'a'", ""},          // a calendar year is not UCUM's mean year
		{"1 year ~ 1 'a'", "boolean:true"},
		{"1 month = 1 'mo'", ""},
		{"1 week = 1 'wk'", "boolean:true"},
		{"7 days = 1 'wk'", "boolean:true"},
		{"1 day = 24 'h'", "boolean:true"},
		{"2 hours < 1 day", "boolean:true"},
		{"1000 'mg' ~ 1 'g'", "boolean:true"},
		{"1 'g' + 500 'mg'", "Quantity:{\"code\":\"g\",\"system\":\"http://unitsofmeasure.org\",\"unit\":\"g\",\"value\":1.5}"},
		{"1 'g' - 1 'm'", ""},
		{"(1 '[lb_av]').toQuantity('g').value", "decimal:453.59237"},
		{"(1500 'mg').toQuantity('g').value", "decimal:1.5"},
		{"(2 'h').toQuantity('min').value", "decimal:120"},
		{"(1 'g').toQuantity('m')", ""},
		{"(1 'g').convertsToQuantity('kg')", "boolean:true"},
		{"(1 'g').convertsToQuantity('cm')", "boolean:false"},
		{"'5 \\'mg\\''.toQuantity('g').value", "decimal:0.005"},
		{"(2 weeks).toQuantity('d').value", "decimal:14"},
		// Calendar years and months compare with each other: a year is exactly 12 months.
		{"1 year = 12 months", "boolean:true"},
		{"2 years = 24 months", "boolean:true"},
		{"1 year != 13 months", "boolean:true"},
		{"1 year > 11 months", "boolean:true"},
		{"6 months < 1 year", "boolean:true"},
		{"18 months = 1.5 years", "boolean:true"},
		{"1 year ~ 12 months", "boolean:true"},
		{"1 year + 6 months = 18 months", "boolean:true"},
		{"(1 year).toQuantity('months').value", "decimal:12"},
		{"1 year = 365 days", ""}, // a month has no fixed length in days
		{"1 month = 30 days", ""},
		// Quantities multiply and divide with their units.
		{"2 'cm' * 3 'cm'", "Quantity:{\"code\":\"cm2\",\"system\":\"http://unitsofmeasure.org\",\"unit\":\"cm2\",\"value\":6}"},
		{"2 'cm' * 3 'cm' = 6 'cm2'", "boolean:true"},
		{"2 'cm' * 3 'cm' = 0.0006 'm2'", "boolean:true"},
		{"2 'cm' * 3 'm' = 0.06 'm2'", "boolean:true"},
		{"(2 'cm' * 3 'cm' * 4 'cm').code", "code:cm3"},
		{"(6 'mg' / 2 'mL').code", "code:mg/mL"},
		{"6 'mg' / 2 'mL' = 3 'g/L'", "boolean:true"},
		{"(4 'g' / 2 'g').code", "code:1"},
		{"(4 'g' / 2 'g').value", "decimal:2"},
		{"(2 'kg' * 3 'm/s2').code", "code:kg.m/s2"},
		{"(3 'mg' * 2 '1').code", "code:mg"},
		{"(1 'm2' / 1 'm').code", "code:m"},
		{"2 'cm' / 0 'cm'", ""},
		{"1 year * 2 'cm'", ""}, // a calendar year is no UCUM unit
	} {
		got, err := MustCompile(tc.expr).Eval(map[string]any{"resourceType": "Patient"})
		if s := strings.Join(render(got), " "); err != nil || s != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.expr, s, err, tc.want)
		}
	}
}

// TestUCUMData compares quantities read from resources with literals in other units.
func TestUCUMData(t *testing.T) {
	obs := decode(t, []byte(`{"resourceType":"Observation","status":"final","code":{"text":"w"},
	 "valueQuantity":{"value":185,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"}}`))
	got, err := MustCompile("Observation.value > 80 'kg' and Observation.value < 90000 'g'").Eval(obs)
	if err != nil || strings.Join(render(got), " ") != "boolean:true" {
		t.Fatalf("185 [lb_av] between 80 kg and 90000 g: %v, %v", render(got), err)
	}
}
