package nlp

// trie maps token sequences to the entries they name. Tokens are interned: words the lexicons
// never use get no id, and a text token without an id ends every match at once.
type trie struct {
	vocab   map[string]int32
	edges   map[uint64]int32 // parent node << 32 | token id -> child node
	terms   [][]int32        // node -> ids of the entries ending there
	maxLen  int
	entries []entry
}

// entry is one thing a phrase of a lexicon names.
type entry struct {
	category, typ, trait string // trait: DIAGNOSIS/SIGN/SYMPTOM, or the context category of a trigger
	direction            string // triggers: forward, backward, one (the next entity only)
	code, display        string // a curated code and its description
	key                  []string
	score                float64
	upper                bool // the text must be upper case (ambiguous abbreviations: MI, PE)
	colon                bool // the phrase must follow a colon (ConText ": none")
}

func newTrie() *trie {
	return &trie{vocab: map[string]int32{}, edges: map[uint64]int32{}, terms: [][]int32{nil}}
}

// add inserts the phrase words (already normalised) naming e. A phrase already naming an entry
// of the same category and type keeps the first, so lexicons added first take precedence.
func (t *trie) add(words []string, e entry) {
	if len(words) == 0 {
		return
	}
	node := int32(0)
	for _, w := range words {
		id, ok := t.vocab[w]
		if !ok {
			id = int32(len(t.vocab))
			t.vocab[w] = id
		}
		k := uint64(node)<<32 | uint64(id)
		next, ok := t.edges[k]
		if !ok {
			next = int32(len(t.terms))
			t.terms = append(t.terms, nil)
			t.edges[k] = next
		}
		node = next
	}
	for _, id := range t.terms[node] {
		old := &t.entries[id]
		if old.category == e.category && old.typ == e.typ && old.trait == e.trait && old.direction == e.direction && old.upper == e.upper {
			return
		}
	}
	if e.key == nil {
		e.key = words
	}
	t.entries = append(t.entries, e)
	t.terms[node] = append(t.terms[node], int32(len(t.entries)-1))
	t.maxLen = max(t.maxLen, len(words))
}

// match is a phrase of the text found in a trie: tokens [from, to) name the entries ids.
type match struct {
	from, to int
	ids      []int32
}

// longest returns the longest phrase starting at token i whose entries accept pass, if any.
func (t *trie) longest(toks []token, i int, pass func(e *entry, toks []token) bool) (match, bool) {
	var best match
	found := false
	node := int32(0)
	for j := i; j < len(toks) && j-i < t.maxLen; j++ {
		id, ok := t.vocab[toks[j].norm]
		if !ok {
			break
		}
		next, ok := t.edges[uint64(node)<<32|uint64(id)]
		if !ok {
			break
		}
		node = next
		if ids := t.terms[node]; len(ids) > 0 {
			var keep []int32
			for _, id := range ids {
				if pass(&t.entries[id], toks[i:j+1]) {
					keep = append(keep, id)
				}
			}
			if len(keep) > 0 {
				best, found = match{from: i, to: j + 1, ids: keep}, true
			}
		}
	}
	return best, found
}

// scan finds phrases left to right, the longest at each position, never overlapping.
func (t *trie) scan(toks []token, pass func(e *entry, toks []token) bool) []match {
	var out []match
	for i := 0; i < len(toks); {
		if m, ok := t.longest(toks, i, pass); ok {
			out = append(out, m)
			i = m.to
			continue
		}
		i++
	}
	return out
}
