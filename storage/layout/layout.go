// Package layout names the fields of the search index that storage keeps in each current
// document: the one home of those names, for package search, which writes the entries and
// builds the filters that read them, and for package storage, which indexes, packs,
// matches and translates them (and its embedded engine, which copies them into SQLite).
//
// It has no dependencies, so that every package that reads or writes the layout can
// import it.
package layout

// Fields of a current document that hold its search index.
const (
	// Entries holds one sub-document per indexed value, {p: <parameter>, ...}, with the
	// entry fields below.
	Entries = "i"
	// Asc and Desc map each parameter to its lowest and highest sort key, for _sort.
	Asc  = "oa"
	Desc = "od"
	// Version names the extraction rules (and, on the embedded engine, the layout) that
	// computed the index; documents indexed under another are re-indexed.
	Version = "iv"
	// Packed holds, on the embedded engine, Entries, Asc and Desc packed as one BSON
	// document in a binary field (FerretDB decodes nested fields slowly).
	Packed = "ix"
	// EntriesJSON holds, on the embedded engine, the entries again as JSON text that
	// SQLite triggers copy into the collection's index table, in documents FerretDB
	// writes: storage's direct inserts write the rows themselves and leave it out.
	EntriesJSON = "ij"
)

// IndexRow is one row of a collection's search index table on the embedded engine, the
// columns after the document's id and the row's position: parameter, which entry field
// k holds, that value, system, low end, high end, sort key (see storage's sqlindex.go).
// EntriesJSON holds a document's rows as a JSON array of these arrays.
type IndexRow [7]any

// Fields inside an index entry. Short, because every resource stores many.
const (
	Param      = "p"  // search parameter code
	System     = "s"  // token, quantity and reference-identifier system ("" when none)
	Code       = "c"  // token code, quantity unit code, reference-identifier value
	Text       = "t"  // token text (display, CodeableConcept.text), normalised
	TypeSystem = "ts" // identifier type system, for :of-type
	TypeCode   = "tc" // identifier type code, for :of-type
	Norm       = "v"  // string value, normalised (lower case, no accents)
	Exact      = "x"  // string value as written; uri; canonical with version
	Ref        = "r"  // reference "Type/id", or the URL of an external or canonical reference
	RefType    = "rt" // reference target type
	RefID      = "ri" // reference target id
	Lo         = "lo" // low end: date (ms since epoch, int64) or number (float64)
	Hi         = "hi" // high end, inclusive
	Unit       = "u"  // quantity unit as written, normalised
	Lat        = "la" // Location.position latitude, for near
	Lon        = "ln" // Location.position longitude, for near
	// Comp starts the fields of a composite entry's components: k0, k1, ...
	Comp = "k"
)
