package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// patient is one synthetic person with a three-year care history. It is built
// first, in full, and the FHIR resources and notes are then read off it, so
// the structured data and the narrative always agree.
type patient struct {
	num string // zero-padded patient number, e.g. 0001
	id  string

	gender    string
	given     givenName
	middle    string
	family    string
	maiden    string
	prefix    string
	useNick   bool
	birth     time.Time
	birthTime bool
	age       int // at the epoch
	mrn       string
	home      address
	homePhone string
	mobile    string
	email     string
	race      coding // zero when not recorded
	ethnicity coding // zero when not recorded
	marital   coding
	language  coding // zero for English
	org       *organization
	gp        *practitioner
	contact   *contact

	smoking    int // index into smokingCodes: never, former, current
	quitYear   int
	packYears  int
	alcohol    string
	occupation string
	livesWith  string
	familyHx   []string
	surgeries  []string

	heightCM float64
	weightKG float64
	sbp, dbp int
	hr       int

	allergies     []*patientAllergy
	baseline      []*problem // long-standing problems, recorded at the first visit
	problems      []*problem // recorded problems, in order
	prescriptions []*prescription
	encounters    []*encounter
	shots         []*immunization
}

// contact is an emergency contact.
type contact struct {
	relation string // as written, e.g. wife
	given    string
	family   string
	phone    string
}

// encounter is one visit.
type encounter struct {
	n     int
	id    string
	class string // AMB, EMER or IMP
	kind  string // checkup, followup or acute
	typ   coding
	start time.Time
	end   time.Time
	prac  *practitioner
	org   *organization
	loc   *location

	acute    *problem   // the problem that brought the patient in, nil for planned visits
	recorded []*problem // problems first recorded at this visit
	started  []*prescription
	vitals   vitals
	labs     []labValue
	shots    []*immunization
	snoring  bool // obese patient without sleep apnea who reports snoring
}

// vitals holds the measurements taken at a visit; zero means not measured.
type vitals struct {
	sbp, dbp, hr, rr, spo2 int
	temp, weight, height   float64
	bmi                    float64
	at                     time.Time
}

// labValue is one laboratory result.
type labValue struct {
	m         *measure
	value     float64
	low, high float64
}

// problem is one condition of the patient.
type problem struct {
	n         int
	id        string
	cond      *condition
	enc       *encounter // where it was recorded
	onset     time.Time
	abatement time.Time // zero while active
	days      int       // acute: days of symptoms before the visit
	severity  coding
}

// prescription is one medication order.
type prescription struct {
	n       int
	id      string
	drug    *drug
	problem *problem
	enc     *encounter
	at      time.Time
	days    int       // course length, 0 for long-term therapy
	end     time.Time // zero for long-term therapy
	status  string
}

// patientAllergy is one recorded allergy or intolerance.
type patientAllergy struct {
	n           int
	id          string
	a           *allergen
	reaction    reaction
	onsetYear   int
	criticality string
}

// immunization is one vaccine dose given in clinic.
type immunization struct {
	n      int
	id     string
	v      *vaccine
	enc    *encounter
	at     time.Time
	lot    string
	expiry time.Time
	site   coding
}

var (
	severityMild     = coding{sysSNOMED, "255604002", "Mild"}
	severityModerate = coding{sysSNOMED, "6736007", "Moderate"}
	severitySevere   = coding{sysSNOMED, "24484000", "Severe"}
)

// newPatient builds patient number n (1-based) from its own random stream.
func newPatient(r *rand.Rand, f *facilities, n, width, encounters int) *patient {
	p := &patient{num: fmt.Sprintf("%0*d", width, n)}
	p.id = "pat-" + p.num
	p.demographics(r, f, n)
	p.social(r)
	p.chooseChronic(r)
	p.body(r)
	p.chooseAllergies(r)
	p.history(r, f, encounters)
	return p
}

func (p *patient) demographics(r *rand.Rand, f *facilities, n int) {
	p.gender = "female"
	if r.IntN(2) == 0 {
		p.gender = "male"
	}
	switch x := r.IntN(100); {
	case x < 15:
		p.age = between(r, 21, 29)
	case x < 37:
		p.age = between(r, 30, 44)
	case x < 72:
		p.age = between(r, 45, 64)
	default:
		p.age = between(r, 65, 92)
	}
	p.birth = epoch.AddDate(-p.age, 0, -between(r, 1, 364))
	p.birth = time.Date(p.birth.Year(), p.birth.Month(), p.birth.Day(), 0, 0, 0, 0, zone)
	p.birthTime = chance(r, 0.25)

	hispanic := chance(r, 0.18)
	if chance(r, 0.9) {
		if hispanic {
			p.ethnicity = coding{sysOMB, "2135-2", "Hispanic or Latino"}
		} else {
			p.ethnicity = coding{sysOMB, "2186-5", "Not Hispanic or Latino"}
		}
	}
	races := []coding{
		{sysOMB, "2106-3", "White"},
		{sysOMB, "2054-5", "Black or African American"},
		{sysOMB, "2028-9", "Asian"},
		{sysOMB, "1002-5", "American Indian or Alaska Native"},
		{sysOMB, "2076-8", "Native Hawaiian or Other Pacific Islander"},
	}
	switch x := r.IntN(100); {
	case x < 64:
		p.race = races[0]
	case x < 80:
		p.race = races[1]
	case x < 91:
		p.race = races[2]
	case x < 93:
		p.race = races[3]
	case x < 94:
		p.race = races[4]
	}
	asian := p.race.code == "2028-9"

	pool := maleGiven
	if p.gender == "female" {
		pool = femaleGiven
	}
	p.given = pick(r, pool)
	switch x := r.IntN(100); {
	case x < 35:
		p.middle = pick(r, middleInitials)
	case x < 55 && p.gender == "male":
		p.middle = pick(r, middleMale)
	case x < 55:
		p.middle = pick(r, middleFemale)
	}
	switch {
	case hispanic && chance(r, 0.85):
		p.family = pick(r, familiesHispanic)
	case asian && chance(r, 0.85):
		p.family = pick(r, familiesAsian)
	default:
		p.family = pick(r, familiesGeneral)
	}
	p.useNick = p.given.nick != "" && chance(r, 0.7)
	if chance(r, 0.4) {
		if p.gender == "male" {
			p.prefix = "Mr."
		} else {
			p.prefix = "Ms."
		}
	}

	p.mrn = fmt.Sprintf("%07d", 4_000_000+n*37+r.IntN(37))
	p.home = randomAddress(r, "home")
	if chance(r, 0.6) {
		p.homePhone = phone(r, p.home.city.area)
	}
	if p.homePhone == "" || chance(r, 0.75) {
		p.mobile = phone(r, pick(r, []string{"617", "857", "781", "339"}))
	}
	if chance(r, 0.55) {
		p.email = strings.ToLower(asciiFold(p.given.name)+"."+asciiFold(p.family)) + fmt.Sprintf("%d@example.com", r.IntN(90)+10)
	}

	mar := func(code, display string) coding { return coding{sysMarital, code, display} }
	switch {
	case p.age < 25 && chance(r, 0.85):
		p.marital = mar("S", "Never Married")
	case p.age > 70 && chance(r, 0.3):
		p.marital = mar("W", "Widowed")
	default:
		switch x := r.IntN(100); {
		case x < 55:
			p.marital = mar("M", "Married")
		case x < 78:
			p.marital = mar("S", "Never Married")
		default:
			p.marital = mar("D", "Divorced")
		}
	}
	if p.gender == "female" && p.marital.code == "M" && chance(r, 0.35) {
		p.maiden = pick(r, familiesGeneral)
	}

	switch {
	case hispanic && chance(r, 0.35):
		p.language = coding{sysBCP47, "es", "Spanish"}
	case asian && chance(r, 0.15):
		p.language = coding{sysBCP47, "zh", "Chinese"}
	case asian && chance(r, 0.15):
		p.language = coding{sysBCP47, "vi", "Vietnamese"}
	case chance(r, 0.03):
		p.language = coding{sysBCP47, "pt", "Portuguese"}
	}

	primary := []*organization{}
	for _, o := range f.orgs {
		if o.primary {
			primary = append(primary, o)
		}
	}
	p.org = primary[0]
	if chance(r, 0.4) {
		p.org = primary[1]
	}
	p.gp = pick(r, f.staffOf(p.org))

	if chance(r, 0.65) {
		c := &contact{phone: phone(r, p.home.city.area)}
		if p.marital.code == "M" {
			c.relation = "husband"
			c.given = pick(r, maleGiven).name
			if p.gender == "male" {
				c.relation = "wife"
				c.given = pick(r, femaleGiven).name
			}
			c.family = p.family
		} else {
			c.relation = pick(r, []string{"sister", "brother", "daughter", "son", "friend", "mother"})
			if slices.Contains([]string{"sister", "daughter", "mother"}, c.relation) {
				c.given = pick(r, femaleGiven).name
			} else {
				c.given = pick(r, maleGiven).name
			}
			c.family = p.family
			if c.relation == "friend" || c.relation == "daughter" && chance(r, 0.5) {
				c.family = pick(r, familiesGeneral)
			}
		}
		p.contact = c
	}
}

var occupations = []string{
	"teacher", "nurse", "electrician", "accountant", "software engineer", "bus driver", "retail manager",
	"construction worker", "chef", "administrative assistant", "mail carrier", "police officer", "hairdresser",
	"pharmacist", "landscaper", "bank teller", "warehouse associate", "home health aide", "plumber", "paralegal",
}

var familyHistoryItems = []struct {
	text string
	sex  string // restricts the relative's sex implied by the text
}{
	{"Mother with breast cancer diagnosed at age %d.", ""},
	{"Father with type 2 diabetes mellitus and hypertension.", ""},
	{"Father died of a myocardial infarction at age %d.", ""},
	{"Mother with hypothyroidism.", ""},
	{"Brother with asthma.", ""},
	{"Sister with major depressive disorder.", ""},
	{"Maternal grandmother with Alzheimer disease.", ""},
	{"Paternal grandfather with colon cancer diagnosed at age %d.", ""},
	{"Mother with osteoporosis and a hip fracture.", ""},
	{"Father with prostate cancer.", ""},
	{"Sister with rheumatoid arthritis.", ""},
	{"Brother with coronary artery disease, status post stent at age %d.", ""},
	{"Mother had a stroke at age %d.", ""},
	{"Maternal aunt with ovarian cancer.", ""},
	{"Father with chronic kidney disease on dialysis.", ""},
}

var familyNegatives = []string{
	"No family history of colon cancer.",
	"No known family history of sudden cardiac death.",
	"Denies family history of diabetes.",
	"No family history of breast or ovarian cancer.",
}

var surgeryItems = []struct {
	text string
	sex  string
}{
	{"Appendectomy in %d.", ""},
	{"Laparoscopic cholecystectomy in %d.", ""},
	{"Tonsillectomy in childhood.", ""},
	{"Right knee arthroscopy in %d.", ""},
	{"Cesarean section in %d.", "female"},
	{"Left inguinal hernia repair in %d.", "male"},
	{"Right carpal tunnel release in %d.", ""},
	{"Open reduction and internal fixation of a left wrist fracture in %d.", ""},
}

func (p *patient) social(r *rand.Rand) {
	switch x := r.IntN(100); {
	case x < 55:
		p.smoking = 0
	case x < 85:
		p.smoking = 1
	default:
		p.smoking = 2
	}
	p.alcohol = pick(r, []string{
		"Denies alcohol use.",
		"Drinks one to two glasses of wine per week.",
		"Social alcohol use, about two drinks on weekends.",
		"Former heavy drinker, sober since %d.",
		"Occasional beer with dinner.",
	})
	job := pick(r, occupations)
	switch {
	case p.age >= 67:
		p.occupation = "Retired " + job + "."
	case p.age < 24 && chance(r, 0.5):
		p.occupation = "College student."
	default:
		p.occupation = "Works as " + article(job) + " " + job + "."
	}
	switch {
	case p.marital.code == "M":
		p.livesWith = "Lives with " + map[string]string{"male": "his wife", "female": "her husband"}[p.gender]
		if p.age < 60 && chance(r, 0.6) {
			p.livesWith += " and " + pick(r, []string{"two children", "three children", "a teenage son", "a young daughter"})
		}
		p.livesWith += "."
	case p.age > 75 && chance(r, 0.4):
		p.livesWith = "Lives with " + map[string]string{"male": "his daughter", "female": "her daughter"}[p.gender] + "'s family."
	default:
		p.livesWith = pick(r, []string{"Lives alone.", "Lives with a roommate.", "Lives with a partner."})
	}

	if chance(r, 0.06) {
		p.familyHx = []string{"Adopted; family history unknown."}
	} else {
		n := between(r, 1, 3)
		for _, i := range r.Perm(len(familyHistoryItems))[:n] {
			t := familyHistoryItems[i].text
			if strings.Contains(t, "%d") {
				t = fmt.Sprintf(t, between(r, 45, 78))
			}
			p.familyHx = append(p.familyHx, t)
		}
		if chance(r, 0.5) {
			p.familyHx = append(p.familyHx, pick(r, familyNegatives))
		}
	}

	for _, i := range r.Perm(len(surgeryItems))[:between(r, 0, 2)] {
		s := surgeryItems[i]
		if s.sex != "" && s.sex != p.gender {
			continue
		}
		p.surgeries = append(p.surgeries, s.text)
	}
}

// dated fills in the years of past events, which must precede the first
// visit, first.
func (p *patient) dated(r *rand.Rand, first time.Time) {
	year := first.Year()
	ageThen := year - p.birth.Year()
	switch p.smoking {
	case 1:
		p.quitYear = year - between(r, 1, max(1, min(30, ageThen-19)))
		p.packYears = between(r, 1, max(1, min(40, p.quitYear-p.birth.Year()-16)))
	case 2:
		p.packYears = between(r, 1, max(1, min(50, (ageThen-16)/2)))
	}
	if strings.Contains(p.alcohol, "%d") {
		p.alcohol = fmt.Sprintf(p.alcohol, year-between(r, 2, 12))
	}
	var kept []string
	for _, t := range p.surgeries {
		if strings.Contains(t, "%d") {
			lo, hi := p.birth.Year()+18, year-1
			if hi < lo {
				continue
			}
			t = fmt.Sprintf(t, between(r, lo, hi))
		}
		kept = append(kept, t)
	}
	p.surgeries = kept
}

// eligible reports whether c can occur in this patient.
func (p *patient) eligible(c *condition) bool {
	if c.sex != "" && c.sex != p.gender {
		return false
	}
	if p.age < c.minAge || c.maxAge > 0 && p.age > c.maxAge {
		return false
	}
	switch c.key {
	case "t2dm":
		return !p.has("prediabetes")
	case "prediabetes":
		return !p.has("t2dm")
	case "copd":
		return p.smoking > 0
	}
	return true
}

// has reports whether the patient has, or arrives with, a problem with the
// condition key.
func (p *patient) has(key string) bool {
	for _, list := range [][]*problem{p.baseline, p.problems} {
		for _, pr := range list {
			if pr.cond.key == key {
				return true
			}
		}
	}
	return false
}

// pickCondition draws one eligible condition of the wanted kind, weighted by
// prevalence, skipping those the patient already has; nil when none is left.
func (p *patient) pickCondition(r *rand.Rand, chronic bool, setting string) *condition {
	var cands []*condition
	total := 0
	for _, c := range conditions {
		if c.chronic != chronic || !p.eligible(c) || chronic && p.has(c.key) {
			continue
		}
		if setting != "" && !slices.Contains(c.setting, setting) {
			continue
		}
		cands = append(cands, c)
		total += c.weight
	}
	if total == 0 {
		return nil
	}
	x := r.IntN(total)
	for _, c := range cands {
		if x < c.weight {
			return c
		}
		x -= c.weight
	}
	return cands[len(cands)-1]
}

// chooseChronic picks the long-standing problems the patient arrives with.
// They are attached to the first encounter later, in history.
func (p *patient) chooseChronic(r *rand.Rand) {
	var weights []int
	switch {
	case p.age < 40:
		weights = []int{40, 35, 20, 5}
	case p.age < 65:
		weights = []int{15, 30, 30, 20, 5}
	default:
		weights = []int{5, 20, 30, 30, 15}
	}
	n := weighted(r, weights)
	for range n {
		c := p.pickCondition(r, true, "")
		if c == nil {
			break
		}
		p.baseline = append(p.baseline, &problem{cond: c})
	}
}

func (p *patient) body(r *rand.Rand) {
	if p.gender == "male" {
		p.heightCM = uniform(r, 163, 192)
	} else {
		p.heightCM = uniform(r, 151, 176)
	}
	p.heightCM = math.Round(p.heightCM*10) / 10
	bmi := uniform(r, 19.5, 29.5)
	switch {
	case p.has("obesity"):
		bmi = uniform(r, 30.5, 41)
	case p.has("t2dm") || p.has("prediabetes") || p.has("osa"):
		bmi = uniform(r, 25.5, 29.8)
	}
	h := p.heightCM / 100
	p.weightKG = bmi * h * h

	if p.has("htn") {
		p.sbp, p.dbp = between(r, 126, 152), between(r, 76, 94)
	} else {
		p.sbp, p.dbp = between(r, 104, 130), between(r, 62, 82)
	}
	p.hr = between(r, 58, 88)
	if p.has("afib") {
		p.hr = between(r, 72, 98)
	}
}

func (p *patient) chooseAllergies(r *rand.Rand) {
	n := weighted(r, []int{60, 30, 10})
	for i, k := range r.Perm(len(allergens))[:n] {
		a := allergens[k]
		pa := &patientAllergy{
			n:         i + 1,
			id:        fmt.Sprintf("allergy-%s-%02d", p.num, i+1),
			a:         a,
			reaction:  reactions[pick(r, a.reactions)],
			onsetYear: between(r, p.birth.Year()+2, epoch.Year()-3),
		}
		pa.criticality = "low"
		if pa.reaction.severity == "severe" {
			pa.criticality = "high"
		}
		p.allergies = append(p.allergies, pa)
	}
}

// allergicToPenicillin reports whether penicillin-class antibiotics must be avoided.
func (p *patient) allergicToPenicillin() bool {
	for _, a := range p.allergies {
		if a.a.penicil {
			return true
		}
	}
	return false
}

// canTake reports whether d may be prescribed given allergies, kidney and
// heart disease, anticoagulation, and the medications already active.
func (p *patient) canTake(d *drug) bool {
	for _, a := range p.allergies {
		if a.a.blocks == d.name || a.a.penicil && d.penicil {
			return false
		}
	}
	if d.class == "nsaid" && (p.has("ckd3") || p.has("hf") || p.has("afib") || p.has("cad")) {
		return false
	}
	for _, rx := range p.prescriptions {
		if rx.end.IsZero() && rx.drug.class == d.class {
			return false
		}
	}
	return true
}

// history lays out the encounters and everything that happens at them.
func (p *patient) history(r *rand.Rand, f *facilities, n int) {
	gaps := make([]int, n)
	total := 0
	for i := 1; i < n; i++ {
		gaps[i] = between(r, 35, 210)
		total += gaps[i]
	}
	day := epoch.AddDate(0, 0, -total-between(r, 12, 90))

	for i := range n {
		day = day.AddDate(0, 0, gaps[i])
		e := &encounter{n: i + 1, id: fmt.Sprintf("enc-%s-%02d", p.num, i+1), class: "AMB", kind: "followup"}
		var acute *condition
		switch {
		case i == 0:
			e.kind = "checkup"
		case chance(r, 0.4):
			setting := "AMB"
			switch x := r.IntN(100); {
			case x < 15:
				setting = "EMER"
			case x < 22:
				setting = "IMP"
			}
			if acute = p.pickCondition(r, false, setting); acute == nil {
				acute = p.pickCondition(r, false, "AMB")
			}
			if acute != nil {
				e.kind = "acute"
				e.class = setting
				if !slices.Contains(acute.setting, setting) {
					e.class = acute.setting[0]
				}
			}
		case len(p.baseline) == 0 || chance(r, 0.2):
			e.kind = "checkup"
		}
		p.schedule(r, f, e, day)
		p.encounters = append(p.encounters, e)
		if i == 0 {
			p.dated(r, e.start)
		}

		if i == 0 {
			for _, pr := range p.baseline {
				p.record(r, e, pr, true)
			}
		} else if e.kind != "acute" && chance(r, 0.12) {
			if c := p.pickCondition(r, true, ""); c != nil {
				p.record(r, e, &problem{cond: c}, false)
			}
		}
		if acute != nil {
			pr := &problem{cond: acute, days: between(r, 1, 5)}
			p.record(r, e, pr, false)
			e.acute = pr
		}
		p.measure(r, e)
	}
	p.vaccinate(r)
}

// schedule sets the time, place and clinician of an encounter on the given day.
func (p *patient) schedule(r *rand.Rand, f *facilities, e *encounter, day time.Time) {
	base := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, zone)
	switch e.class {
	case "AMB":
		e.start = base.Add(8*time.Hour + time.Duration(between(r, 0, 16))*30*time.Minute)
		e.end = e.start.Add(time.Duration(between(r, 20, 45)) * time.Minute)
		e.org = p.org
		e.loc = f.clinicLoc[p.org]
		e.prac = p.gp
		if chance(r, 0.2) {
			e.prac = pick(r, f.staffOf(p.org))
		}
		e.typ = encFollowUp
		switch e.kind {
		case "checkup":
			e.typ = encCheckup
		case "acute":
			e.typ = encSymptom
		}
	case "EMER":
		e.start = base.Add(time.Duration(between(r, 0, 23*60+59)) * time.Minute)
		e.end = e.start.Add(time.Duration(between(r, 120, 380)) * time.Minute)
		e.org, e.loc, e.typ = f.hospital, f.ed, encER
		e.prac = f.staffOf(f.hospital)[r.IntN(2)]
	case "IMP":
		e.start = base.Add(time.Duration(between(r, 0, 23*60+59)) * time.Minute)
		discharge := base.AddDate(0, 0, between(r, 2, 4))
		e.end = discharge.Add(time.Duration(between(r, 10*60, 15*60)) * time.Minute)
		e.org, e.loc, e.typ = f.hospital, f.ward, encAdmit
		e.prac = f.staffOf(f.hospital)[2+r.IntN(2)]
	}
	e.start = e.start.Add(time.Duration(r.IntN(60)) * time.Second)
	e.end = e.end.Add(time.Duration(r.IntN(60)) * time.Second)
}

// record attaches a problem to the encounter where it is first recorded and
// writes the prescriptions that go with it. existing marks long-standing
// problems found at the first visit, whose medications are continued.
func (p *patient) record(r *rand.Rand, e *encounter, pr *problem, existing bool) {
	pr.n = len(p.problems) + 1
	pr.id = fmt.Sprintf("cond-%s-%02d", p.num, pr.n)
	pr.enc = e
	c := pr.cond
	switch {
	case existing:
		earliest := p.birth.AddDate(18, 0, 0)
		span := int(e.start.Sub(earliest).Hours()/24) - 90
		back := 90 + r.IntN(max(1, min(span, 15*365)))
		pr.onset = e.start.AddDate(0, 0, -back)
	case c.chronic:
		pr.onset = e.start.AddDate(0, 0, -between(r, 14, 120))
	default:
		pr.onset = e.start.AddDate(0, 0, -pr.days).Add(-time.Duration(between(r, 1, 12)) * time.Hour)
		if end := e.end.AddDate(0, 0, between(r, 6, 14)); end.Before(epoch) {
			pr.abatement = end
		}
	}
	switch {
	case c.key == "pneumonia":
		pr.severity = pick(r, []coding{severityModerate, severitySevere})
	case !c.chronic:
		pr.severity = pick(r, []coding{severityMild, severityModerate})
	case chance(r, 0.4):
		pr.severity = pick(r, []coding{severityMild, severityModerate})
	}
	p.problems = append(p.problems, pr)
	e.recorded = append(e.recorded, pr)
	if !existing {
		// A new diagnosis shows in the measurements that prompted it.
		switch c.key {
		case "htn":
			p.sbp, p.dbp = max(p.sbp, between(r, 138, 152)), max(p.dbp, between(r, 86, 94))
		case "obesity":
			h := p.heightCM / 100
			p.weightKG = max(p.weightKG, uniform(r, 30.6, 33)*h*h)
		}
	}

	var chosen []*drug
	if c.chronic {
		want := 1
		if chance(r, 0.35) {
			want = 2
		}
		for _, k := range r.Perm(len(c.core)) {
			if d := drugByKey[c.core[k]]; len(chosen) == 0 && p.canTake(d) {
				chosen = append(chosen, d)
			}
		}
		for _, k := range r.Perm(len(c.drugs)) {
			d := drugByKey[c.drugs[k]]
			if len(chosen) < want && p.canTake(d) && !slices.ContainsFunc(chosen, func(x *drug) bool { return x.class == d.class }) {
				chosen = append(chosen, d)
			}
		}
	} else {
		if len(c.drugs) > 0 {
			d := drugByKey[pick(r, c.drugs)]
			if d.penicil && p.allergicToPenicillin() && len(c.altDrugs) > 0 {
				d = drugByKey[pick(r, c.altDrugs)]
			}
			if !p.canTake(d) {
				d = drugByKey["acetaminophen325"]
			}
			if p.canTake(d) {
				chosen = append(chosen, d)
			}
		}
		for _, k := range c.adjuncts {
			if d := drugByKey[k]; p.canTake(d) && !slices.Contains(chosen, d) {
				chosen = append(chosen, d)
			}
		}
	}
	for _, d := range chosen {
		rx := &prescription{
			n:       len(p.prescriptions) + 1,
			drug:    d,
			problem: pr,
			enc:     e,
			status:  "active",
		}
		rx.id = fmt.Sprintf("medrx-%s-%02d", p.num, rx.n)
		rx.at = e.start.Add(time.Duration(between(r, 15, 35)) * time.Minute)
		if e.class == "IMP" {
			rx.at = e.end.Add(-time.Duration(between(r, 40, 90)) * time.Minute)
		}
		if !c.chronic {
			rx.days = d.days
			if rx.days == 0 {
				rx.days = 7
			}
			rx.end = rx.at.AddDate(0, 0, rx.days)
			if rx.end.Before(epoch) {
				rx.status = "completed"
			}
		}
		p.prescriptions = append(p.prescriptions, rx)
		e.started = append(e.started, rx)
	}
}

// activeAt returns the patient's problems recorded at or before e that are
// still active when it starts, chronic ones first in order of recording.
func (p *patient) activeAt(e *encounter, chronicOnly bool) []*problem {
	var out []*problem
	for _, pr := range p.problems {
		if pr.enc.n > e.n || !pr.abatement.IsZero() && pr.abatement.Before(e.start) {
			continue
		}
		if chronicOnly && !pr.cond.chronic {
			continue
		}
		out = append(out, pr)
	}
	return out
}

// medsAt returns the long-term prescriptions written before e (or at e when
// e is the first visit, where the existing regimen is recorded).
func (p *patient) medsAt(e *encounter) []*prescription {
	var out []*prescription
	for _, rx := range p.prescriptions {
		if !rx.end.IsZero() {
			continue
		}
		if rx.enc.n < e.n || rx.enc.n == 1 && e.n == 1 {
			out = append(out, rx)
		}
	}
	return out
}

// measure records vitals and laboratory results for an encounter.
func (p *patient) measure(r *rand.Rand, e *encounter) {
	v := vitals{at: e.start.Add(time.Duration(between(r, 4, 14)) * time.Minute)}
	fever := e.acute != nil && e.acute.cond.fever
	v.sbp = p.sbp + between(r, -8, 8)
	v.dbp = p.dbp + between(r, -6, 6)
	v.hr = p.hr + between(r, -6, 6)
	v.temp = uniform(r, 36.4, 37.2)
	if fever {
		v.temp = uniform(r, 38.1, 39.3)
		v.hr += between(r, 10, 22)
	}
	v.temp = math.Round(v.temp*10) / 10
	p.weightKG *= 1 + uniform(r, -0.015, 0.015)
	v.weight = math.Round(p.weightKG*20) / 20 // scales read to 50 g
	h := p.heightCM / 100
	v.bmi = math.Round(v.weight/(h*h)*10) / 10
	if e.kind == "checkup" || e.n == 1 {
		v.height = p.heightCM
	}
	respiratory := e.acute != nil && slices.ContainsFunc(e.acute.cond.symptoms, func(s string) bool {
		return s == "cough" || s == "shortness of breath"
	})
	if e.class != "AMB" || respiratory || p.has("copd") || p.has("hf") {
		v.rr = between(r, 12, 18)
		v.spo2 = between(r, 95, 99)
		if e.acute != nil && e.acute.cond.key == "pneumonia" {
			v.rr, v.spo2 = between(r, 22, 28), between(r, 88, 92)
		}
	}
	e.vitals = v

	want := map[string]bool{}
	planned := e.kind != "acute"
	for _, pr := range p.activeAt(e, true) {
		first := pr.enc == e
		for _, k := range pr.cond.labs {
			switch {
			case !planned:
			case first, pr.cond.key == "t2dm" && k != "creatinine", chance(r, 0.35):
				want[k] = true
			}
		}
	}
	if e.acute != nil {
		for _, k := range e.acute.cond.labs {
			want[k] = true
		}
	}
	for _, rx := range p.medsAt(e) {
		if rx.drug.key == "warfarin5" {
			want["inr"] = true
		}
	}
	if e.kind == "checkup" && len(p.activeAt(e, true)) == 0 {
		if chance(r, 0.5) {
			want["glucose"] = true
		}
		if chance(r, 0.3) {
			for _, k := range []string{"cholesterol", "ldl", "hdl", "triglycerides"} {
				want[k] = true
			}
		}
	}
	for _, k := range labOrder {
		if want[k] {
			e.labs = append(e.labs, p.labResult(r, labs[k], e))
		}
	}
	if e.kind != "acute" && p.has("obesity") && !p.has("osa") && chance(r, 0.3) {
		e.snoring = true
	}
}

// labResult draws a plausible value for test m given the patient's problems.
func (p *patient) labResult(r *rand.Rand, m *measure, e *encounter) labValue {
	lv := labValue{m: m, low: m.low, high: m.high}
	newDx := func(key string) bool {
		return e.n > 1 && slices.ContainsFunc(e.recorded, func(pr *problem) bool { return pr.cond.key == key })
	}
	var v float64
	switch m.key {
	case "hba1c":
		switch {
		case newDx("t2dm"):
			v = uniform(r, 6.6, 8.8)
		case p.has("t2dm"):
			v = uniform(r, 6.2, 9.4)
		case p.has("prediabetes"):
			v = uniform(r, 5.7, 6.4)
		default:
			v = uniform(r, 4.8, 5.6)
		}
	case "glucose":
		switch {
		case newDx("t2dm"):
			v = uniform(r, 130, 220)
		case p.has("t2dm"):
			v = uniform(r, 112, 215)
		case p.has("prediabetes"):
			v = uniform(r, 100, 125)
		default:
			v = uniform(r, 72, 99)
		}
	case "creatinine":
		if p.has("ckd3") {
			v = uniform(r, 1.4, 2.3)
		} else if p.gender == "female" {
			v = uniform(r, 0.58, 1.02)
		} else {
			v = uniform(r, 0.75, 1.25)
		}
	case "cholesterol":
		v = uniform(r, 150, 245)
		if newDx("hld") {
			v = uniform(r, 240, 285)
		}
	case "ldl":
		switch {
		case newDx("hld"):
			v = uniform(r, 162, 198)
		case p.has("cad"):
			v = uniform(r, 52, 108)
		default:
			v = uniform(r, 72, 165)
		}
	case "hdl":
		v = uniform(r, 34, 72)
	case "triglycerides":
		v = uniform(r, 70, 260)
	case "tsh":
		switch {
		case newDx("hypothyroid"):
			v = uniform(r, 5.5, 9.5)
		case p.has("hypothyroid") && chance(r, 0.3):
			v = uniform(r, 4.2, 7.5)
		default:
			v = uniform(r, 0.6, 3.8)
		}
	case "hemoglobin":
		lv.low, lv.high = 12.0, 15.5
		if p.gender == "male" {
			lv.low, lv.high = 13.5, 17.5
		}
		v = uniform(r, lv.low+0.2, lv.high-0.5)
		if p.has("ida") {
			v = uniform(r, lv.low-2.8, lv.low-0.4)
		}
	case "inr":
		v = uniform(r, 1.8, 3.4)
	case "wbc":
		v = uniform(r, 4.8, 9.8)
		if e.acute != nil && e.acute.cond.fever {
			v = uniform(r, 11.6, 17.8)
		}
	}
	scale := math.Pow(10, float64(m.decimals))
	lv.value = math.Round(v*scale) / scale
	return lv
}

// vaccinate gives age-appropriate vaccines at planned clinic visits.
func (p *patient) vaccinate(r *rand.Rand) {
	var visits []*encounter
	for _, e := range p.encounters {
		if e.class == "AMB" && e.kind != "acute" {
			visits = append(visits, e)
		}
	}
	if len(visits) == 0 {
		return
	}
	var eligible []*vaccine
	for _, v := range vaccines {
		if p.age >= v.minAge && (v.maxAge == 0 || p.age <= v.maxAge) {
			eligible = append(eligible, v)
		}
	}
	n := min(between(r, 1, 3), len(eligible))
	for _, k := range r.Perm(len(eligible))[:n] {
		v := eligible[k]
		e := pick(r, visits)
		im := &immunization{
			v:   v,
			enc: e,
			at:  e.start.Add(time.Duration(between(r, 25, 40)) * time.Minute),
			lot: fmt.Sprintf("%s%04d", v.lot, r.IntN(10000)),
		}
		im.expiry = im.at.AddDate(0, between(r, 4, 18), 0)
		im.site = coding{sysActSite, "LA", "left arm"}
		if chance(r, 0.4) {
			im.site = coding{sysActSite, "RA", "right arm"}
		}
		e.shots = append(e.shots, im)
	}
	// Number the doses in the order they appear in the output.
	for _, e := range p.encounters {
		for _, im := range e.shots {
			im.n = len(p.shots) + 1
			im.id = fmt.Sprintf("imm-%s-%02d", p.num, im.n)
			p.shots = append(p.shots, im)
		}
	}
}

// weighted returns an index drawn with the given relative weights.
func weighted(r *rand.Rand, w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	x := r.IntN(total)
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	return len(w) - 1
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// asciiFold strips the accents and apostrophes used in the name pools, for
// e-mail addresses.
func asciiFold(s string) string {
	return strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "'", "").Replace(s)
}
