package demo

import (
	"fmt"
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
