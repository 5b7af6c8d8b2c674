package resolvers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fhirgate/fhirgate/fault"
	"github.com/fhirgate/fhirgate/model"
	"github.com/fhirgate/fhirgate/search"
	"github.com/fhirgate/fhirgate/storage"
	"github.com/fhirgate/fhirgate/validate"
)

// ErrTooMany reports a list, or a request's reads, larger than the server allows at once.
// It is search.ErrTooMany: both layers refuse the same thing in the same words.
var ErrTooMany = search.ErrTooMany

// ErrBadRequest reports arguments that are wrong in themselves, such as an id that does not match res.id.
var ErrBadRequest = fault.New(fault.Invalid, "bad request")

func read[T model.Resource](ctx context.Context, r *Resolver, id string) (T, error) {
	var zero T
	// A root read fetches at once rather than waiting for the loader's window; the result
	// still lands in the request's cache for references to the same resource.
	res, err := loadersFor(ctx, r.Store).fetchOne(ctx, zero.TypeName()+"/"+id)
	if errors.Is(err, storage.ErrNotFound) {
		// Batched reads skip deleted resources; a direct read tells "deleted" from "never existed".
		if _, rerr := r.Store.Read(ctx, zero.TypeName(), id); errors.Is(rerr, storage.ErrDeleted) {
			return zero, rerr
		}
	}
	if err != nil {
		return zero, err
	}
	r.prefetch(ctx, []model.Resource{res})
	return res.(T), nil
}

// listByID reads the resources named by _id in one batch, in the order asked, skipping absent ones.
func listByID[T model.Resource](ctx context.Context, r *Resolver, typ string, ids []*string, off, limit int, strict bool) ([]T, error) {
	var keys []string
	for _, id := range ids {
		if id != nil {
			keys = append(keys, typ+"/"+*id)
		}
	}
	results, errs := loadersFor(ctx, r.Store).resources.LoadMany(ctx, keys)()
	var out []T
	for i, res := range results {
		if i < len(errs) && errs[i] != nil { // LoadMany returns no error slice when all succeed
			err := errs[i]
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDeleted) {
				continue
			}
			return nil, err
		}
		if off > 0 {
			off--
			continue
		}
		if len(out) == limit {
			if strict {
				return nil, fmt.Errorf("%w: more than %d %s resources match; page with _count and _offset", ErrTooMany, r.ListLimit, typ)
			}
			break
		}
		out = append(out, res.(T))
	}
	all := make([]model.Resource, len(out))
	for i, res := range out {
		all[i] = res
	}
	r.prefetch(ctx, all)
	return out, nil
}

// parse decodes a mutation's resource. What the model refuses (unknown elements, malformed
// primitives) the validator locates, so the client gets one OperationOutcome listing every
// problem at its FHIRPath location, as for any write validation refuses.
func parse[T model.Resource](raw model.RawResource) (T, error) {
	res, err := model.UnmarshalAs[T](raw)
	if err == nil {
		return res, nil
	}
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if json.Unmarshal(raw, &head) != nil || head.ResourceType != res.TypeName() {
		return res, err // not a resource of the mutation's type: the model says so
	}
	if v, verr := validate.Default(); verr == nil {
		if out := v.Validate(raw); out.HasErrors() {
			return res, &validate.Error{Outcome: out}
		}
	}
	return res, err
}

func create[T model.Resource](ctx context.Context, r *Resolver, raw model.RawResource) (T, error) {
	var zero T
	res, err := parse[T](raw)
	if err != nil {
		return zero, err
	}
	// The server assigns the id of a created resource; any id in res is ignored, as in FHIR create.
	res.SetResourceID(newID())
	return write[T](ctx, r, storage.Write{Op: storage.OpCreate, Type: res.TypeName(), ID: res.ResourceID(), Resource: res})
}

func update[T model.Resource](ctx context.Context, r *Resolver, id string, raw model.RawResource, ifMatch *string) (T, error) {
	var zero T
	res, err := parse[T](raw)
	if err != nil {
		return zero, err
	}
	if rid := res.ResourceID(); rid != "" && rid != id {
		return zero, fmt.Errorf("%w: id %q does not match res.id %q", ErrBadRequest, id, rid)
	}
	res.SetResourceID(id)
	w := storage.Write{Op: storage.OpPut, Type: res.TypeName(), ID: id, Resource: res}
	if ifMatch != nil {
		if w.IfMatch, err = parseVersion(*ifMatch); err != nil {
			return zero, err
		}
	}
	return write[T](ctx, r, w)
}

func write[T model.Resource](ctx context.Context, r *Resolver, w storage.Write) (T, error) {
	var zero T
	if _, err := r.Store.Commit(ctx, []storage.Write{w}); err != nil {
		return zero, err
	}
	return w.Resource.(T), nil
}

func remove(ctx context.Context, r *Resolver, typ, id string) (*model.OperationOutcome, error) {
	if _, err := r.Store.Commit(ctx, []storage.Write{{Op: storage.OpDelete, Type: typ, ID: id}}); err != nil {
		return nil, err
	}
	return outcome("information", "deleted", fmt.Sprintf("%s/%s deleted", typ, id)), nil
}

// parseVersion accepts a version as "3" or as an ETag, W/"3".
func parseVersion(s string) (int64, error) {
	v := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "W/"), `"`), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: ifMatch %q is not a version", ErrBadRequest, s)
	}
	return n, nil
}

// outcome builds a one-issue OperationOutcome.
func outcome(severity, code, diagnostics string) *model.OperationOutcome {
	sev, c := model.Code(severity), model.Code(code)
	return &model.OperationOutcome{Issue: []*model.OperationOutcomeIssue{{Severity: &sev, Code: &c, Diagnostics: &diagnostics}}}
}
