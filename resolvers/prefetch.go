package resolvers

import (
	"context"
	"reflect"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/fhirgate/fhirgate/model"
)

// prefetch loads, in one batch per level of nesting, every resource that the current field's
// selection will reach through Reference.resource below the given resources. The
// Reference.resource resolvers then find their targets in the request's loader cache. Without
// it, batching would depend on how many resolver goroutines reach the loader within its wait
// window; with it, a request costs one round trip per resource type and level, whatever the
// number of rows.
func (r *Resolver) prefetch(ctx context.Context, resources []model.Resource) {
	oc := graphql.GetOperationContext(ctx)
	fc := graphql.GetFieldContext(ctx)
	if oc == nil || fc == nil {
		return
	}
	r.prefetchReverse(ctx, resources, fc.Field.Selections)
	type item struct {
		value reflect.Value
		sel   ast.SelectionSet
	}
	level := make([]item, 0, len(resources))
	for _, res := range resources {
		if res != nil {
			level = append(level, item{reflect.ValueOf(res), fc.Field.Selections})
		}
	}
	loaders := loadersFor(ctx, r.Store)
	for depth := 0; len(level) > 0 && depth < 16; depth++ {
		refs := map[string][]ast.SelectionSet{}
		for _, it := range level {
			collectRefs(oc, it.value, it.sel, refs)
		}
		if len(refs) == 0 {
			return
		}
		keys := make([]string, 0, len(refs))
		for k := range refs {
			keys = append(keys, k)
		}
		results := loaders.prime(ctx, keys)
		level = level[:0]
		// Reverse references selected on the targets: one batch per selection.
		targets := map[*ast.Selection][]model.Resource{}
		sels := map[*ast.Selection]ast.SelectionSet{}
		for i, res := range results {
			if res == nil {
				continue
			}
			for _, sel := range refs[keys[i]] {
				level = append(level, item{reflect.ValueOf(res), sel})
				if len(sel) > 0 {
					targets[&sel[0]] = append(targets[&sel[0]], res)
					sels[&sel[0]] = sel
				}
			}
		}
		for k, rs := range targets {
			r.prefetchReverse(ctx, rs, sels[k])
		}
	}
}

// collectRefs walks value (a model struct, pointer, slice or interface) along the selection set
// sel and records, for each Reference whose resource field is selected, its "Type/id" key and the
// selection made on the resource.
func collectRefs(oc *graphql.OperationContext, value reflect.Value, sel ast.SelectionSet, refs map[string][]ast.SelectionSet) {
	for value.Kind() == reflect.Pointer || value.Kind() == reflect.Interface {
		if value.IsNil() {
			return
		}
		value = value.Elem()
	}
	switch value.Kind() {
	case reflect.Slice:
		for i := 0; i < value.Len(); i++ {
			collectRefs(oc, value.Index(i), sel, refs)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	typeName := value.Type().Name()
	satisfies := []string{typeName}
	if model.IsResourceType(typeName) {
		satisfies = append(satisfies, "Resource")
	}
	for _, f := range graphql.CollectFields(oc, sel, satisfies) {
		if len(f.Selections) == 0 {
			continue
		}
		if typeName == "Reference" && f.Name == "resource" {
			ref, _ := value.Addr().Interface().(*model.Reference)
			if key, ok := prefetchKey(ref, f.ArgumentMap(oc.Variables)); ok {
				refs[key] = append(refs[key], f.Selections)
			}
			continue
		}
		if i, ok := model.FieldIndex(value.Type(), f.Name); ok {
			collectRefs(oc, value.Field(i), f.Selections, refs)
		}
	}
}

// prefetchKey returns the loader key of a reference to another resource on this server,
// honouring resource's type argument; contained and versioned references are resolved directly.
func prefetchKey(ref *model.Reference, args map[string]any) (string, bool) {
	if ref == nil || ref.Reference == nil {
		return "", false
	}
	typ, id, version, ok := parseReference(*ref.Reference)
	if !ok || version > 0 {
		return "", false
	}
	if want, ok := args["type"].(string); ok && want != typ {
		return "", false
	}
	return typ + "/" + id, true
}
