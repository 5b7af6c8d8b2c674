package main

// nlpSDL is the clinical NLP surface of the graph (package nlp, the enrichment in package
// enrich): a query that analyses text and writes nothing, and a mutation that analyses a
// DocumentReference's note and writes what it finds. The policy's analyze action governs
// both. The result types are plain objects, so their fields pass the same per-field checks
// as any read.
const nlpSDL = `
"Categories of the entities the clinical NLP pipeline finds, as Amazon Comprehend Medical names them."
enum NLPCategory {
  "Diagnoses, signs and symptoms. Concepts are ICD-10-CM codes."
  MEDICAL_CONDITION
  "Drugs, generic or brand. Concepts are RxNorm RXCUIs."
  MEDICATION
  "Tests, treatments and procedures."
  TEST_TREATMENT_PROCEDURE
  "Body systems, organs and sites."
  ANATOMY
  "Names, dates, identifiers, phone numbers, addresses and ages over 89."
  PROTECTED_HEALTH_INFORMATION
}

"A context or kind of an entity or attribute: NEGATION, HYPOTHETICAL, PAST_HISTORY, PERTAINS_TO_FAMILY (experienced by someone other than the patient), LOW_CONFIDENCE, and DIAGNOSIS, SIGN or SYMPTOM on conditions."
type NLPTrait {
  "The trait's name, e.g. NEGATION."
  name: String!
  "Confidence in the trait, from 0 to 1."
  score: Float!
}

"A code the entity may stand for, ranked by score."
type NLPConcept {
  "The code: an ICD-10-CM code with its dot (E11.9) for conditions, an RxNorm RXCUI for medications."
  code: String!
  "The code's description in its code system."
  description: String!
  "Confidence that the entity means this code, from 0 to 1."
  score: Float!
  "The code system's URI: http://hl7.org/fhir/sid/icd-10-cm or http://www.nlm.nih.gov/research/umls/rxnorm."
  system: String
}

"Text linked to an entity: a medication's DOSAGE, STRENGTH, ROUTE_OR_MODE, FREQUENCY, DURATION, FORM or RATE, a test's TEST_VALUE or TEST_UNIT, a condition's SYSTEM_ORGAN_SITE."
type NLPAttribute {
  "The attribute's type, e.g. DOSAGE."
  type: String!
  "The attribute's text, exactly as in the analysed text."
  text: String!
  "Confidence in the attribute, from 0 to 1."
  score: Float!
  "How the attribute relates to its entity, e.g. DOSAGE, TEST_VALUE."
  relationshipType: String
  "Offset of the attribute's first character in the analysed text, in Unicode code points."
  beginOffset: Int!
  "Offset just after the attribute's last character, in Unicode code points."
  endOffset: Int!
  "The attribute's contexts."
  traits: [NLPTrait!]!
}

"A clinical entity found in text. Offsets count Unicode code points of the decoded text: the text's code points from beginOffset to endOffset are text."
type NLPEntity {
  "The entity's number within its result."
  id: Int!
  "The entity's text, exactly as in the analysed text."
  text: String!
  "The entity's category."
  category: NLPCategory!
  "The entity's type within its category: DX_NAME, GENERIC_NAME, BRAND_NAME, TEST_NAME, PROCEDURE_NAME, SYSTEM_ORGAN_SITE, NAME, DATE, ..."
  type: String!
  "Confidence in the entity, from 0 to 1."
  score: Float!
  "Offset of the entity's first character, in Unicode code points."
  beginOffset: Int!
  "Offset just after the entity's last character, in Unicode code points."
  endOffset: Int!
  "The entity's contexts and kinds (NEGATION, HYPOTHETICAL, PAST_HISTORY, PERTAINS_TO_FAMILY, DIAGNOSIS, SIGN, SYMPTOM)."
  traits: [NLPTrait!]!
  "Text linked to the entity: dose, route and frequency of a medication, value and unit of a test."
  attributes: [NLPAttribute!]!
  "The codes the entity may stand for, best first: up to 5 ICD-10-CM codes for a condition, RxNorm for a medication."
  concepts: [NLPConcept!]!
  "For an analysed DocumentReference, the index of the content element (content[i].attachment) the entity was found in; null for analyzeText."
  attachment: Int
}

"The entities the clinical NLP pipeline found in a text."
type NLPResult {
  "The pipeline's version."
  version: String!
  "The entities, in the order of their offsets."
  entities: [NLPEntity!]!
}

"How DocumentReferenceAnalyze runs."
input NLPOptions {
  "Analyse and report what would be written, but write nothing. Default false."
  dryRun: Boolean
  "Entities scoring below this (0 to 1) generate no Condition, MedicationStatement or Observation; they are still listed on the document. Default 0.5."
  minScore: Float
}

"What DocumentReferenceAnalyze found and wrote."
type NLPAnalysis {
  "The pipeline's version, also recorded in the Provenance and on every generated resource."
  version: String!
  "The entities found in the document's attachments; each names its attachment."
  entities: [NLPEntity!]!
  "The DocumentReference as written, with the enrichment's extensions (its content as before)."
  document: DocumentReference
  "Ids (Type/id) of what this analysis wrote, the DocumentReference first, then the generated Condition, MedicationStatement and Observation resources, and the Provenance last. With dryRun, what it would write."
  written: [String!]!
  "Ids (Type/id) of the resources of a previous analysis of the document that this one deleted: findings no longer made."
  deleted: [String!]!
  "Id (Provenance/id) of the Provenance of this analysis."
  provenance: String
}

extend type Query {
  "Runs the clinical NLP pipeline on text and returns the entities it finds; writes nothing. The text is at most the server's note size limit (--nlp-max-chars) and costs the query one unit per byte. Needs the analyze permission on DocumentReference."
  analyzeText(text: String!): NLPResult
}

extend type Mutation {
  "Analyses the note of a DocumentReference (every content.attachment: base64 data, or the Binary its url names) and, in one atomic commit, writes the enrichment: entity extensions on the document, generated Condition (ICD-10-CM), MedicationStatement (RxNorm) and Observation resources for its subject, and a Provenance. Re-running replaces the previous enrichment, whatever pipeline version wrote it; negated, hypothetical and family findings generate no resource. A note that cannot be analysed (no text, undecodable, over the size limit) is BAD_USER_INPUT and nothing is written. Needs the analyze permission on DocumentReference, read on the document, and create and update on what it writes."
  DocumentReferenceAnalyze(id: ID!, options: NLPOptions): NLPAnalysis
}
`
