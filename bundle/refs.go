package bundle

import (
	"context"
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/authz"
	"github.com/fhirgate/fhirgate/fhirjson"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
)

// refKeys are the members whose values may refer to other entries: Reference.reference,
// Attachment.url (a Binary of the bundle) and Narrative.div (links and images).
var refKeys = map[string]bool{"reference": true, "url": true, "div": true}

// resolveRefs rewrites res's references to entries of the bundle (by their fullUrl) into
// the identities the transaction gives them, and its conditional references
// (Patient?identifier=x|y) into the one resource each matches.
func (t *txn) resolveRefs(ctx context.Context, res *fhirjson.Resource) error {
	return res.Rewrite(refKeys, func(key, v string) (string, error) {
		switch key {
		case "reference":
			return t.reference(ctx, v)
		case "url":
			if ref, ok := t.refs[v]; ok {
				return ref, nil
			}
		case "div":
			if strings.Contains(v, "urn:") || strings.Contains(v, "://") {
				for full, ref := range t.refs {
					v = strings.ReplaceAll(v, `"`+full+`"`, `"`+ref+`"`)
				}
			}
		}
		return v, nil
	})
}

// reference returns what reference v becomes: the identity of the bundle entry it names,
// the one resource a conditional reference matches, or v itself.
func (t *txn) reference(ctx context.Context, v string) (string, error) {
	if ref, ok := t.refs[v]; ok {
		return ref, nil
	}
	if strings.HasPrefix(v, "urn:uuid:") || strings.HasPrefix(v, "urn:oid:") {
		return "", fmt.Errorf("%w: reference %s names no entry of the bundle", ErrInvalid, clip(v))
	}
	if typ, _, ok := strings.Cut(v, "?"); ok && model.IsResourceType(typ) {
		return t.conditional(ctx, v, typ)
	}
	return v, nil
}

// conditional resolves the conditional reference ref, a search over typ, to the one
// resource it matches; once per transaction for each distinct search.
func (t *txn) conditional(ctx context.Context, ref, typ string) (string, error) {
	if r, ok := t.conds[ref]; ok {
		return r.ref, r.err
	}
	var r condResult
	ids, err := t.search(ctx, ref, typ)
	switch {
	case err != nil:
		r.err = err
	case len(ids) == 0:
		r.err = fmt.Errorf("%w: the conditional reference %s matches no resource", errNotFound, clip(ref))
	case len(ids) > 1:
		r.err = fmt.Errorf("%w: the conditional reference %s matches more than one resource", errPrecondition, clip(ref))
	default:
		r.ref = typ + "/" + ids[0]
	}
	t.conds[ref] = r
	return r.ref, r.err
}

// search returns the ids of up to two resources of typ that criteria (Type?params) match,
// searching as the caller would: permission to search the type and by every parameter, and
// the caller's compartment (storage's scope).
func (t *txn) search(ctx context.Context, criteria, typ string) ([]string, error) {
	qt, q, err := search.ParseCriteria(criteria)
	if err != nil {
		return nil, err
	}
	if qt != typ {
		return nil, fmt.Errorf("%w: the search %s is not over %s", ErrInvalid, clip(criteria), typ)
	}
	if _, rest, _ := strings.Cut(criteria, "?"); rest == "" {
		return nil, fmt.Errorf("%w: the search %s has no criteria", ErrInvalid, clip(criteria))
	}
	if p := t.p.Policy; p != nil {
		if err := p.CheckType(ctx, typ, authz.ActSearch); err != nil {
			return nil, err
		}
		if err := p.CheckSearch(ctx, q); err != nil {
			return nil, err
		}
	}
	two := 2
	q.Count, q.Offset = &two, 0
	recs, err := (&search.Runner{Store: t.p.Store, ListLimit: two}).List(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids, nil
}
