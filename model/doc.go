// Package model holds the FHIR R4 vocabulary of fhirgate: Go types generated from the FHIR
// StructureDefinitions with exact FHIR JSON (de)serialisation, the search-parameter table, and small
// hand-written helpers. It imports no GraphQL, database or policy code, so every other package can use it.
//
// Decoding is strict: unknown elements, wrong JSON types and malformed primitives are errors.
// Decimals keep their digits ("1.50" stays "1.50"), primitive extensions live beside their values
// (BirthDate and BirthDateExt for "birthDate" and "_birthDate"), and contained resources decode to
// their concrete types.
package model
