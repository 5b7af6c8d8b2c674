package demo

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Time formats: FHIR date, and dateTime/instant with seconds and offset.
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02T15:04:05-07:00"
)

func date(t time.Time) string     { return t.Format(dateLayout) }
func dateTime(t time.Time) string { return t.Format(dateTimeLayout) }

// decimal formats v with a fixed number of places, so trailing zeros such as
// the last digit of 72.50 kg survive into the JSON.
func decimal(v float64, places int) json.Number {
	return json.Number(strconv.FormatFloat(v, 'f', places, 64))
}

func quantity(value json.Number, unit, ucum string) object {
	return object{{"value", value}, {"unit", unit}, {"system", sysUCUM}, {"code", ucum}}
}

func days(n int) object {
	return quantity(json.Number(strconv.Itoa(n)), "days", "d")
}

func reference(typ, id, display string) object {
	return object{{"reference", typ + "/" + id}, {"display", display}}
}

func period(start, end time.Time) object {
	return object{{"start", dateTime(start)}, {"end", dateTime(end)}}
}

// emitter encodes resources in output order.
type emitter struct {
	out []json.RawMessage
	buf []byte
}

func (em *emitter) emit(o object) {
	em.buf = appendJSON(em.buf[:0], o)
	em.out = append(em.out, json.RawMessage(append([]byte(nil), em.buf...)))
}

// facilityResources returns the organizations (parents first), locations and
// practitioners.
func facilityResources(f *facilities) []json.RawMessage {
	var em emitter
	for _, o := range f.orgs {
		em.emit(organizationJSON(o))
	}
	for _, l := range f.locations {
		em.emit(locationJSON(l))
	}
	for _, p := range f.practitioners {
		em.emit(practitionerJSON(p))
	}
	return em.out
}

func orgRef(o *organization) object {
	if o == nil {
		return nil
	}
	return reference("Organization", o.id, o.name)
}

func pracRef(p *practitioner) object { return reference("Practitioner", p.id, p.display()) }

func organizationJSON(o *organization) object {
	return object{
		{"resourceType", "Organization"},
		{"id", o.id},
		{"identifier", []object{{{"system", sysNPI}, {"value", o.npi}}}},
		{"active", true},
		{"type", []object{concept("Healthcare Provider", coding{sysOrgType, "prov", "Healthcare Provider"})}},
		{"name", o.name},
		{"alias", []string{o.alias}},
		{"telecom", []object{{{"system", "phone"}, {"value", o.phone}, {"use", "work"}}}},
		{"address", []object{o.address.json()}},
		{"partOf", orgRef(o.parent)},
	}
}

func locationJSON(l *location) object {
	return object{
		{"resourceType", "Location"},
		{"id", l.id},
		{"status", "active"},
		{"name", l.name},
		{"mode", "instance"},
		{"type", []object{concept(l.typ.display, l.typ)}},
		{"telecom", []object{{{"system", "phone"}, {"value", l.org.phone}, {"use", "work"}}}},
		{"address", l.address.json()},
		{"physicalType", concept(l.physical.display, l.physical)},
		{"managingOrganization", orgRef(l.org)},
	}
}

func practitionerJSON(p *practitioner) object {
	degree := coding{sysV2Degree, "MD", "Doctor of Medicine"}
	if p.degree == "DO" {
		degree = coding{sysV2Degree, "DO", "Doctor of Osteopathy"}
	}
	email := strings.ToLower(p.given[:1]+p.family) + "@riverside-health.example.org"
	return object{
		{"resourceType", "Practitioner"},
		{"id", p.id},
		{"identifier", []object{{{"system", sysNPI}, {"value", p.npi}}}},
		{"active", true},
		{"name", []object{{
			{"use", "official"},
			{"text", p.display() + ", " + p.degree},
			{"family", p.family},
			{"given", []string{p.given}},
			{"prefix", []string{"Dr."}},
			{"suffix", []string{p.degree}},
		}}},
		{"telecom", []object{
			{{"system", "phone"}, {"value", p.phone}, {"use", "work"}},
			{{"system", "email"}, {"value", email}, {"use", "work"}},
		}},
		{"address", []object{p.org.address.json()}},
		{"gender", p.gender},
		{"qualification", []object{{
			{"code", concept(degree.display, degree)},
			{"issuer", orgRef(p.org)},
		}}},
	}
}

// patientResources returns the patient followed, visit by visit, by every
// resource recorded at each visit. Targets of references always come first.
func patientResources(r *rand.Rand, p *patient) []json.RawMessage {
	em := emitter{out: make([]json.RawMessage, 0, 16*len(p.encounters)+1)}
	em.emit(patientJSON(p))
	obs := 0
	nextObs := func() string {
		obs++
		return fmt.Sprintf("obs-%s-%03d", p.num, obs)
	}
	for _, e := range p.encounters {
		em.emit(encounterJSON(p, e))
		for _, pr := range e.recorded {
			em.emit(conditionJSON(p, pr))
		}
		if e.n == 1 {
			for _, a := range p.allergies {
				em.emit(allergyJSON(p, e, a))
			}
		}
		for _, o := range observationsJSON(p, e, nextObs) {
			em.emit(o)
		}
		for _, rx := range e.started {
			em.emit(medicationRequestJSON(p, rx))
		}
		for _, im := range e.shots {
			em.emit(immunizationJSON(p, im))
		}
		em.emit(documentJSON(r, p, e))
	}
	return em.out
}

// displayName is the name used in reference displays and notes.
func (p *patient) displayName() string {
	first := p.given.name
	if p.useNick {
		first = p.given.nick
	}
	return first + " " + p.family
}

func (p *patient) ref() object { return reference("Patient", p.id, p.displayName()) }

func encRef(e *encounter) object { return object{{"reference", "Encounter/" + e.id}} }

func patientJSON(p *patient) object {
	// Complex extensions list their parts before the url, the element order
	// of the Extension definition, which is also how model re-encodes them.
	var ext []object
	if p.race.code != "" {
		ext = append(ext, object{{"extension", []object{
			{{"url", "ombCategory"}, {"valueCoding", p.race.json()}},
			{{"url", "text"}, {"valueString", p.race.display}},
		}}, {"url", urlRace}})
	}
	if p.ethnicity.code != "" {
		ext = append(ext, object{{"extension", []object{
			{{"url", "ombCategory"}, {"valueCoding", p.ethnicity.json()}},
			{{"url", "text"}, {"valueString", p.ethnicity.display}},
		}}, {"url", urlEthnicity}})
	}
	sex := "F"
	if p.gender == "male" {
		sex = "M"
	}
	ext = append(ext, object{{"url", urlBirthSex}, {"valueCode", sex}})

	var birthTime object
	if p.birthTime {
		t := p.birth.Add(time.Duration(p.birth.YearDay()*97%1440) * time.Minute)
		birthTime = object{{"extension", []object{{{"url", urlBirthTime}, {"valueDateTime", dateTime(t)}}}}}
	}

	full := strings.TrimSpace(strings.Join([]string{p.prefix, p.given.name, p.middle, p.family}, " "))
	full = strings.Join(strings.Fields(full), " ")
	names := []object{{
		{"use", "official"},
		{"text", full},
		{"family", p.family},
		{"given", []string{p.given.name, p.middle}},
		{"prefix", []string{p.prefix}},
	}}
	if p.useNick {
		names = append(names, object{{"use", "nickname"}, {"given", []string{p.given.nick}}})
	}
	if p.maiden != "" {
		names = append(names, object{
			{"use", "maiden"},
			{"family", p.maiden},
			{"given", []string{p.given.name}},
			{"period", object{{"end", strconv.Itoa(p.birth.Year() + 25)}}},
		})
	}

	var telecom []object
	if p.homePhone != "" {
		telecom = append(telecom, object{{"system", "phone"}, {"value", p.homePhone}, {"use", "home"}})
	}
	if p.mobile != "" {
		telecom = append(telecom, object{{"system", "phone"}, {"value", p.mobile}, {"use", "mobile"}})
	}
	if p.email != "" {
		telecom = append(telecom, object{{"system", "email"}, {"value", p.email}, {"use", "home"}})
	}

	var contacts []object
	if c := p.contact; c != nil {
		contacts = append(contacts, object{
			{"relationship", []object{
				concept("Emergency Contact", coding{sysV2Relation, "C", "Emergency Contact"}),
				{{"text", c.relation}},
			}},
			{"name", object{{"family", c.family}, {"given", []string{c.given}}}},
			{"telecom", []object{{{"system", "phone"}, {"value", c.phone}, {"use", "mobile"}}}},
		})
	}

	lang := p.language
	if lang.code == "" {
		lang = coding{sysBCP47, "en-US", "English (United States)"}
	}

	return object{
		{"resourceType", "Patient"},
		{"id", p.id},
		{"extension", ext},
		{"identifier", []object{{
			{"use", "usual"},
			{"type", concept("Medical Record Number", coding{sysV2IDType, "MR", "Medical record number"})},
			{"system", sysMRN},
			{"value", p.mrn},
			{"assigner", orgRef(p.org)},
		}}},
		{"active", true},
		{"name", names},
		{"telecom", telecom},
		{"gender", p.gender},
		{"birthDate", date(p.birth)},
		{"_birthDate", birthTime},
		{"address", []object{p.home.json()}},
		{"maritalStatus", concept(p.marital.display, p.marital)},
		{"contact", contacts},
		{"communication", []object{{{"language", concept(lang.display, lang)}, {"preferred", true}}}},
		{"generalPractitioner", []object{pracRef(p.gp)}},
		{"managingOrganization", orgRef(p.org)},
	}
}

func encounterJSON(p *patient, e *encounter) object {
	priority := coding{sysActPriority, "R", "routine"}
	role := coding{sysParticipation, "PPRF", "primary performer"}
	var hosp object
	switch e.class {
	case "EMER":
		priority = coding{sysActPriority, "EM", "emergency"}
	case "IMP":
		priority = coding{sysActPriority, "EM", "emergency"}
		role = coding{sysParticipation, "ATND", "attender"}
		hosp = object{
			{"admitSource", concept("From accident/emergency department", coding{sysAdmitSource, "emd", "From accident/emergency department"})},
			{"dischargeDisposition", concept("Home", coding{sysDischarge, "home", "Home"})},
		}
	}
	var reasons []object
	switch {
	case e.acute != nil:
		reasons = append(reasons, concept(e.acute.cond.name, e.acute.cond.snomed))
	case e.kind == "followup":
		for _, pr := range p.activeAt(e, true) {
			if pr.enc != e {
				reasons = append(reasons, concept(pr.cond.name, pr.cond.snomed))
			}
		}
	}
	return object{
		{"resourceType", "Encounter"},
		{"id", e.id},
		{"status", "finished"},
		{"class", classCodes[e.class].json()},
		{"type", []object{concept(e.typ.display, e.typ)}},
		{"priority", concept(priority.display, priority)},
		{"subject", p.ref()},
		{"participant", []object{{
			{"type", []object{concept(role.display, role)}},
			{"period", period(e.start, e.end)},
			{"individual", pracRef(e.prac)},
		}}},
		{"period", period(e.start, e.end)},
		{"reasonCode", reasons},
		{"hospitalization", hosp},
		{"location", []object{{
			{"location", reference("Location", e.loc.id, e.loc.name)},
			{"status", "completed"},
			{"period", period(e.start, e.end)},
		}}},
		{"serviceProvider", orgRef(e.org)},
	}
}

func conditionJSON(p *patient, pr *problem) object {
	c := pr.cond
	status := coding{sysCondClinical, "active", "Active"}
	abatement := ""
	if !pr.abatement.IsZero() {
		status = coding{sysCondClinical, "resolved", "Resolved"}
		abatement = dateTime(pr.abatement)
	}
	category := coding{sysCondCategory, "encounter-diagnosis", "Encounter Diagnosis"}
	if c.chronic {
		category = coding{sysCondCategory, "problem-list-item", "Problem List Item"}
	}
	var severity object
	if pr.severity.code != "" {
		severity = concept(pr.severity.display, pr.severity)
	}
	onset := dateTime(pr.onset)
	if c.chronic && pr.enc.n == 1 && pr.enc.kind != "acute" {
		onset = date(pr.onset) // remembered by the patient, not timed
	}
	return object{
		{"resourceType", "Condition"},
		{"id", pr.id},
		{"clinicalStatus", concept(status.display, status)},
		{"verificationStatus", concept("Confirmed", coding{sysCondVer, "confirmed", "Confirmed"})},
		{"category", []object{concept(category.display, category)}},
		{"severity", severity},
		{"code", concept(c.name, c.snomed, c.icd10)},
		{"subject", p.ref()},
		{"encounter", encRef(pr.enc)},
		{"onsetDateTime", onset},
		{"abatementDateTime", abatement},
		{"recordedDate", dateTime(pr.enc.start.Add(20 * time.Minute))},
		{"recorder", pracRef(pr.enc.prac)},
		{"asserter", pracRef(pr.enc.prac)},
	}
}

func allergyJSON(p *patient, e *encounter, a *patientAllergy) object {
	return object{
		{"resourceType", "AllergyIntolerance"},
		{"id", a.id},
		{"clinicalStatus", concept("Active", coding{sysAllergyClin, "active", "Active"})},
		{"verificationStatus", concept("Confirmed", coding{sysAllergyVer, "confirmed", "Confirmed"})},
		{"type", a.a.kind},
		{"category", []string{a.a.category}},
		{"criticality", a.criticality},
		{"code", concept(a.a.text, a.a.code)},
		{"patient", p.ref()},
		{"encounter", encRef(e)},
		{"onsetDateTime", strconv.Itoa(a.onsetYear)},
		{"recordedDate", dateTime(e.start.Add(12 * time.Minute))},
		{"recorder", pracRef(e.prac)},
		{"asserter", p.ref()},
		{"reaction", []object{{
			{"manifestation", []object{concept(a.reaction.text, a.reaction.code)}},
			{"severity", a.reaction.severity},
		}}},
	}
}

// observationsJSON returns the vital signs, laboratory results and (at the
// first visit) smoking status recorded at e.
func observationsJSON(p *patient, e *encounter, nextID func() string) []object {
	v := e.vitals
	base := func(m *measure, at, issued time.Time) object {
		var iss string
		if !issued.IsZero() {
			iss = dateTime(issued)
		}
		return object{
			{"resourceType", "Observation"},
			{"id", nextID()},
			{"status", "final"},
			{"category", []object{concept(m.categoryDisplay(), coding{sysObsCategory, m.category, m.categoryDisplay()})}},
			{"code", concept(m.loinc.display, m.loinc)},
			{"subject", p.ref()},
			{"encounter", encRef(e)},
			{"effectiveDateTime", dateTime(at)},
			{"issued", iss},
			{"performer", []object{pracRef(e.prac)}},
		}
	}
	simple := func(m *measure, value float64) object {
		o := base(m, v.at, time.Time{})
		return append(o, member{"valueQuantity", quantity(decimal(value, m.decimals), m.unit, m.ucum)})
	}

	var out []object
	bp := base(vitalBP, v.at, time.Time{})
	bp = append(bp, member{"component", []object{
		{{"code", concept(vitalSBP.display, vitalSBP)}, {"valueQuantity", quantity(decimal(float64(v.sbp), 0), "mmHg", "mm[Hg]")}},
		{{"code", concept(vitalDBP.display, vitalDBP)}, {"valueQuantity", quantity(decimal(float64(v.dbp), 0), "mmHg", "mm[Hg]")}},
	}})
	out = append(out, bp, simple(vitalHR, float64(v.hr)), simple(vitalTemp, v.temp))
	if v.rr > 0 {
		out = append(out, simple(vitalRR, float64(v.rr)), simple(vitalSpO2, float64(v.spo2)))
	}
	if v.height > 0 {
		out = append(out, simple(vitalHeight, v.height))
	}
	out = append(out, simple(vitalWeight, v.weight), simple(vitalBMI, v.bmi))

	drawn := e.start.Add(30 * time.Minute)
	for _, lv := range e.labs {
		m := lv.m
		o := base(m, drawn, drawn.Add(3*time.Hour+17*time.Minute))
		interp := coding{sysInterp, "N", "Normal"}
		switch {
		case lv.high > 0 && lv.value > lv.high:
			interp = coding{sysInterp, "H", "High"}
		case lv.low > 0 && lv.value < lv.low:
			interp = coding{sysInterp, "L", "Low"}
		}
		var low, high object
		if lv.low > 0 {
			low = quantity(decimal(lv.low, m.decimals), m.unit, m.ucum)
		}
		if lv.high > 0 {
			high = quantity(decimal(lv.high, m.decimals), m.unit, m.ucum)
		}
		o = append(o,
			member{"valueQuantity", quantity(decimal(lv.value, m.decimals), m.unit, m.ucum)},
			member{"interpretation", []object{concept(interp.display, interp)}},
			member{"referenceRange", []object{{{"low", low}, {"high", high}}}},
		)
		out = append(out, o)
	}

	if e.n == 1 {
		status := smokingCodes[p.smoking]
		o := object{
			{"resourceType", "Observation"},
			{"id", nextID()},
			{"status", "final"},
			{"category", []object{concept("Social History", coding{sysObsCategory, "social-history", "Social History"})}},
			{"code", concept(smokingStatus.display, smokingStatus)},
			{"subject", p.ref()},
			{"encounter", encRef(e)},
			{"effectiveDateTime", dateTime(v.at)},
			{"performer", []object{pracRef(e.prac)}},
			{"valueCodeableConcept", concept(status.display, status)},
		}
		out = append(out, o)
	}
	return out
}

// sig returns the dosage instruction in plain words, e.g.
// "Take 500 mg by mouth twice daily with meals."
func sig(rx *prescription) string {
	d := rx.drug
	f := frequencies[d.freq]
	rt := routes[d.route]
	verb := map[string]string{"oral": "Take", "inhaled": "Inhale", "subcut": "Inject", "sublingual": "Spray"}[d.route]
	var b strings.Builder
	if d.route == "inhaled" {
		fmt.Fprintf(&b, "%s %s %s", verb, d.dose, d.unit)
	} else {
		fmt.Fprintf(&b, "%s %s %s %s", verb, d.dose, d.unit, rt.text)
	}
	b.WriteString(" " + f.text)
	if d.prn != "" {
		b.WriteString(" as needed for " + d.prn)
	}
	if d.extra != "" {
		b.WriteString(" " + d.extra)
	}
	if rx.days > 0 {
		fmt.Fprintf(&b, " for %d days", rx.days)
	}
	b.WriteString(".")
	return b.String()
}

func medicationRequestJSON(p *patient, rx *prescription) object {
	d := rx.drug
	f := frequencies[d.freq]
	rt := routes[d.route]
	category := coding{sysMedReqCat, "community", "Community"}
	if rx.enc.class == "IMP" {
		category = coding{sysMedReqCat, "discharge", "Discharge"}
	}

	repeat := object{}
	if rx.days > 0 {
		repeat = append(repeat, member{"boundsDuration", days(rx.days)})
	}
	repeat = append(repeat,
		member{"frequency", f.freq},
		member{"period", f.period},
		member{"periodUnit", f.unit},
		member{"when", []string{f.when}},
	)
	timing := object{{"repeat", repeat}}
	if f.gts != "" {
		timing = append(timing, member{"code", concept(f.text, coding{sysGTS, f.gts, f.gts})})
	}
	var asNeeded object
	if d.prn != "" {
		asNeeded = object{{"text", d.prn}}
	}
	dosage := object{
		{"sequence", 1},
		{"text", sig(rx)},
		{"timing", timing},
		{"asNeededCodeableConcept", asNeeded},
		{"route", concept(strings.TrimSuffix(rt.coding.display, " (qualifier value)"), rt.coding)},
		{"doseAndRate", []object{{
			{"type", concept("Ordered", coding{sysDoseRateType, "ordered", "Ordered"})},
			{"doseQuantity", quantity(json.Number(d.dose), d.unit, d.ucum)},
		}}},
	}

	// Dispense: a 90-day supply with three refills for long-term therapy,
	// the course for acute therapy.
	supply, repeats := 90, 3
	if rx.days > 0 {
		supply, repeats = rx.days, 0
	}
	var amount object
	switch d.form {
	case "inhaler", "spray":
		amount = object{{"value", json.Number("1")}, {"unit", d.form}}
	case "units":
	default:
		n := supply * f.perDay * d.perDose
		if d.prn != "" {
			n = min(n, 60)
		}
		amount = object{{"value", json.Number(strconv.Itoa(n))}, {"unit", d.form}}
	}
	var validity object
	if rx.end.IsZero() {
		validity = object{{"start", date(rx.at)}, {"end", date(rx.at.AddDate(1, 0, 0))}}
	} else {
		validity = object{{"start", date(rx.at)}, {"end", date(rx.end)}}
	}

	return object{
		{"resourceType", "MedicationRequest"},
		{"id", rx.id},
		{"status", rx.status},
		{"intent", "order"},
		{"category", []object{concept(category.display, category)}},
		{"medicationCodeableConcept", concept(d.text, coding{sysRxNorm, d.rxnorm, d.display})},
		{"subject", p.ref()},
		{"encounter", encRef(rx.enc)},
		{"authoredOn", dateTime(rx.at)},
		{"requester", pracRef(rx.enc.prac)},
		{"reasonCode", []object{concept(rx.problem.cond.name, rx.problem.cond.snomed)}},
		{"reasonReference", []object{reference("Condition", rx.problem.id, rx.problem.cond.name)}},
		{"dosageInstruction", []object{dosage}},
		{"dispenseRequest", object{
			{"validityPeriod", validity},
			{"numberOfRepeatsAllowed", repeats},
			{"quantity", amount},
			{"expectedSupplyDuration", days(supply)},
		}},
	}
}

func immunizationJSON(p *patient, im *immunization) object {
	e := im.enc
	return object{
		{"resourceType", "Immunization"},
		{"id", im.id},
		{"status", "completed"},
		{"vaccineCode", concept(im.v.name, im.v.cvx)},
		{"patient", p.ref()},
		{"encounter", encRef(e)},
		{"occurrenceDateTime", dateTime(im.at)},
		{"recorded", dateTime(im.at)},
		{"primarySource", true},
		{"location", reference("Location", e.loc.id, e.loc.name)},
		{"lotNumber", im.lot},
		{"expirationDate", date(im.expiry)},
		{"site", concept(im.site.display, im.site)},
		{"route", concept("Injection, intramuscular", coding{sysRouteOfAdmin, "IM", "Injection, intramuscular"})},
		{"doseQuantity", quantity(json.Number(im.v.dose), "mL", "mL")},
		{"performer", []object{{
			{"function", concept("Administering Provider", coding{sysV2PerfFunc, "AP", "Administering Provider"})},
			{"actor", pracRef(e.prac)},
		}}},
	}
}

func documentJSON(r *rand.Rand, p *patient, e *encounter) object {
	title, text := writeNote(r, p, e)
	typ := docProgressNote
	if e.class == "IMP" {
		typ = docDischargeSummary
	}
	signed := e.end.Add(time.Duration(between(r, 20, 150)) * time.Minute)
	data := []byte(text)
	sum := sha1.Sum(data)
	return object{
		{"resourceType", "DocumentReference"},
		{"id", fmt.Sprintf("doc-%s-%02d", p.num, e.n)},
		{"status", "current"},
		{"docStatus", "final"},
		{"type", concept(typ.display, typ)},
		{"category", []object{concept("Clinical Note", coding{sysDocCategory, "clinical-note", "Clinical Note"})}},
		{"subject", p.ref()},
		{"date", dateTime(signed)},
		{"author", []object{pracRef(e.prac)}},
		{"authenticator", pracRef(e.prac)},
		{"custodian", orgRef(e.org)},
		{"description", title},
		{"content", []object{{
			{"attachment", object{
				{"contentType", "text/plain"},
				{"language", "en-US"},
				{"data", base64.StdEncoding.EncodeToString(data)},
				{"size", len(data)},
				{"hash", base64.StdEncoding.EncodeToString(sum[:])},
				{"title", title},
				{"creation", dateTime(signed)},
			}},
			{"format", coding{sysFormatCode, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "mimeType Sufficient"}.json()},
		}}},
		{"context", object{
			{"encounter", []object{encRef(e)}},
			{"period", period(e.start, e.end)},
			{"sourcePatientInfo", p.ref()},
		}},
	}
}
