package fhirpath

import (
	"sort"
	"strings"
)

// jsCorpus is the comparison's corpus: the specification's rows of spec_test.go on every
// Patient of the sample (they are written on a Patient), then expressions on every resource,
// then expressions on the resources of one type, then literals (dates, quantities, strings)
// on the Patients.
func jsCorpus() []jsCase {
	var out []jsCase
	patients := []string{"Patient"}
	for _, groups := range [][]specGroup{specOperatorRows, specFunctionRows} {
		for _, g := range groups {
			for _, c := range g.cases {
				out = append(out, jsCase{expr: c.expr, types: patients, unordered: isTreeWalk(c.expr)})
			}
		}
	}
	for _, expr := range jsEveryResource {
		out = append(out, jsCase{expr: expr, unordered: isTreeWalk(expr)})
	}
	types := make([]string, 0, len(jsByType))
	for typ := range jsByType {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		for _, expr := range jsByType[typ] {
			out = append(out, jsCase{expr: expr, types: []string{typ}, unordered: isTreeWalk(expr)})
		}
	}
	for _, expr := range jsLiterals {
		out = append(out, jsCase{expr: expr, types: patients})
	}
	return out
}

// isTreeWalk reports whether expr's result comes from children() or descendants() in an
// order the specification leaves undefined (a count or an aggregate of them has no order).
func isTreeWalk(expr string) bool {
	return strings.Contains(expr, "children()") || strings.Contains(expr, "descendants()")
}

// jsEveryResource are evaluated on every resource of the sample.
var jsEveryResource = []string{
	// Paths, existence, the resource's own elements.
	"id", "meta.lastUpdated", "meta.versionId", "meta.profile", "meta.tag.code",
	"text.status", "text.exists()", "text.`div`.exists()", "language", "implicitRules",
	"identifier.system", "identifier.value", "identifier.where(system.exists()).value.first()",
	"identifier.count()", "identifier.type.coding.code", "identifier.use",
	"exists()", "empty()", "id.exists() and id.empty().not()", "id | id", "(id | id).count()",
	"id.hasValue()", "id.getValue()", "meta.hasValue()", "status", "status.hasValue()",
	"status.exists() implies status.length() > 0", "%resource.id = id", "%rootResource.id",
	"%context.id", "$this.id", "identifier.first().value", "identifier.last().value",
	"identifier.tail().value", "identifier.skip(1).value", "identifier.take(1).value",
	"identifier[0].system", "identifier.single().value",
	// Extensions.
	"extension.url", "extension.count()", "extension.value", "extension.value.ofType(string)",
	"extension.value.ofType(Coding).code", "extension.value.ofType(CodeableConcept).coding.code",
	"extension.extension.url", "extension('http://hl7.org/fhir/StructureDefinition/patient-birthPlace').value",
	"extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race').extension('text').value",
	"modifierExtension.url", "extension.where(url.startsWith('http://hl7.org')).count()",
	// Tree navigation and type tests.
	"children().count()", "descendants().count()", "children().ofType(Reference).reference",
	"descendants().ofType(Reference).count()", "descendants().ofType(Reference).reference",
	"descendants().ofType(Coding).code", "descendants().ofType(Coding).system.distinct()",
	"descendants().ofType(CodeableConcept).text", "descendants().ofType(Identifier).value",
	"descendants().ofType(Period).start", "descendants().ofType(Quantity).value",
	"descendants().ofType(Quantity).code.distinct()", "descendants().ofType(dateTime).count()",
	"descendants().ofType(date).count()", "descendants().ofType(instant).count()",
	"descendants().ofType(string).count()", "descendants().ofType(code).count()",
	"descendants().ofType(uri).count()", "descendants().ofType(boolean).count()",
	"descendants().ofType(decimal).count()", "descendants().ofType(integer).count()",
	"descendants().ofType(positiveInt).count()", "descendants().ofType(Extension).url",
	"descendants().ofType(Narrative).status", "descendants().ofType(HumanName).family",
	"descendants().ofType(Address).city", "descendants().ofType(ContactPoint).system",
	"descendants().ofType(Annotation).text.count()", "descendants().ofType(Attachment).contentType",
	"descendants().ofType(Meta).lastUpdated", "descendants().ofType(Resource).count()",
	"descendants().ofType(canonical).count()", "descendants().ofType(markdown).count()",
	"descendants().ofType(id).count()", "descendants().ofType(Dosage).text",
	"descendants().where($this is Coding).count()", "descendants().where($this is Reference).count()",
	"descendants().ofType(string).select(length()).aggregate($total + $this, 0)",
	"descendants().ofType(Coding).where(system = 'http://loinc.org').code",
	"descendants().ofType(Coding).where(system = 'http://snomed.info/sct').code.count()",
	"descendants().ofType(dateTime).where($this > @2010-01-01).count()",
	"descendants().ofType(Period).where(start.exists() and end.exists()).all(start <= end)",
	"children().where($this is Reference).count()", "children().ofType(CodeableConcept).count()",
	"children().ofType(code)", "children().ofType(dateTime)", "children().ofType(boolean)",
	"descendants().ofType(Reference).where(reference.startsWith('#')).resolve().id",
	"contained.count()", "contained.id", "contained.ofType(Patient).count()",
	"contained.all($this is Resource)", "contained.select($this is DomainResource)",
	"text.`div`.htmlChecks()", "text.status = 'generated'",
	"$this is Resource", "$this is DomainResource", "$this is Patient", "ofType(Resource).id", "($this as DomainResource).id",
	"(id as string).length()", "id is id", "id is string", "id.is(id)", "meta is Meta",
	"meta.lastUpdated is instant", "meta.lastUpdated is dateTime",
	"identifier.all(system.exists())", "identifier.exists(value.startsWith('1'))",
	"identifier.select(system & '|' & value)", "identifier.where(use = 'official').exists()",
	"identifier.distinct().count() = identifier.count()", "identifier.isDistinct()",
	// Strings on the id.
	"id.length()", "id.upper()", "id.lower()", "id.substring(0, 3)", "id.substring(2)",
	"id.startsWith('ex')", "id.endsWith('1')", "id.contains('example')", "id.indexOf('e')",
	"id.replace('-', '_')", "id.matches('^[a-z]+$')", "id.replaceMatches('[0-9]', '#')",
	"id.toChars().count()", "id & '/' & id", "id + '-x'", "id.toString()", "id.convertsToInteger()",
	"id.toInteger()", "id.convertsToDecimal()", "id.first().length() > 5",
	"iif(id.length() > 10, 'long', 'short')", "iif(meta.exists(), meta.lastUpdated, id)",
	"meta.lastUpdated.toString().substring(0, 4)", "meta.lastUpdated > @2015-01-01T00:00:00Z",
	"meta.lastUpdated < now()", "meta.lastUpdated + 1 year > meta.lastUpdated",
	"meta.lastUpdated.toDate()", "meta.lastUpdated.convertsToDateTime()",
}

// jsByType are evaluated on the resources of one type.
var jsByType = map[string][]string{
	"Patient": {
		"name.given", "name.family", "Patient.name.where(use = 'official').family",
		"name.select(given.first() & ' ' & family)", "name.given.count()", "name.text",
		"name.where(given.exists()).given.first()", "name.prefix", "name.suffix",
		"birthDate", "birthDate < @2000-01-01", "birthDate >= @1950", "birthDate + 1 year",
		"birthDate - 6 months", "birthDate + 10 days", "birthDate.toString().substring(0, 4).toInteger()",
		"birthDate = @1974-12-25", "birthDate ~ @1974-12-25", "birthDate.toDateTime()",
		"birthDate.extension.url", "birthDate.extension.value", "birthDate.hasValue()",
		"gender", "gender = 'male'", "gender in ('male' | 'female')", "iif(gender = 'male', 'M', 'F')",
		"telecom.where(system = 'phone').value", "telecom.where(system = 'email').exists()",
		"telecom.use.distinct()", "telecom.rank", "address.city", "address.line",
		"address.line.count()", "address.postalCode.matches('^[0-9]{5}')", "address.country",
		"address.extension('http://hl7.org/fhir/StructureDefinition/geolocation').extension.value",
		"deceased", "deceased.exists()", "deceased is boolean", "deceased is dateTime",
		"deceased.ofType(dateTime)", "multipleBirth", "multipleBirth is integer",
		"maritalStatus.coding.code", "maritalStatus.text", "communication.language.coding.code",
		"communication.preferred", "managingOrganization.reference", "generalPractitioner.reference",
		"contact.relationship.coding.code", "contact.name.family", "link.other.reference",
		"active", "active.not()", "photo.contentType",
		"extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race').extension.value.ofType(Coding).display",
		"extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value",
		"extension.where(url.endsWith('birthPlace')).value.city",
		"extension.value.ofType(decimal)", "extension.value.ofType(Address).country",
		"name.all(family.exists())", "name.exists(use = 'maiden')", "name.family.distinct().count()",
		"name.given.aggregate($total & $this, '')", "name.given.aggregate($total + 1, 0)",
		"name.given.upper()", "name.family.first().length()", "name.given.combine(name.family)",
		"name.given.union(name.family).count()", "name.given.intersect(name.given).count()",
		"name.given.exclude('Peter')", "name.given.subsetOf(name.given)", "name.given.supersetOf(name.family)",
		"name.given contains 'Jim'", "'Jim' in name.given", "name.repeat(given).count()",
		"children().ofType(HumanName).count()", "descendants().ofType(HumanName).given",
	},
	"Observation": {
		"value", "value.ofType(Quantity)", "value.ofType(Quantity).value", "value.ofType(Quantity).unit",
		"(value as Quantity).code", "value is Quantity", "value is CodeableConcept", "value is string",
		"value.ofType(CodeableConcept).coding.code", "value.ofType(string)", "value.ofType(integer)",
		"value.ofType(boolean)", "value.ofType(Range).low.value", "value.ofType(Period).start",
		"value.ofType(SampledData).period", "value.ofType(Ratio).numerator.value", "value.ofType(dateTime)",
		"value.ofType(Quantity).value > 10", "value.ofType(Quantity).value.round(1)",
		"value.ofType(Quantity).value.floor()", "value.ofType(Quantity).value.ceiling()",
		"value.ofType(Quantity).value.abs()", "value.ofType(Quantity).value.truncate()",
		"value.ofType(Quantity).value * 2", "value.ofType(Quantity).value / 4",
		"value.ofType(Quantity).value.toString()", "value.ofType(Quantity).value.sqrt() > 0",
		"value.ofType(Quantity).value.power(2) >= 0", "value.ofType(Quantity).value mod 2",
		"value.ofType(Quantity).value div 2", "-value.ofType(Quantity).value",
		"value.ofType(Quantity) = value.ofType(Quantity)", "value.ofType(Quantity) ~ value.ofType(Quantity)",
		"value.ofType(Quantity).where(code = 'kg') > 50 'kg'", "value.ofType(Quantity).where(code = 'kg') < 100000 'g'",
		"value.ofType(Quantity).where(code = 'mg/dL') > 100 'mg/dL'",
		"value.ofType(Quantity).where(code = 'cm') = 1 'm'", "value.ofType(Quantity).where(code = '[lb_av]') > 1 '[lb_av]'",
		"value.ofType(Quantity).toQuantity()", "value.ofType(Quantity).toQuantity().convertsToQuantity()",
		"effective", "effective.ofType(dateTime)", "effective.ofType(Period).start", "effective is dateTime",
		"effective.ofType(dateTime) > @2015", "effective.ofType(dateTime) < @2100-01-01T00:00:00Z",
		"effective.ofType(dateTime) + 1 month", "effective.ofType(dateTime) - 2 hours",
		"effective.ofType(dateTime) + 30 minutes", "(effective as dateTime) + 1 year",
		"effective.ofType(dateTime).toString().length()", "effective.ofType(dateTime).toDate()",
		"issued", "issued > effective.ofType(dateTime)", "issued.toString()",
		"component.code.coding.code", "component.value.ofType(Quantity).value",
		"component.value.ofType(Quantity).where(code = 'mm[Hg]').value", "component.count()",
		"component.where(code.coding.code = '8480-6').value", "component.value.ofType(CodeableConcept).text",
		"code.coding.where(system = %loinc).code", "code.coding.system", "code.text", "code.coding.display",
		"code.coding.code.first() + '-x'", "category.coding.code", "category.coding.code contains 'vital-signs'",
		"status in ('final' | 'amended')", "status = 'final'", "subject.reference", "subject.display",
		"referenceRange.low.value", "referenceRange.high", "referenceRange.text", "interpretation.coding.code",
		"performer.reference", "performer.where(reference.startsWith('#')).resolve().id", "hasMember.reference", "derivedFrom.reference",
		"bodySite.coding.code", "method.text", "note.text", "specimen.reference", "device.display",
		"dataAbsentReason.coding.code", "encounter.reference.replace('Encounter/', '')",
		"value.exists() xor dataAbsentReason.exists()", "value.exists() or component.exists()",
		"(value | component.value).count()", "component.all(value.exists() or dataAbsentReason.exists())",
	},
	"Condition": {
		"onset", "onset.ofType(dateTime)", "onset is dateTime", "onset.ofType(Age).value", "onset.ofType(string)",
		"onset.ofType(Period).start", "abatement", "abatement.ofType(dateTime) > onset.ofType(dateTime)",
		"abatement.exists() implies clinicalStatus.coding.code in ('inactive' | 'resolved' | 'remission')",
		"clinicalStatus.coding.code", "verificationStatus.coding.code", "code.coding.code", "code.text",
		"category.coding.code", "severity.coding.display", "recordedDate", "recordedDate < now()",
		"subject.reference.startsWith('Patient/') or subject.reference.startsWith('urn:')",
		"evidence.code.coding.code", "stage.summary.text", "bodySite.text",
		"onset.ofType(dateTime) + 1 day", "recordedDate.toString().substring(0, 7)",
	},
	"Encounter": {
		"status", "class.code", "class.system", "type.coding.display", "type.text", "period.start", "period.end",
		"period.start <= period.end", "period.end - 1 hour", "period.start + 15 minutes",
		"period.start.toString().length()", "period.start.toDate()", "(period.end >= period.start)",
		"participant.individual.reference", "participant.type.coding.code", "reasonCode.coding.code",
		"hospitalization.dischargeDisposition.coding.code", "location.location.display",
		"serviceProvider.reference", "iif(status = 'finished', 'done', 'open')", "length.value",
		"length.value > 1", "length", "length > 1 'h'", "length < 1 'd'", "diagnosis.condition.reference",
		"statusHistory.status", "statusHistory.period.start", "subject.display",
		"period.start.toString().substring(0, 10).toDate() <= period.end",
	},
	"MedicationRequest": {
		"medication", "medication.ofType(CodeableConcept).coding.code", "medication.ofType(Reference).reference",
		"medication is CodeableConcept", "authoredOn", "authoredOn.toDate()", "authoredOn + 1 week",
		"status", "intent", "dosageInstruction.text", "dosageInstruction.timing.repeat.frequency",
		"dosageInstruction.timing.repeat.period", "dosageInstruction.timing.repeat.periodUnit",
		"dosageInstruction.doseAndRate.dose.ofType(Quantity).value", "dosageInstruction.doseAndRate.dose",
		"dosageInstruction.route.coding.display", "dosageInstruction.asNeeded", "dosageInstruction.sequence",
		"dispenseRequest.quantity.value", "dispenseRequest.expectedSupplyDuration",
		"dispenseRequest.validityPeriod.end > dispenseRequest.validityPeriod.start",
		"dispenseRequest.numberOfRepeatsAllowed + 1", "substitution.allowed", "reasonCode.coding.code",
		"requester.reference", "contained.ofType(Medication).code.coding.code",
		"medication.ofType(Reference).where(reference.startsWith('#')).resolve().code.coding.code",
		"dosageInstruction.timing.repeat.boundsPeriod.start", "dosageInstruction.timing.code.text",
	},
	"Immunization": {
		"occurrence", "occurrence.ofType(dateTime)", "occurrence is dateTime", "vaccineCode.coding.code",
		"status", "primarySource", "lotNumber", "expirationDate", "expirationDate > occurrence.ofType(dateTime)",
		"doseQuantity", "doseQuantity.value", "doseQuantity = 5 'mL'", "doseQuantity > 1 'mL'",
		"site.coding.code", "route.coding.display", "performer.actor.reference", "protocolApplied.doseNumber",
		"reaction.date", "occurrence.ofType(dateTime).toString().substring(0, 4).toInteger() > 2000",
	},
	"Procedure": {
		"performed", "performed.ofType(dateTime)", "performed.ofType(Period).start", "performed.ofType(Period).end",
		"performed.ofType(Period).end >= performed.ofType(Period).start", "performed is Period",
		"code.coding.code", "code.text", "status", "reasonReference.reference", "bodySite.coding.display",
		"performer.actor.display", "outcome.text", "followUp.text", "focalDevice.manipulated.reference",
	},
	"AllergyIntolerance": {
		"clinicalStatus.coding.code", "verificationStatus.coding.code", "type", "category", "criticality",
		"code.coding.code", "onset", "onset.ofType(dateTime)", "recordedDate", "reaction.manifestation.coding.display",
		"reaction.severity", "reaction.substance.coding.code", "lastOccurrence", "note.text", "category contains 'food'",
	},
	"DocumentReference": {
		"status", "type.coding.code", "date", "date > @2000-01-01T00:00:00Z", "author.reference",
		"content.attachment.contentType", "content.attachment.data.length() > 0", "content.format.code",
		"context.period.start", "context.encounter.reference", "category.coding.code",
		"content.attachment.size", "content.attachment.url.startsWith('http')", "description",
	},
	"Claim": {
		"total.value", "total", "item.net.value.aggregate($this + $total, 0)", "item.count()", "item.sequence",
		"item.productOrService.coding.code", "item.net", "item.net.value > 100", "item.unitPrice.value * item.quantity.value",
		"created", "created < now()", "billablePeriod.start", "billablePeriod.end - billablePeriod.start.toString().length() days",
		"insurance.coverage.reference", "insurance.focal", "diagnosis.diagnosis.ofType(CodeableConcept).coding.code",
		"diagnosis.diagnosis.ofType(Reference).reference", "priority.coding.code", "provider.reference",
		"patient.reference", "type.coding.code", "use", "item.servicedDate", "item.serviced",
		"item.serviced.ofType(date) + 1 month", "supportingInfo.timing", "supportingInfo.value",
		"accident.date", "accident.location", "item.detail.net.value", "item.detail.subDetail.sequence",
	},
	"Bundle": {
		"entry.count()", "entry.fullUrl", "entry.resource.id", "entry.resource.ofType(Patient).id",
		"entry.resource.ofType(Observation).value", "entry.resource.resourceType", "type", "total",
		"link.relation", "link.url", "entry.request.method", "entry.response.status", "timestamp",
		"entry.search.mode", "entry.search.score", "entry.resource.meta.lastUpdated",
		"entry.resource.select(id.exists())", "entry.where(resource is Patient).count()",
		"entry.resource.all($this is Resource)", "entry.resource.descendants().ofType(Reference).reference.count()",
		"signature.type.code",
	},
	"Questionnaire": {
		"item.linkId", "item.repeat(item).linkId", "item.repeat(item).count()", "item.type",
		"item.repeat(item).where(type = 'choice').linkId", "item.repeat(item).answerOption.value",
		"item.enableWhen.question", "item.enableWhen.answer", "item.required", "item.text",
		"item.repeat(item).initial.value", "item.code.code", "url", "status", "subjectType",
		"item.repeat(item).select(linkId & ':' & type)", "item.repeat(item).extension.url",
		"contained.ofType(ValueSet).compose.include.system",
	},
	"QuestionnaireResponse": {
		"item.linkId", "item.repeat(item).count()", "item.answer.value", "item.repeat(item).answer.value.ofType(string)",
		"item.repeat(answer.item | item).linkId", "item.answer.value.ofType(Coding).code",
		"item.answer.value.ofType(date)", "item.answer.value.ofType(decimal)", "item.answer.value.ofType(boolean)",
		"questionnaire", "status", "authored", "subject.reference", "item.answer.item.linkId",
		"descendants().ofType(QuestionnaireResponse).count()",
	},
	"Organization": {
		"name", "name.upper()", "type.coding.code", "telecom.value", "address.city", "address.state",
		"partOf.reference", "contact.purpose.coding.code", "alias", "active",
		"name.length() > 3 and name.lower() != name", "address.line.first()",
	},
	"Practitioner": {
		"name.family", "name.prefix", "name.given.first()", "qualification.code.coding.code",
		"qualification.period.start", "telecom.where(system = 'email').value", "address.postalCode",
		"gender", "birthDate", "identifier.where(system = 'http://hl7.org/fhir/sid/us-npi').value",
		"extension.value.ofType(integer)", "communication.coding.code",
	},
	"Location": {
		"name", "position.latitude", "position.longitude", "position.latitude > 0", "position.longitude.abs()",
		"position.altitude", "address.city", "status", "mode", "physicalType.coding.code", "managingOrganization.reference",
		"hoursOfOperation.openingTime", "hoursOfOperation.daysOfWeek", "telecom.value", "partOf.reference",
		"position.latitude.round(2)", "position.latitude * 2", "position.latitude + position.longitude",
	},
	"MedicationDispense": {
		"quantity", "quantity.value", "quantity > 10 'TAB'", "daysSupply", "daysSupply.value + 1",
		"whenHandedOver", "whenPrepared", "whenHandedOver >= whenPrepared", "medication.ofType(CodeableConcept).coding.code",
		"medication.ofType(Reference).where(reference.startsWith('#')).resolve().code.text", "status", "dosageInstruction.doseAndRate.dose",
		"dosageInstruction.timing.repeat.frequency", "substitution.wasSubstituted", "performer.actor.reference",
		"authorizingPrescription.reference", "type.coding.code", "contained.id",
	},
	"Device": {
		"deviceName.name", "deviceName.type", "udiCarrier.deviceIdentifier", "udiCarrier.carrierHRF",
		"distinctIdentifier", "manufactureDate", "expirationDate", "expirationDate > manufactureDate",
		"lotNumber", "serialNumber", "type.coding.code", "status", "patient.reference",
		"udiCarrier.carrierHRF.length()", "udiCarrier.carrierHRF.substring(0, 4)",
	},
	"PractitionerRole": {
		"practitioner.reference", "organization.reference", "code.coding.code", "specialty.coding.display",
		"location.reference", "telecom.value", "availableTime.daysOfWeek", "availableTime.availableStartTime",
		"availableTime.availableStartTime < @T12:00:00", "period.start", "active",
	},
}

// jsLiterals are evaluated on the Patients of the sample: dates and their arithmetic,
// quantities with units, strings and math, independent of the resource.
var jsLiterals = []string{
	"@2020-01-31 + 1 month", "@2020-02-29 + 1 year", "@2020-01-01T10:00:00Z + 90 minutes",
	"@2020-01-01 - 1 day", "@2020-03-01 - 1 'd'", "@2019-02-03T01:00Z - 1 week", "@2020 < @2021-01",
	"@2020-01 = @2020-01-01", "@2020-01-01 = @2020-01-01", "@2012-04-15T15:00:00Z = @2012-04-15T10:00:00-05:00",
	"@2012-04-15T15:00:00+02:00 > @2012-04-15T14:00:00Z", "@T10:00 < @T11:00", "@T10:00:00 = @T10:00",
	"@2020-01-01T00:00:00.000Z = @2020-01-01T00:00:00Z", "@2020-01-01T00:00:00.5Z > @2020-01-01T00:00:00Z",
	"@2020-06-15 + 3 months", "@2020-06-15 - 18 months", "@2020-12-31T23:59:59Z + 1 second",
	"@2020-01-01T00:00:00Z - 1 millisecond", "@2020-01-01T12:00:00+05:30 + 12 hours", "@2020-05-31 + 1 month",
	"@2021-01-01 - @2020-01-01", "@2020 + 1 year", "@2020-02 + 1 month", "@T23:00 + 2 hours",
	"@2020-01-01.toString()", "'2020-01-01'.toDate() + 1 day", "'2020-01-01T10:00:00Z'.toDateTime() < now()",
	"'10:00'.toTime()", "@2020-01-01 ~ @2020-01-01T00:00:00Z", "@2020-01-01 <= @2020-01-02T00:00:00Z",
	"1 'kg' = 1000 'g'", "1 'kg' > 999 'g'", "1 'kg' ~ 1000 'g'", "5 'mg' + 1 'g'", "1 'g' - 500 'mg'",
	"2 'cm' < 1 'm'", "10 'mmol/L' = 0.01 'mol/L'", "1 'L' = 1000 'mL'", "1 year = 12 months", "1 'wk' = 7 days",
	"1 week = 7 days", "1 'h' = 60 'min'", "1 day = 24 hours", "1 year = 1 'a'", "1 year ~ 1 'a'",
	"2 'mg' * 3", "6 'mg' / 2", "2 'cm' * 3 'cm'", "(1 'kg').toQuantity('g')", "(1000 'mg').toQuantity('g')",
	"'5 mg'.toQuantity()", "'5 \\'mg\\''.toQuantity()", "'1 year'.toQuantity() = 1 year", "'abc'.convertsToQuantity()",
	"3 'mg' = 3 'mg'", "3 'mg' != 4 'mg'", "3 'mg' < 4 'mg'", "3 'mg' = 3 'kg'", "3 'mg' > 3 'cm'",
	"(3 'mg').value", "(3 'mg').unit", "1.5 'mm[Hg]' + 1 'mm[Hg]'", "37.5 'Cel' > 37 'Cel'", "100 '[degF]' = 100 '[degF]'",
	"'abc'.length()", "'abcdef'.substring(2, 3)", "'Hello World'.lower().upper()", "'a,b,c'.split(',')",
	"'a,b,c'.replace(',', ';')", "'abc'.matches('b')", "'abc'.matches('^b')", "'  trim  '.trim()",
	"'abc'.indexOf('c')", "'abc'.toChars()", "'abc' & {}", "'abc' + {}", "'x'.repeat($this).count()",
	"'ab\\u0041'", "'\\t'.length()", "('a' | 'b' | 'c').join('-')", "'ABC'.encode('base64')", "'QUJD'.decode('base64')",
	"'<a>'.escape('html')", "'&lt;'.unescape('html')", "'abc'.startsWith('')", "''.empty()", "'abc'.contains('')",
	"1 + 2.5", "10 / 4", "10 div 4", "10 mod 4", "-7 mod 3", "7.5 mod 2", "2.0 * 3", "1.0 / 3",
	"(0.1 + 0.2) = 0.3", "1.5.round()", "2.5.round()", "-1.5.round()", "3.14159.round(2)", "16.sqrt()", "2.power(10)",
	"2.power(0.5)", "(-1).power(0.5)", "100.log(10)", "1.exp()", "1.ln()", "(-5).abs()", "(-5.5).abs()",
	"5.5.floor()", "-5.5.floor()", "5.5.ceiling()", "5.5.truncate()", "-5.5.truncate()", "9223372036854775807 + 1",
	"1.toDecimal()", "'1.50'.toDecimal()", "1.50.toString()", "1.toString()", "'1e2'.toDecimal()", "true.toInteger()",
	"'true'.toBoolean()", "'yes'.toBoolean()", "'t'.toBoolean()", "1.toBoolean()", "2.toBoolean()", "'1.0'.toBoolean()",
	"(1 | 2 | 3).aggregate($this + $total, 0)", "(1 | 2 | 3).aggregate($total * $this, 1)",
	"(5 | 3 | 8).aggregate(iif($total.empty() or $this > $total, $this, $total))", "(1 | 2 | 3).select($this * 2)",
	"(1 | 2 | 3).where($this > 1).count()", "(1 | 2 | 3).exists($this > 2)", "(1 | 2 | 3).all($this > 0)",
	"(1 | 2 | 3).allTrue()", "(true | false).anyTrue()", "(true | false).allFalse()", "{}.allTrue()",
	"iif(true, 1, 2)", "iif(false, 1)", "iif({}, 1, 2)", "iif(1 | 2, 1, 2)", "iif(true, 'a', 1/0)",
	"1.is(Integer)", "1.0 is Decimal", "'a' is String", "@2020 is Date", "@2020-01-01T10:00 is DateTime",
	"@T10:00 is Time", "1 'mg' is Quantity", "true is Boolean", "1 is System.Integer", "1 as Decimal",
	"(1 | 'a' | true).ofType(String)", "(1 | 1.5 | 2).ofType(Integer)", "1.type().name", "'a'.type().namespace",
	"(1 | 2 | 2 | 3).distinct().count()", "(1 | 2).combine(2 | 3).count()", "(1 | 2) | (2 | 3)",
	"(1 | 2 | 3).intersect(2 | 3 | 4)", "(1 | 2 | 3).exclude(2)", "(1 | 2 | 3)[1]", "(1 | 2 | 3).skip(5)",
	"(1 | 2 | 3).take(0)", "(1 | 2 | 3).subsetOf(1 | 2 | 3 | 4)", "{} = {}", "1 = {}", "{} != 1", "1 ~ {}",
	"1 = 1.0", "1 ~ 1.0", "1.0 = 1.00", "1.1 ~ 1.15", "'a' = 'A'", "'a' ~ 'A'", "'a b' ~ 'a  b'",
	"(1 | 2) = (1 | 2)", "(1 | 2) = (2 | 1)", "(1 | 2) ~ (2 | 1)", "'abc' < 'abd'", "1 < 1.5", "@2020 > @2019-12",
	"true and {}", "false or {}", "{} implies true", "true xor true", "(true).not()", "1 in (1 | 2)", "(1 | 2) contains 3",
	"now().toString().length() > 10", "today() <= now()",
}
