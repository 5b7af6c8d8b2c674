// Package nlp is fhirgate's clinical NLP pipeline: pure Go, offline and deterministic, with
// its lexicons embedded in the binary and loaded once.
//
// # Stages
//
// [Decode] turns an attachment into text. [Analyze] then finds sections (clinical headings from
// medspaCy's section patterns, markdown or not), sentences, and tokens; matches the lexicons
// (longest match, case-insensitive, tolerant of plurals, hyphens, possessives, word-order
// variants and common abbreviations); applies NegEx/ConText context within each sentence and
// section context; links medication attributes to their drugs and values to their tests; and
// finds protected health information. Offsets are Unicode code points of the analysed text:
// for every entity, []rune(text)[BeginOffset:EndOffset] is its Text.
//
// # Output (Comprehend Medical's names)
//
// Categories and types: MEDICAL_CONDITION/DX_NAME; MEDICATION/GENERIC_NAME|BRAND_NAME with
// attributes DOSAGE, STRENGTH, ROUTE_OR_MODE, FREQUENCY, DURATION, FORM, RATE;
// TEST_TREATMENT_PROCEDURE/TEST_NAME|PROCEDURE_NAME with attributes TEST_VALUE and TEST_UNIT;
// ANATOMY/SYSTEM_ORGAN_SITE; PROTECTED_HEALTH_INFORMATION/NAME|DATE|ID|PHONE_OR_FAX|EMAIL|URL|
// ADDRESS|AGE (ages over 89 only).
//
// Traits: conditions carry DIAGNOSIS, SIGN or SYMPTOM. Conditions, medications, tests and
// procedures carry the context traits: NEGATION ("denies chest pain"), LOW_CONFIDENCE
// (NegEx/ConText "possible": "cannot rule out pneumonia"), HYPOTHETICAL ("return if fever"),
// PAST_HISTORY ("history of MI", or under a past-history heading) and PERTAINS_TO_FAMILY
// (ConText's experiencer other than the patient: "mother had breast cancer", or under a
// family-history heading), as Comprehend Medical names them.
//
// Concepts: up to five ranked ICD-10-CM FY2019 codes per condition, written with the dot as FHIR
// writes them (E11.9). RxNorm codes per medication come only from real data in the project: the
// RxNorm codings of the Synthea MedicationRequests (testdata/synthea-ndjson-10.tar.gz) and the
// demo package's drug table, 72 clinical and branded drugs (lexicon/rxnorm_codes.tsv, written by
// go run ./nlp/internal/rxcodes). A medication gets the codes of those drugs whose names hold its
// name, ranked by the strength and form written beside it; every other medication is recognised
// by name (59,320 RxNorm names) with no code. No code is invented.
//
// # Lexicons and licences (lexicon/, see lexicon/NOTICE.md)
//
//   - icd10cm2019_codes.tsv.gz: ICD-10-CM FY2019 (CDC/NCHS), a US government work in the public domain.
//   - rxnorm_druglist.txt.gz: RxNorm ingredient and brand names. "This product uses publicly
//     available data courtesy of the U.S. National Library of Medicine (NLM), National Institutes
//     of Health, Department of Health and Human Services; NLM is not responsible for the product
//     and does not endorse or recommend this or any other product."
//   - negex_triggers.txt, context_*_triggers.txt: NegEx and ConText (github.com/chapmanbe/negex), Apache-2.0.
//   - context_rules.json, section_patterns.json: medspaCy (github.com/medspacy/medspacy), MIT.
//   - rxnorm_codes.tsv: RxNorm codes and names from the project's Synthea data (CC0) and demo table.
//   - curated.go: signs and symptoms, tests and procedures, anatomy and abbreviations, written for fhirgate.
package nlp
