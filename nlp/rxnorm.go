package nlp

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Suffixes of generic (ingredient) names; the RxNorm list does not say which names are brands.
var genericSuffixes = []string{"pril", "olol", "alol", "statin", "sartan", "dipine", "azole", "mycin", "micin",
	"cillin", "cycline", "floxacin", "formin", "mab", "nib", "vir", "parin", "xaban", "gatran", "taxel", "platin",
	"poetin", "profen", "azepam", "zolam", "amine", "idine", "tidine", "prazole", "lukast", "sone", "olone",
	"thiazide", "semide", "ide", "ate", "ium", "ine", "in", "ol", "one", "ase", "cin", "fen", "zine", "pam"}

// Brands that are written in lower case in the RxNorm list or end like generics.
var knownBrands = set("tylenol advil motrin aleve lasix lipitor zocor crestor coumadin glucophage epogen humulin " +
	"lantus novolog humalog norvasc zoloft prozac xanax synthroid plavix eliquis xarelto nexium prilosec ventolin " +
	"proair flovent advair mirena kyleena nuvaring seasonique camila errin natazia ibu benadryl claritin zyrtec " +
	"allegra tamiflu zithromax augmentin keflex cipro levaquin valium ativan ambien neurontin lyrica percocet " +
	"vicodin norco dilaudid januvia jardiance ozempic victoza trulicity entresto toprol lopressor")

// drugType tells a generic name from a brand: names written in lower case in the list and names
// with a generic suffix are generic, unless they are known brands.
func drugType(name string, lower bool) string {
	n := strings.ToLower(name)
	if knownBrands[n] {
		return "BRAND_NAME"
	}
	if lower {
		return "GENERIC_NAME"
	}
	last := n[strings.LastIndexByte(n, ' ')+1:]
	for _, s := range genericSuffixes {
		if strings.HasSuffix(last, s) {
			return "GENERIC_NAME"
		}
	}
	return "BRAND_NAME"
}

// drugName is a name of the RxNorm list, prepared for the trie.
type drugName struct {
	ws  []string
	typ string
}

func prepareDrug(line string) (drugName, bool, error) {
	name := strings.TrimSpace(strings.TrimSuffix(line, "(obsolete)"))
	if name == "" {
		return drugName{}, false, nil
	}
	ws := words(name)
	if !usableDrug(ws) {
		return drugName{}, false, nil
	}
	r, _ := utf8.DecodeRuneInString(name)
	return drugName{ws: ws, typ: drugType(name, unicode.IsLower(r))}, true, nil
}

// loadRxNorm adds the RxNorm ingredient and brand names to terms.
func loadRxNorm(terms *trie) error {
	b, err := readLexicon("rxnorm_druglist.txt.gz")
	if err != nil {
		return err
	}
	names, err := parallel(strings.Split(string(b), "\n"), prepareDrug)
	if err != nil {
		return err
	}
	for _, n := range names {
		terms.add(n.ws, entry{category: Medication, typ: n.typ, score: 0.9})
	}
	for _, g := range []string{"aspirin", "insulin", "acetaminophen", "oxygen", "iron", "potassium chloride"} {
		terms.add(words(g), entry{category: Medication, typ: "GENERIC_NAME", score: 0.9})
	}
	return nil
}

// usableDrug reports whether a drug name is safe to look for in notes: up to six words, not
// starting or ending with a stop word, a single word only if it has five letters or more and is
// not a common word.
func usableDrug(ws []string) bool {
	if len(ws) == 0 || len(ws) > 6 || stopWords[ws[0]] || stopWords[ws[len(ws)-1]] {
		return false
	}
	if len(ws) == 1 {
		w := ws[0]
		return len(w) >= 5 && !commonWords[w] && !stopWords[w] && unicode.IsLetter(rune(w[0]))
	}
	for _, w := range ws {
		if !unicode.IsLetter(rune(w[0])) {
			return false // "A-25", "Larin 1/20": product codes, not names
		}
	}
	return true
}

// rxRow is one RxNorm clinical or branded drug with a code from the project's data.
type rxRow struct {
	rxcui, name string
	words       map[string]bool
}

// rxTable gives RxNorm codes to medications named in a note.
type rxTable struct{ rows []rxRow }

func loadRxCodes() (*rxTable, error) {
	b, err := readLexicon("rxnorm_codes.tsv")
	if err != nil {
		return nil, err
	}
	t := &rxTable{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("rxnorm_codes.tsv: bad line %q", sc.Text())
		}
		r := rxRow{rxcui: f[0], name: f[1], words: map[string]bool{}}
		for _, w := range words(f[1]) {
			r.words[w] = true
		}
		t.rows = append(t.rows, r)
	}
	return t, sc.Err()
}

var number = regexp.MustCompile(`\d+(?:\.\d+)?`)

// concepts ranks the coded drugs whose names hold every word of the medication: 0.6, plus 0.25
// when the strength written in the note is the drug's, plus 0.1 when a written form or route
// is in its name. Medications with no such drug get no concept.
func (t *rxTable) concepts(ws []string, attrs []Attribute) []Concept {
	type cand struct {
		row   *rxRow
		score float64
	}
	var cs []cand
	for i := range t.rows {
		r := &t.rows[i]
		all := true
		for _, w := range ws {
			if !r.words[w] {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		s := 0.6
		for _, a := range attrs {
			switch a.Type {
			case "STRENGTH":
				if n := number.FindString(a.Text); n != "" && r.words[n] {
					s += 0.25
				}
			case "FORM", "ROUTE_OR_MODE":
				if aw := words(a.Text); len(aw) > 0 && r.words[aw[len(aw)-1]] {
					s += 0.1
				}
			}
		}
		cs = append(cs, cand{r, math.Min(s, 0.99)})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].score != cs[j].score {
			return cs[i].score > cs[j].score
		}
		return cs[i].row.rxcui < cs[j].row.rxcui
	})
	var out []Concept
	for i := 0; i < len(cs) && i < maxConcepts; i++ {
		out = append(out, Concept{Code: cs[i].row.rxcui, Description: cs[i].row.name, Score: math.Round(cs[i].score*1000) / 1000})
	}
	return out
}
