package search

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/fhirgate/fhirgate/model"
)

// Indexed is one value a search parameter indexes for a resource, in the fields a search of the
// parameter's type compares: what grouping by the parameter groups on, and what statistics of
// a number or quantity parameter summarise. Which fields are set depends on the type.
type Indexed struct {
	// System and Code: a token's system and code; a quantity's unit system and code; the
	// identifier of a reference.
	System, Code string
	// Exact: a string as written; a uri.
	Exact string
	// Ref: a reference's "Type/id", or the URL of an external or canonical one.
	Ref string
	// Unit: a quantity's unit as written, normalised.
	Unit string
	// Lo and Hi: a number or quantity (equal unless the value is a range).
	Lo, Hi float64
	// From and To: a date's range, in milliseconds since the epoch, both inclusive.
	From, To int64
	// Range: Lo and Hi, or From and To, are set.
	Range bool
}

// IndexedValues returns the values p, a search parameter of typ, indexes for res (a resource
// decoded from its JSON, numbers as json.Number), exactly as Extract stores them; nil for a
// composite or special parameter, or one without an expression.
func IndexedValues(typ string, p *model.SearchParam, res map[string]any) []Indexed {
	if p.Type == "composite" || p.Type == "special" {
		return nil
	}
	for _, cp := range paramsOf(typ) {
		if cp.Code != p.Code {
			continue
		}
		vals, err := cp.expr.Eval(res)
		if err != nil {
			return nil // the data breaks the expression's cardinality: nothing indexed
		}
		var out []Indexed
		for _, v := range vals {
			for _, e := range entriesFor(p.Type, v) {
				out = append(out, indexedOf(e))
			}
		}
		return out
	}
	return nil
}

// indexedOf reads an index entry (or a group key of a pipeline, which has the same fields).
func indexedOf(e bson.D) Indexed {
	var x Indexed
	for _, f := range e {
		switch f.Key {
		case fSystem:
			x.System, _ = f.Value.(string)
		case fCode:
			x.Code, _ = f.Value.(string)
		case fExact:
			x.Exact, _ = f.Value.(string)
		case fRef:
			x.Ref, _ = f.Value.(string)
		case fUnit:
			x.Unit, _ = f.Value.(string)
		case fLo, fHi:
			switch n := f.Value.(type) {
			case int64:
				x.Range = true
				if f.Key == fLo {
					x.From = n
				} else {
					x.To = n
				}
			case int32:
				x.Range = true
				if f.Key == fLo {
					x.From = int64(n)
				} else {
					x.To = int64(n)
				}
			case float64:
				x.Range = true
				if f.Key == fLo {
					x.Lo = n
				} else {
					x.Hi = n
				}
			}
		}
	}
	return x
}
