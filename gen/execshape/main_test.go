package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"strings"
	"testing"
)

// miniExecutor has the shapes gqlgen emits: object marshallers calling each other through
// field functions (a cycle), childFields lookups, a method taken as a value, a method without
// parameters, and names with gqlgen's non-ASCII type mangling.
const miniExecutor = `package graph

func (ec *executionContext) _Extension(ctx context.Context, sel ast.SelectionSet, obj *model.Extension) graphql.Marshaler {
	return ec._Extension_valueReference(ctx, field, obj)
}

func (ec *executionContext) _Extension_valueReference(ctx context.Context, field graphql.CollectedField, obj *model.Extension) (ret graphql.Marshaler) {
	return graphql.ResolveField(
		ctx,
		ec.OperationContext,
		field,
		nil,
		func(ctx context.Context) (any, error) {
			return obj.ValueReference, nil
		},
		nil,
		func(ctx context.Context, selections ast.SelectionSet, v *model.Reference) graphql.Marshaler {
			return ec.marshalOReference2ᚖmodelᚐReference(ctx, selections, v)
		},
		true,
		false,
	)
}

func (ec *executionContext) field_Extension_extension_args(ctx context.Context, rawArgs map[string]any) (map[string]any, error) {
	arg0, err := graphql.ProcessArgField(ctx, rawArgs, "url",
		func(ctx context.Context, v any) (*model.URI, error) {
			return ec.unmarshalOuri2ᚖmodelᚐURI(ctx, v)
		})
	return map[string]any{"url": arg0}, err
}

func (ec *executionContext) unmarshalOuri2ᚖmodelᚐURI(ctx context.Context, v any) (*model.URI, error) {
	return nil, nil
}

func (ec *executionContext) marshalOReference2ᚖmodelᚐReference(ctx context.Context, sel ast.SelectionSet, v *model.Reference) graphql.Marshaler {
	return ec._Reference(ctx, sel, v)
}

func (ec *executionContext) _Reference(ctx context.Context, sel ast.SelectionSet, obj *model.Reference) graphql.Marshaler {
	return ec.marshalOExtension2ᚖmodelᚐExtension(ctx, sel, obj.Extension)
}

func (ec *executionContext) marshalOExtension2ᚖmodelᚐExtension(ctx context.Context, sel ast.SelectionSet, v *model.Extension) graphql.Marshaler {
	return ec._Extension(ctx, sel, v)
}

func (ec *executionContext) fieldContext_Reference_extension(ctx context.Context, field graphql.CollectedField) (fc *graphql.FieldContext, err error) {
	fc = &graphql.FieldContext{Child: func(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
		return ec.childFields_Extension(ctx, field)
	}}
	return fc, nil
}

func (ec *executionContext) childFields_Extension(ctx context.Context, field graphql.CollectedField) (*graphql.FieldContext, error) {
	return ec.fieldContext_Reference_extension(ctx, field)
}

func (ec *executionContext) unmarshalInputX(ctx context.Context, obj any) (X, error) {
	return X{}, nil
}

func (ec *executionContext) introspectSchema() (*introspection.Schema, error) {
	return nil, nil
}

func (e *executableSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	ec := newExecutionContext(nil, e, nil)
	_ = graphql.BuildUnmarshalerMap(ec.unmarshalInputX)
	s, _ := ec.introspectSchema()
	return ec.Error(ctx, s)
}
`

func TestRewrite(t *testing.T) {
	out, err := rewrite([]byte(miniExecutor))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	if _, err := parser.ParseFile(token.NewFileSet(), "generated.go", out, 0); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, got)
	}
	for _, want := range []string{
		// Cycles cut: marshallers and childFields are called through variables set in init.
		"return objMarshal_Reference(ec, ctx, sel, v)",
		"return objMarshal_Extension(ec, ctx, sel, v)",
		"return childFieldsOf_Extension(ec, ctx, field)",
		"objMarshal_Extension = _Extension\n",
		"objMarshal_Reference = _Reference\n",
		"childFieldsOf_Extension = childFields_Extension\n",
		"objMarshal_Extension    func(*executionContext, context.Context, ast.SelectionSet, *model.Extension) graphql.Marshaler",
		// Closures that only call a method became method values, and those methods stay methods.
		"\t\tec.marshalOReference2ᚖmodelᚐReference,\n",
		"func (ec *executionContext) marshalOReference2ᚖmodelᚐReference(",
		"graphql.ProcessArgField(ctx, rawArgs, \"url\",\n\t\tec.unmarshalOuri2ᚖmodelᚐURI)\n",
		"func (ec *executionContext) unmarshalOuri2ᚖmodelᚐURI(",
		// Methods only ever called became functions.
		"func _Extension_valueReference(ec *executionContext, ctx context.Context,",
		"func field_Extension_extension_args(ec *executionContext, ctx context.Context,",
		"func introspectSchema(ec *executionContext) (",
		"s, _ := introspectSchema(ec)",
		// A method taken as a value stays a method; promoted methods are untouched.
		"func (ec *executionContext) unmarshalInputX(",
		"graphql.BuildUnmarshalerMap(ec.unmarshalInputX)",
		"return ec.Error(ctx, s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, gone := range []string{"ec._Reference(", "ec._Extension(", "ec.childFields_", "ec.marshalOReference2ᚖmodelᚐReference(", "ec.unmarshalOuri2ᚖmodelᚐURI(", "selections ast.SelectionSet, v", "(ec, )"} {
		if strings.Contains(got, gone) {
			t.Errorf("output still has %q", gone)
		}
	}
	if _, err := rewrite(out); err == nil || !strings.Contains(err.Error(), "already reshaped") {
		t.Errorf("rewriting twice: err = %v, want a refusal", err)
	}
}

// TestRewriteLeavesNoCycle builds the static call graph of the rewritten miniature executor and
// checks that no function reaches itself.
func TestRewriteLeavesNoCycle(t *testing.T) {
	out, err := rewrite([]byte(miniExecutor))
	if err != nil {
		t.Fatal(err)
	}
	if cyclic := selfReaching(t, []byte(miniExecutor)); len(cyclic) != 7 {
		t.Errorf("the miniature executor should have 7 functions in cycles before rewriting; found %v", cyclic)
	}
	if cyclic := selfReaching(t, out); len(cyclic) > 0 {
		t.Errorf("functions still reaching themselves: %v", cyclic)
	}
	if _, err := rewrite([]byte(strings.ReplaceAll(miniExecutor, "func (ec *executionContext) _Reference(", "func (ec *executionContext) _Ref("))); err == nil {
		t.Error("a call of an undeclared marshaller was accepted")
	}
}

// selfReaching returns the functions and methods of src that reach themselves through
// references to functions and methods, as the compiler's call graph sees them.
func selfReaching(t *testing.T, src []byte) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "generated.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name == "init" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				calls[fn.Name.Name] = append(calls[fn.Name.Name], id.Name)
			}
			return true
		})
	}
	var reaches func(from, to string, seen map[string]bool) bool
	reaches = func(from, to string, seen map[string]bool) bool {
		for _, c := range calls[from] {
			if c == to {
				return true
			}
			if !seen[c] {
				seen[c] = true
				if reaches(c, to, seen) {
					return true
				}
			}
		}
		return false
	}
	var cyclic []string
	for name := range calls {
		if reaches(name, name, map[string]bool{}) {
			cyclic = append(cyclic, name)
		}
	}
	sort.Strings(cyclic)
	return cyclic
}
