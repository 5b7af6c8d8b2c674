package nlp

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// icdCode is one ICD-10-CM code of the table.
type icdCode struct {
	code, desc string // code with its dot, long description
	billable   bool
	words      int // content words of the description
	unspec     bool
}

// icdIndex ranks ICD-10-CM codes for a condition by the words of their descriptions.
type icdIndex struct {
	codes  []icdCode
	byCode map[string]int32
	posts  map[string][]int32 // content word -> codes whose description holds it, ascending
	cache  sync.Map           // joined words -> []Concept
}

// icdChapterUsed reports whether codes of the chapter starting with letter c name conditions a
// note states: external causes (V-Y) and encounter reasons (Z) do not.
func icdChapterUsed(c byte) bool { return c >= 'A' && c <= 'U' }

// dotted writes an ICD-10-CM code as FHIR does, with a dot after the category: E119 -> E11.9.
func dotted(code string) string {
	if len(code) > 3 {
		return code[:3] + "." + code[3:]
	}
	return code
}

// icdRow is one line of the ICD-10-CM table, prepared for indexing.
type icdRow struct {
	code    icdCode
	content []string   // distinct content words of the long description
	terms   [][]string // phrases derived from the descriptions
	trait   string
}

// prepareICD derives what a line of the table contributes; it runs on several lines at once.
func prepareICD(line string) (icdRow, bool, error) {
	f := strings.Split(line, "\t")
	if len(f) != 4 {
		return icdRow{}, false, fmt.Errorf("icd10cm2019_codes.tsv: bad line %q", line)
	}
	if !icdChapterUsed(f[0][0]) {
		return icdRow{}, false, nil
	}
	content := uniq(contentWords(words(f[3])))
	r := icdRow{content: content, trait: TraitDiagnosis,
		code: icdCode{code: dotted(f[0]), desc: f[3], billable: f[1] == "1", words: len(content),
			unspec: strings.Contains(strings.ToLower(f[3]), "unspecified")}}
	if f[0][0] == 'R' {
		r.trait = TraitSymptom
	}
	descs := []string{f[3]}
	if f[2] != f[3] {
		descs = append(descs, f[2])
	}
	for _, desc := range descs {
		for _, v := range icdVariants(desc) {
			if ws := words(v); usableTerm(ws) {
				r.terms = append(r.terms, ws)
			}
		}
	}
	return r, true, nil
}

// loadICD reads the ICD-10-CM table, adds the phrases derived from its descriptions to terms
// as diagnoses (signs and symptoms for chapter R), and indexes it for ranking.
func loadICD(terms *trie) (*icdIndex, error) {
	b, err := readLexicon("icd10cm2019_codes.tsv.gz")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")[1:]
	rows, err := parallel(lines, prepareICD)
	if err != nil {
		return nil, err
	}
	ix := &icdIndex{byCode: map[string]int32{}, posts: map[string][]int32{}}
	seen := map[string]bool{}
	for _, r := range rows {
		id := int32(len(ix.codes))
		ix.codes = append(ix.codes, r.code)
		ix.byCode[r.code.code] = id
		for _, w := range r.content {
			ix.posts[w] = append(ix.posts[w], id)
		}
		for _, ws := range r.terms {
			k := strings.Join(ws, " ")
			if seen[k] {
				continue
			}
			seen[k] = true
			terms.add(ws, entry{category: MedicalCondition, typ: "DX_NAME", trait: r.trait, score: 0.85})
		}
	}
	return ix, nil
}

// parallel applies prepare to every line on all processors and returns, in the lines' order,
// the results it kept.
func parallel[T any](lines []string, prepare func(string) (T, bool, error)) ([]T, error) {
	n := max(1, min(runtime.GOMAXPROCS(0), 8))
	parts := make([][]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for p := 0; p < n; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for _, l := range lines[p*len(lines)/n : (p+1)*len(lines)/n] {
				v, ok, err := prepare(l)
				if err != nil {
					errs[p] = err
					return
				}
				if ok {
					parts[p] = append(parts[p], v)
				}
			}
		}(p)
	}
	wg.Wait()
	var out []T
	for p := range parts {
		if errs[p] != nil {
			return nil, errs[p]
		}
		out = append(out, parts[p]...)
	}
	return out, nil
}

func uniq(ws []string) []string {
	out := ws[:0:0]
	seen := map[string]bool{}
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// maxConcepts is the number of ranked codes given per condition.
const maxConcepts = 5

// concepts ranks up to five billable codes for a condition named by words (normalised), the
// curated code first when there is one. Codes whose descriptions hold every content word come
// first, by the share of their description those words cover (a mention of "hypertension" fits
// "Essential (primary) hypertension" better than "Hypertensive heart disease with heart
// failure"); when none holds them all, leading modifiers are dropped one at a time, never the
// last word, and the scores fall by a fifth per dropped word.
func (ix *icdIndex) concepts(ws []string, curated string) []Concept {
	key := curated + "|" + strings.Join(ws, " ")
	if v, ok := ix.cache.Load(key); ok {
		return v.([]Concept)
	}
	var out []Concept
	if id, ok := ix.byCode[curated]; ok {
		out = append(out, Concept{Code: curated, Description: ix.codes[id].desc, Score: 0.95})
	}
	c := uniq(contentWords(ws))
	for drop := 0; drop < len(c) && len(out) < maxConcepts; drop++ {
		ids := ix.holdingAll(c[drop:])
		if len(ids) == 0 {
			continue
		}
		penalty := math.Pow(0.8, float64(drop))
		out = ix.rank(out, ids, len(c)-drop, penalty)
		break
	}
	ix.cache.Store(key, out)
	return out
}

// holdingAll returns the codes whose descriptions hold all the words.
func (ix *icdIndex) holdingAll(ws []string) []int32 {
	lists := make([][]int32, 0, len(ws))
	for _, w := range ws {
		l := ix.posts[w]
		if len(l) == 0 {
			return nil
		}
		lists = append(lists, l)
	}
	if len(lists) == 0 {
		return nil
	}
	sort.Slice(lists, func(i, j int) bool { return len(lists[i]) < len(lists[j]) })
	out := lists[0]
	for _, l := range lists[1:] {
		out = intersect(out, l)
	}
	return out
}

func intersect(a, b []int32) []int32 {
	var out []int32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// rank appends to out the best billable codes among ids not already in out.
func (ix *icdIndex) rank(out []Concept, ids []int32, matched int, penalty float64) []Concept {
	type cand struct {
		id    int32
		cover float64
	}
	var cs []cand
	for _, id := range ids {
		c := &ix.codes[id]
		if !c.billable {
			continue
		}
		cover := float64(matched) / float64(max(c.words, matched))
		if c.unspec {
			cover += 0.05 // the unspecified code is the right one for an unqualified mention
		}
		cs = append(cs, cand{id, cover})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].cover != cs[j].cover {
			return cs[i].cover > cs[j].cover
		}
		return ix.codes[cs[i].id].code < ix.codes[cs[j].id].code
	})
	for _, c := range cs {
		if len(out) >= maxConcepts {
			break
		}
		code := ix.codes[c.id]
		if len(out) > 0 && out[0].Code == code.code {
			continue
		}
		score := math.Round((0.3+0.6*min(c.cover, 1))*penalty*1000) / 1000
		out = append(out, Concept{Code: code.code, Description: code.desc, Score: score})
	}
	return out
}
