package demo

import (
	"fmt"
	"math/rand/v2"
)

// Name pools. Surnames are grouped loosely so that a family name can follow
// the patient's recorded ethnicity; given names carry their usual nickname.
type givenName struct {
	name, nick string
}

var maleGiven = []givenName{
	{"James", "Jim"}, {"Robert", "Bob"}, {"William", "Bill"}, {"Michael", "Mike"}, {"Joseph", "Joe"},
	{"Thomas", "Tom"}, {"Christopher", "Chris"}, {"Daniel", "Dan"}, {"Anthony", "Tony"}, {"Richard", "Rick"},
	{"Edward", "Ed"}, {"Theodore", "Ted"}, {"Benjamin", "Ben"}, {"Nicholas", "Nick"}, {"Matthew", "Matt"},
	{"Andrew", "Andy"}, {"Gregory", "Greg"}, {"Timothy", "Tim"}, {"Raymond", "Ray"}, {"Lawrence", "Larry"},
	{"Samuel", "Sam"}, {"Alexander", "Alex"}, {"Francisco", "Paco"}, {"José", "Pepe"}, {"Luis", ""},
	{"Carlos", ""}, {"Miguel", ""}, {"Wei", ""}, {"Hiroshi", ""}, {"Rahul", ""}, {"Kwame", ""},
	{"Darnell", ""}, {"Marcus", ""}, {"Patrick", "Pat"}, {"Kevin", ""}, {"Brian", ""}, {"Dennis", ""},
	{"Arthur", "Art"}, {"Harold", "Hal"}, {"Walter", "Walt"},
}

var femaleGiven = []givenName{
	{"Mary", ""}, {"Patricia", "Pat"}, {"Elizabeth", "Liz"}, {"Margaret", "Peggy"}, {"Jennifer", "Jen"},
	{"Katherine", "Kate"}, {"Susan", "Sue"}, {"Rebecca", "Becky"}, {"Victoria", "Vicky"}, {"Dorothy", "Dot"},
	{"Deborah", "Debbie"}, {"Abigail", "Abby"}, {"Catherine", "Cathy"}, {"Barbara", "Barb"}, {"Kimberly", "Kim"},
	{"Jessica", "Jess"}, {"Stephanie", "Steph"}, {"Christine", "Chris"}, {"Jacqueline", "Jackie"}, {"Samantha", "Sam"},
	{"Guadalupe", "Lupe"}, {"María", ""}, {"Rosa", ""}, {"Ana", ""}, {"Lucía", ""}, {"Mei", ""},
	{"Yuki", ""}, {"Priya", ""}, {"Aaliyah", ""}, {"Keisha", ""}, {"Nora", ""}, {"Helen", ""},
	{"Linda", ""}, {"Karen", ""}, {"Laura", ""}, {"Sandra", ""}, {"Teresa", "Terry"}, {"Frances", "Fran"},
	{"Eleanor", "Ellie"}, {"Judith", "Judy"},
}

var (
	middleInitials = []string{"A.", "B.", "C.", "D.", "E.", "J.", "L.", "M.", "R.", "S.", "T."}
	middleMale     = []string{"James", "John", "Paul", "Lee", "Michael", "Allen"}
	middleFemale   = []string{"Ann", "Marie", "Grace", "Rose", "Jean", "Lee", "Louise"}
)

var familiesGeneral = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
	"Thomas", "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
	"Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Campbell",
	"O'Brien", "Sullivan", "Murphy", "Kelly", "McCarthy", "Russo", "Rossi", "Costa", "Kowalski", "Novak",
	"Cohen", "Schneider", "Fischer", "Johansson", "Dubois", "Okafor", "Mensah", "Washington", "Brooks", "Coleman",
}

var familiesHispanic = []string{
	"Garcia", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Perez", "Sanchez", "Ramirez", "Torres",
	"Flores", "Rivera", "Gomez", "Diaz", "Reyes", "Morales", "Ortiz", "Castillo", "Vargas", "Mendoza",
}

var familiesAsian = []string{
	"Nguyen", "Tran", "Chen", "Wang", "Li", "Zhang", "Liu", "Kim", "Park", "Lee",
	"Patel", "Shah", "Singh", "Gupta", "Tanaka", "Sato", "Yamamoto", "Huang", "Wu", "Pham",
}

// city is a place patients and facilities live in.
type city struct {
	name, zip, area string
}

var cities = []city{
	{"Boston", "02118", "617"}, {"Cambridge", "02139", "617"}, {"Somerville", "02144", "617"},
	{"Quincy", "02169", "617"}, {"Brookline", "02446", "617"}, {"Newton", "02458", "617"},
	{"Medford", "02155", "781"}, {"Malden", "02148", "781"}, {"Waltham", "02453", "781"},
	{"Braintree", "02184", "781"}, {"Lynn", "01902", "781"}, {"Salem", "01970", "978"},
	{"Lowell", "01852", "978"}, {"Framingham", "01702", "508"}, {"Worcester", "01609", "508"},
}

var streets = []string{
	"Maple Street", "Elm Street", "Washington Street", "Highland Avenue", "Pleasant Street", "Chestnut Street",
	"Summer Street", "Beacon Street", "Central Avenue", "School Street", "Park Avenue", "Prospect Street",
	"Water Street", "Winter Street", "Oak Street", "Union Street", "Church Street", "Adams Street",
	"Harvard Street", "Franklin Street", "Cedar Lane", "Hillside Road", "Forest Avenue", "Spring Street",
}

// address is a postal address.
type address struct {
	line1, line2 string
	city         city
	use          string
}

func (a address) json() object {
	return object{
		{"use", a.use},
		{"type", "physical"},
		{"line", []string{a.line1, a.line2}},
		{"city", a.city.name},
		{"state", "MA"},
		{"postalCode", a.city.zip},
		{"country", "US"},
	}
}

func (a address) oneLine() string {
	if a.line2 != "" {
		return fmt.Sprintf("%s, %s, %s, MA %s", a.line1, a.line2, a.city.name, a.city.zip)
	}
	return fmt.Sprintf("%s, %s, MA %s", a.line1, a.city.name, a.city.zip)
}

func randomAddress(r *rand.Rand, use string) address {
	a := address{
		line1: fmt.Sprintf("%d %s", between(r, 3, 980), pick(r, streets)),
		city:  pick(r, cities),
		use:   use,
	}
	if chance(r, 0.3) {
		a.line2 = fmt.Sprintf("Apt %d%c", between(r, 1, 6), 'A'+rune(r.IntN(4)))
	}
	return a
}

// phone returns a number from the 555-0100..555-0199 block reserved for
// fictional use.
func phone(r *rand.Rand, area string) string {
	return fmt.Sprintf("(%s) 555-01%02d", area, r.IntN(100))
}

// organization is a provider organization.
type organization struct {
	id      string
	name    string
	alias   string
	parent  *organization
	address address
	phone   string
	npi     string
	primary bool // offers primary care, so it can manage patients
}

// location is a place where care is delivered.
type location struct {
	id       string
	name     string
	typ      coding
	physical coding
	org      *organization
	address  address
}

// practitioner is a clinician.
type practitioner struct {
	id        string
	given     string
	family    string
	gender    string
	degree    string // MD or DO
	specialty string
	npi       string
	org       *organization
	phone     string
	style     int // house style of the notes this clinician writes
}

func (p *practitioner) display() string {
	return "Dr. " + p.given + " " + p.family
}

// facilities holds the shared organizations, locations and practitioners
// every patient draws from.
type facilities struct {
	orgs          []*organization
	locations     []*location
	practitioners []*practitioner
	hospital      *organization
	ed, ward      *location
	clinicLoc     map[*organization]*location
}

// staffName is a practitioner given name with the matching administrative gender.
type staffName struct {
	name, gender string
}

var practitionerGiven = []staffName{
	{"Priya", "female"}, {"Alan", "male"}, {"Grace", "female"}, {"Samuel", "male"}, {"Elena", "female"},
	{"David", "male"}, {"Naomi", "female"}, {"Kenji", "male"}, {"Olivia", "female"}, {"Marcus", "male"},
	{"Fatima", "female"}, {"Henry", "male"}, {"Rachel", "female"}, {"Omar", "male"}, {"Julia", "female"},
	{"Victor", "male"}, {"Hannah", "female"}, {"Rajesh", "male"}, {"Clara", "female"}, {"Ethan", "male"},
}

var practitionerFamilies = []string{
	"Raman", "Chen", "Okonkwo", "Lindqvist", "Alvarez", "Goldberg", "Whitfield", "Nakamura", "Brennan", "Haddad",
	"Osei", "Kowalczyk", "Fernandes", "Abernathy", "Mehta", "Sorensen", "Delacroix", "Iyer", "Castellano", "Nguyen",
}

// newFacilities builds the fixed set of organizations and locations and a
// seeded staff of twelve practitioners.
func newFacilities(r *rand.Rand) *facilities {
	boston, cambridge, quincy := cities[0], cities[1], cities[3]
	system := &organization{id: "org-01", name: "Riverside Health System", alias: "RHS",
		address: address{line1: "1 Riverside Plaza", city: boston, use: "work"}, phone: "(617) 555-0100"}
	hospital := &organization{id: "org-02", name: "Riverside General Hospital", parent: system,
		address: address{line1: "200 Longwood Avenue", city: boston, use: "work"}, phone: "(617) 555-0110"}
	maple := &organization{id: "org-03", name: "Maple Street Family Medicine", parent: system, primary: true,
		address: address{line1: "45 Maple Street", city: cambridge, use: "work"}, phone: "(617) 555-0120"}
	harbor := &organization{id: "org-04", name: "Harbor View Community Health Center", primary: true,
		address: address{line1: "310 Hancock Street", city: quincy, use: "work"}, phone: "(617) 555-0130"}
	f := &facilities{orgs: []*organization{system, hospital, maple, harbor}, hospital: hospital}
	for i, o := range f.orgs {
		o.npi = npi(154_820_000 + i*1_117)
	}

	f.ed = &location{id: "loc-01", name: "Riverside General Hospital Emergency Department",
		typ: coding{sysRoleCode, "ER", "Emergency room"}, physical: coding{sysLocPhysical, "bu", "Building"},
		org: hospital, address: hospital.address}
	f.ward = &location{id: "loc-02", name: "Riverside General Hospital Medical Ward 4 West",
		typ: coding{sysRoleCode, "HU", "Hospital unit"}, physical: coding{sysLocPhysical, "wa", "Ward"},
		org: hospital, address: hospital.address}
	mapleLoc := &location{id: "loc-03", name: "Maple Street Family Medicine Clinic",
		typ: coding{sysRoleCode, "FMC", "Family medicine clinic"}, physical: coding{sysLocPhysical, "bu", "Building"},
		org: maple, address: maple.address}
	harborLoc := &location{id: "loc-04", name: "Harbor View Internal Medicine Clinic",
		typ: coding{sysRoleCode, "GIM", "General internal medicine clinic"}, physical: coding{sysLocPhysical, "bu", "Building"},
		org: harbor, address: harbor.address}
	f.locations = []*location{f.ed, f.ward, mapleLoc, harborLoc}
	f.clinicLoc = map[*organization]*location{maple: mapleLoc, harbor: harborLoc, hospital: f.ed}

	// Twelve practitioners: four hospital physicians, five at Maple Street,
	// three at Harbor View. Names are drawn without repetition.
	givenIdx := r.Perm(len(practitionerGiven))
	familyIdx := r.Perm(len(practitionerFamilies))
	staff := []struct {
		org       *organization
		specialty string
	}{
		{hospital, "Emergency Medicine"}, {hospital, "Emergency Medicine"}, {hospital, "Hospital Medicine"}, {hospital, "Hospital Medicine"},
		{maple, "Family Medicine"}, {maple, "Family Medicine"}, {maple, "Family Medicine"}, {maple, "Internal Medicine"}, {maple, "Family Medicine"},
		{harbor, "Internal Medicine"}, {harbor, "Internal Medicine"}, {harbor, "Family Medicine"},
	}
	for i, s := range staff {
		g := practitionerGiven[givenIdx[i]]
		p := &practitioner{
			id:        fmt.Sprintf("prac-%02d", i+1),
			given:     g.name,
			family:    practitionerFamilies[familyIdx[i]],
			gender:    g.gender,
			degree:    "MD",
			specialty: s.specialty,
			npi:       npi(100_300_000 + i*7_919 + r.IntN(7_000)),
			org:       s.org,
			phone:     fmt.Sprintf("(617) 555-01%02d", 40+i),
			style:     i % styleCount,
		}
		if chance(r, 0.2) {
			p.degree = "DO"
		}
		f.practitioners = append(f.practitioners, p)
	}
	return f
}

// staffOf returns the practitioners working for org.
func (f *facilities) staffOf(org *organization) []*practitioner {
	var out []*practitioner
	for _, p := range f.practitioners {
		if p.org == org {
			out = append(out, p)
		}
	}
	return out
}

// npi returns a ten-digit National Provider Identifier for the nine-digit
// base, with the Luhn check digit computed over the 80840 prefix as the NPI
// standard requires.
func npi(base int) string {
	digits := fmt.Sprintf("80840%09d", base%1_000_000_000)
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 { // rightmost payload digit is doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	check := (10 - sum%10) % 10
	return fmt.Sprintf("%09d%d", base%1_000_000_000, check)
}

// Random helpers shared by the generator.

func pick[T any](r *rand.Rand, xs []T) T {
	return xs[r.IntN(len(xs))]
}

func chance(r *rand.Rand, p float64) bool {
	return r.Float64() < p
}

// between returns a uniformly random integer in [lo, hi].
func between(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + r.IntN(hi-lo+1)
}

func uniform(r *rand.Rand, lo, hi float64) float64 {
	return lo + r.Float64()*(hi-lo)
}
