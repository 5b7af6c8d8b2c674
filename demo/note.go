package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Notes are written in one of three house styles, chosen by the author, so
// that section headings, medication sigs and vital-sign lines vary the way
// they do between real clinicians: full upper-case headings with abbreviated
// sigs, title-case headings with sigs in words, and terse abbreviations.
const (
	styleUpper = iota
	styleTitle
	styleTerse
	styleCount
)

var headings = [styleCount]map[string]string{
	styleUpper: {
		"cc": "CHIEF COMPLAINT:", "hpi": "HISTORY OF PRESENT ILLNESS:", "pmh": "PAST MEDICAL HISTORY:",
		"psh": "PAST SURGICAL HISTORY:", "meds": "MEDICATIONS:", "allergies": "ALLERGIES:",
		"fh": "FAMILY HISTORY:", "sh": "SOCIAL HISTORY:", "ros": "REVIEW OF SYSTEMS:",
		"pe": "PHYSICAL EXAM:", "labs": "LABS:", "ap": "ASSESSMENT AND PLAN:",
	},
	styleTitle: {
		"cc": "Chief Complaint:", "hpi": "History of Present Illness:", "pmh": "Past Medical History:",
		"psh": "Past Surgical History:", "meds": "Current Medications:", "allergies": "Allergies:",
		"fh": "Family History:", "sh": "Social History:", "ros": "Review of Systems:",
		"pe": "Physical Exam:", "labs": "Labs:", "ap": "Assessment and Plan:",
	},
	styleTerse: {
		"cc": "CC:", "hpi": "HPI:", "pmh": "PMH:",
		"psh": "PSH:", "meds": "MEDICATIONS:", "allergies": "ALLERGIES:",
		"fh": "FAMILY HISTORY:", "sh": "SOCIAL HISTORY:", "ros": "ROS:",
		"pe": "PE:", "labs": "LABS:", "ap": "ASSESSMENT/PLAN:",
	},
}

// rosSystems lists the review-of-systems symptoms asked about.
var rosSystems = []struct {
	name     string
	always   bool
	symptoms []string
}{
	{"Constitutional", true, []string{"fever", "chills", "unintentional weight loss", "night sweats"}},
	{"Eyes", false, []string{"vision changes"}},
	{"ENT", false, []string{"sore throat", "ear pain", "nasal congestion"}},
	{"Cardiovascular", true, []string{"chest pain", "palpitations", "leg swelling"}},
	{"Respiratory", true, []string{"cough", "shortness of breath", "wheezing"}},
	{"Gastrointestinal", true, []string{"nausea", "vomiting", "diarrhea", "abdominal pain", "blood in the stool"}},
	{"Genitourinary", false, []string{"dysuria", "hematuria", "urinary frequency"}},
	{"Musculoskeletal", false, []string{"joint pain", "back pain"}},
	{"Skin", false, []string{"rash"}},
	{"Neurological", false, []string{"headaches", "dizziness", "focal weakness", "numbness"}},
	{"Psychiatric", false, []string{"depressed mood", "anxiety"}},
}

// chronicSymptoms are symptoms a chronic problem implies, kept out of the
// negated review of systems.
var chronicSymptoms = map[string][]string{
	"knee_oa": {"joint pain"}, "lbp": {"back pain"}, "copd": {"shortness of breath", "cough"},
	"rhinitis": {"nasal congestion"}, "afib": {"palpitations"}, "mdd": {"depressed mood"},
	"gad": {"anxiety"}, "migraine": {"headaches"}, "hf": {"leg swelling"}, "ida": {"fatigue"},
	"bph": {"urinary frequency"}, "gout": {"joint pain"},
}

// genericReturns are closing return precautions; each names the symptom it
// is about so that it is not used while the patient has that symptom.
var genericReturns = []struct{ symptom, text string }{
	{"shortness of breath", "Return sooner if shortness of breath develops."},
	{"fever", "{He} was advised to call the office if {he} develops fever or chills."},
	{"chest pain", "Should {he} experience chest pain, {he} will go to the emergency department."},
	{"dizziness", "Return if dizziness or fainting occurs."},
	{"", "If new symptoms develop before the next visit, {he} will contact the clinic."},
}

// note holds what is needed to write one note.
type note struct {
	r     *rand.Rand
	p     *patient
	e     *encounter
	b     strings.Builder
	style int
	rep   *strings.Replacer

	existing   []*problem      // chronic problems known before this visit (all of them at the first visit)
	newChronic []*problem      // chronic problems first diagnosed at this visit
	meds       []*prescription // long-term medications at the start of the visit
	positives  map[string]bool // symptoms the patient has
	age        int
}

// writeNote returns the title and plain text of the note documenting e.
func writeNote(r *rand.Rand, p *patient, e *encounter) (title, text string) {
	n := &note{r: r, p: p, e: e, style: e.prac.style, positives: map[string]bool{}}
	n.age = e.start.Year() - p.birth.Year()
	if e.start.YearDay() < p.birth.YearDay() {
		n.age--
	}
	for _, pr := range p.activeAt(e, true) {
		if pr.enc == e && e.n > 1 {
			n.newChronic = append(n.newChronic, pr)
		} else {
			n.existing = append(n.existing, pr)
		}
		for _, s := range chronicSymptoms[pr.cond.key] {
			n.positives[s] = true
		}
	}
	n.meds = p.medsAt(e)
	if e.acute != nil {
		for _, s := range e.acute.cond.symptoms {
			n.positives[s] = true
		}
	}
	if e.vitals.temp >= 38 {
		n.positives["fever"] = true
	}

	he, his, him := "he", "his", "him"
	if p.gender == "female" {
		he, his, him = "she", "her", "her"
	}
	d := "2 days"
	if e.acute != nil {
		d = strconv.Itoa(e.acute.days) + " days"
		if e.acute.days == 1 {
			d = "1 day"
		}
	}
	glu := 130
	for _, lv := range e.labs {
		if lv.m.key == "glucose" {
			glu = int(lv.value)
		}
	}
	n.rep = strings.NewReplacer(
		"{he}", he, "{He}", capitalize(he), "{his}", his, "{His}", capitalize(his), "{him}", him,
		"{days}", d,
		"{sbp10}", strconv.Itoa(e.vitals.sbp/10*10),
		"{glu10}", strconv.Itoa(glu/10*10),
		"{phq}", strconv.Itoa(between(r, 3, 11)),
		"{gad7}", strconv.Itoa(between(r, 3, 10)),
	)
	if e.class == "IMP" {
		return n.discharge()
	}
	return n.progress()
}

// fill expands the placeholders of a template for problem pr. It returns ""
// when the template mentions the problem's medications and there are none.
func (n *note) fill(tmpl string, pr *problem) string {
	if strings.Contains(tmpl, "{meds}") {
		names := n.medNames(pr)
		if len(names) == 0 {
			return ""
		}
		tmpl = strings.ReplaceAll(tmpl, "{meds}", join(names, "and"))
	}
	return n.rep.Replace(tmpl)
}

// medsFor returns the long-term and newly started medications treating pr.
func (n *note) medsFor(pr *problem) []*prescription {
	var out []*prescription
	for _, rx := range append(slices.Clip(n.meds), n.e.started...) {
		if rx.problem == pr || pr.cond.chronic && rx.end.IsZero() && slices.Contains(pr.cond.drugs, rx.drug.key) {
			if !slices.Contains(out, rx) {
				out = append(out, rx)
			}
		}
	}
	return out
}

func (n *note) medNames(pr *problem) []string {
	var names []string
	for _, rx := range n.medsFor(pr) {
		if !slices.Contains(names, rx.drug.name) {
			names = append(names, rx.drug.name)
		}
	}
	return names
}

func (n *note) line(s string) {
	n.b.WriteString(s)
	n.b.WriteByte('\n')
}

func (n *note) heading(key string) {
	n.b.WriteByte('\n')
	n.line(headings[n.style][key])
}

func (n *note) title() string {
	e := n.e
	switch {
	case e.class == "EMER":
		return pick(n.r, []string{"EMERGENCY DEPARTMENT NOTE", "ED PROVIDER NOTE"})
	case e.kind == "checkup":
		return pick(n.r, []string{"ANNUAL WELLNESS VISIT", "PREVENTIVE CARE VISIT", "PROGRESS NOTE"})
	case e.kind == "acute":
		return pick(n.r, []string{"ACUTE CARE VISIT", "SAME-DAY VISIT NOTE", "PROGRESS NOTE"})
	}
	return pick(n.r, []string{"FOLLOW-UP VISIT", "PROGRESS NOTE", "OFFICE VISIT NOTE"})
}

func (n *note) serviceDate() string {
	t := n.e.start
	switch n.style {
	case styleTitle:
		return t.Format("January 2, 2006")
	case styleTerse:
		return t.Format("01/02/2006")
	}
	return date(t)
}

func (n *note) header(title string) {
	p, e := n.p, n.e
	n.line(title)
	n.line(fmt.Sprintf("Patient: %s    DOB: %s    MRN: %s", p.officialName(), p.birth.Format("01/02/2006"), p.mrn))
	n.line(fmt.Sprintf("Date of service: %s    Location: %s", n.serviceDate(), e.loc.name))
	n.line(fmt.Sprintf("Provider: %s, %s (%s)", e.prac.display(), e.prac.degree, e.prac.specialty))
}

// progress writes an office, urgent-care or emergency department note.
func (n *note) progress() (string, string) {
	title := n.title()
	n.header(title)
	n.chiefComplaint()
	n.hpi()
	n.pmh()
	n.heading("meds")
	n.medList(n.meds)
	n.allergies()
	n.familyHistory()
	n.socialHistory()
	n.ros()
	n.exam()
	n.labs()
	n.heading("ap")
	n.plan(false)
	n.b.WriteByte('\n')
	n.line(n.signature())
	return descriptions[n.e.kind+n.e.class], n.b.String()
}

var descriptions = map[string]string{
	"checkupAMB":  "Progress note - wellness visit",
	"followupAMB": "Progress note - follow-up visit",
	"acuteAMB":    "Progress note - acute visit",
	"acuteEMER":   "Emergency department note",
	"acuteIMP":    "Discharge summary",
}

// discharge writes a hospital discharge summary.
func (n *note) discharge() (string, string) {
	p, e := n.p, n.e
	n.style = styleUpper
	n.line("DISCHARGE SUMMARY")
	n.line(fmt.Sprintf("Patient: %s    DOB: %s    MRN: %s", p.officialName(), p.birth.Format("01/02/2006"), p.mrn))
	n.line(fmt.Sprintf("Admission date: %s    Discharge date: %s", date(e.start), date(e.end)))
	n.line(fmt.Sprintf("Attending: %s, %s (%s)", e.prac.display(), e.prac.degree, e.prac.specialty))
	n.line("Service: Medicine    Unit: " + e.loc.name)
	n.chiefComplaint()
	n.hpi()
	n.pmh()
	n.b.WriteByte('\n')
	n.line("MEDICATIONS PRIOR TO ADMISSION:")
	n.medList(n.meds)
	n.allergies()
	n.familyHistory()
	n.socialHistory()
	n.exam()
	n.labs()

	n.b.WriteByte('\n')
	n.line("HOSPITAL COURSE:")
	course := n.rep.Replace(e.acute.cond.course)
	if len(n.meds) > 0 {
		course += " Home medications were continued during the admission."
	}
	n.line(course)

	n.b.WriteByte('\n')
	n.line("DISCHARGE DIAGNOSES:")
	n.line("1. " + capitalize(e.acute.cond.name) + " (principal).")
	for i, pr := range n.existing {
		n.line(fmt.Sprintf("%d. %s.", i+2, capitalize(pr.cond.name)))
	}

	n.b.WriteByte('\n')
	n.line("DISCHARGE MEDICATIONS:")
	if len(e.started) > 0 {
		n.line("New:")
		for _, rx := range e.started {
			n.line("- " + n.medPhrase(rx, true))
		}
	}
	if len(n.meds) > 0 {
		n.line("Continue:")
		for _, rx := range n.meds {
			n.line("- " + n.medPhrase(rx, false))
		}
	}
	if len(e.started)+len(n.meds) == 0 {
		n.line("None.")
	}

	n.heading("ap")
	n.plan(true)

	n.b.WriteByte('\n')
	n.line("DISCHARGE INSTRUCTIONS:")
	var instr []string
	instr = append(instr, n.fill(pick(n.r, e.acute.cond.returnIf), e.acute))
	instr = append(instr, fmt.Sprintf("Follow up with %s, %s within 7 days of discharge.", p.gp.display(), p.gp.degree))
	instr = append(instr, "Complete the full course of antibiotics even if feeling better.")
	n.line(strings.Join(instr, " "))
	n.b.WriteByte('\n')
	n.line(n.signature())
	return descriptions["acuteIMP"], n.b.String()
}

func (n *note) signature() string {
	e := n.e
	if n.style == styleTitle {
		return fmt.Sprintf("Signed electronically by: %s, %s", e.prac.display(), e.prac.degree)
	}
	return fmt.Sprintf("Electronic Signature: %s, %s", e.prac.display(), e.prac.degree)
}
