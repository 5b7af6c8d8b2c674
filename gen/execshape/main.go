// Command execshape reshapes gqlgen's executor so that the Go compiler builds it in half
// the time, without changing what it does. It runs after go tool gqlgen generate:
//
//	go run ./gen/execshape graph/generated.go
//
// The FHIR executor has some 36,000 methods on one type and tens of thousands of functions and
// closures in one cycle of the call graph, and the compiler has costs that grow faster than
// linearly in both:
//
//   - Cycles. gqlgen renders a value of object type by calling the type's marshaller directly
//     (ec._HumanName) and finds a field's child fields the same way (ec.childFields_HumanName).
//     In FHIR every data type reaches Extension, Extension reaches every data type, and
//     Reference.resource reaches every resource type, so the whole executor is one strongly
//     connected component, which escape analysis handles as one batch in superlinear time.
//     Those two kinds of call go through function variables assigned in init instead, which
//     leaves every function a component of its own.
//   - Closures. gqlgen wraps each argument's decoder and each field's value marshaller in a
//     closure of its own at every use: 37,000 closures that call one of 1,400 methods. They
//     become method values (ec.unmarshalOString2ᚖstring), which the compiler builds once per
//     method; a method value allocates at run time just as the closure it replaces did.
//   - Methods. Looking a method up, while type-checking and again while building the IR, scans
//     the receiver's method list, so 36,000 methods make every ec.x call slow to compile. Every
//     method of the executor that is only ever called (never taken as a method value) becomes a
//     plain function taking the execution context as its first argument.
//
// An indirect call costs a few nanoseconds per rendered object; nothing else changes at run time.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"regexp"
	"sort"
)

const (
	ident  = `[\p{L}\p{N}_]+`
	marker = "// Calls that would close cycles in the call graph go through these variables (see gen/execshape)."
)

var (
	// methodDecl matches the start of a method of the executor: func (ec *executionContext) _Patient_name(
	methodDecl = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) (` + ident + `)\(`)
	// methodRef matches any use of a method of ec, a call when followed by a parenthesis.
	methodRef = regexp.MustCompile(`\bec\.(` + ident + `)(\(?)`)
	// objDecl matches an object or interface marshaller: func (ec *executionContext) _Patient(ctx context.Context, sel ast.SelectionSet, obj *model.Patient) graphql.Marshaler {
	objDecl = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) _([A-Z][A-Za-z0-9]*)\(ctx context\.Context, sel ast\.SelectionSet, obj ([^)]+)\) graphql\.Marshaler \{$`)
	// objCall matches a call of one: ec._Patient(ctx, sel, v)
	objCall = regexp.MustCompile(`\bec\._([A-Z][A-Za-z0-9]*)\(ctx, sel, `)
	// childDecl matches the method that finds a field's child field context.
	childDecl = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) childFields_([A-Za-z0-9]+)\(ctx context\.Context, field graphql\.CollectedField\) \(\*graphql\.FieldContext, error\) \{$`)
	// childCall matches a call of one: ec.childFields_HumanName(ctx, field)
	childCall = regexp.MustCompile(`\bec\.childFields_([A-Za-z0-9]+)\(ctx, field\)`)
	// argClosure matches the closure that decodes one argument; submatch 1 is its method.
	argClosure = regexp.MustCompile(`func\(ctx context\.Context, v any\) \([^\n]*, error\) \{\n\t+return ec\.(unmarshal` + ident + `)\(ctx, v\)\n\t+\}\)`)
	// marshalClosure matches the closure that renders a field's value; submatch 1 is its method.
	marshalClosure = regexp.MustCompile(`func\(ctx context\.Context, selections ast\.SelectionSet, v [^\n]*\) graphql\.Marshaler \{\n\t+return ec\.(marshal` + ident + `)\(ctx, selections, v\)\n\t+\},`)
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: execshape <gqlgen executor file>")
		os.Exit(2)
	}
	if err := rewriteFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "execshape:", err)
		os.Exit(1)
	}
}

func rewriteFile(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewrite(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// rewrite returns the reshaped executor.
func rewrite(src []byte) ([]byte, error) {
	if bytes.Contains(src, []byte(marker)) {
		return nil, fmt.Errorf("already reshaped; regenerate it with gqlgen first")
	}
	src, objs, children, err := cutCycles(src)
	if err != nil {
		return nil, err
	}
	src = closuresToMethodValues(src)
	src, funcs := methodsToFuncs(src)
	if len(funcs) < len(objs) {
		return nil, fmt.Errorf("only %d methods could become functions: has gqlgen's output changed?", len(funcs))
	}

	// Only the appended declarations need formatting; gqlgen's output already is.
	ref := func(name string) string {
		if funcs[name] {
			return name
		}
		return "(*executionContext)." + name
	}
	var b bytes.Buffer
	b.WriteString("package p\n\n" + marker + "\nvar (\n")
	for _, name := range sortedKeys(objs) {
		fmt.Fprintf(&b, "\tobjMarshal_%s func(*executionContext, context.Context, ast.SelectionSet, %s) graphql.Marshaler\n", name, objs[name])
	}
	for _, name := range sortedKeys(children) {
		fmt.Fprintf(&b, "\tchildFieldsOf_%s func(*executionContext, context.Context, graphql.CollectedField) (*graphql.FieldContext, error)\n", name)
	}
	b.WriteString(")\n\nfunc init() {\n")
	for _, name := range sortedKeys(objs) {
		fmt.Fprintf(&b, "\tobjMarshal_%s = %s\n", name, ref("_"+name))
	}
	for _, name := range sortedKeys(children) {
		fmt.Fprintf(&b, "\tchildFieldsOf_%s = %s\n", name, ref("childFields_"+name))
	}
	b.WriteString("}\n")
	decls, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the variables: %w", err)
	}
	decls = bytes.TrimPrefix(decls, []byte("package p\n"))
	return append(append(bytes.TrimRight(src, "\n"), '\n'), decls...), nil
}

// cutCycles routes every call of an object marshaller or of a childFields method through a
// package variable. It returns the marshallers called (name to object Go type) and the
// childFields methods called.
func cutCycles(src []byte) (out []byte, objs map[string]string, children map[string]string, err error) {
	declared := map[string]string{}
	for _, m := range objDecl.FindAllSubmatch(src, -1) {
		declared[string(m[1])] = string(m[2])
	}
	hasChildren := map[string]bool{}
	for _, m := range childDecl.FindAllSubmatch(src, -1) {
		hasChildren[string(m[1])] = true
	}
	if len(declared) == 0 || len(hasChildren) == 0 {
		return nil, nil, nil, fmt.Errorf("no object marshallers or childFields methods found: has gqlgen's output changed?")
	}
	objs, children = map[string]string{}, map[string]string{}
	var missing []string
	src = objCall.ReplaceAllFunc(src, func(call []byte) []byte {
		name := string(objCall.FindSubmatch(call)[1])
		typ, ok := declared[name]
		if !ok {
			missing = append(missing, "_"+name)
			return call
		}
		objs[name] = typ
		return []byte("objMarshal_" + name + "(ec, ctx, sel, ")
	})
	src = childCall.ReplaceAllFunc(src, func(call []byte) []byte {
		name := string(childCall.FindSubmatch(call)[1])
		if !hasChildren[name] {
			missing = append(missing, "childFields_"+name)
			return call
		}
		children[name] = name
		return []byte("childFieldsOf_" + name + "(ec, ctx, field)")
	})
	if len(missing) > 0 {
		return nil, nil, nil, fmt.Errorf("calls of undeclared methods: %v", missing)
	}
	return src, objs, children, nil
}

// closuresToMethodValues replaces the closures that only call one method of ec with that
// method's value.
func closuresToMethodValues(src []byte) []byte {
	src = argClosure.ReplaceAll(src, []byte("ec.$1)"))
	return marshalClosure.ReplaceAll(src, []byte("ec.$1,"))
}

// methodsToFuncs turns every method of the executor that is only ever called into a function
// whose first parameter is the execution context, and returns the names it turned.
func methodsToFuncs(src []byte) ([]byte, map[string]bool) {
	funcs := map[string]bool{}
	for _, m := range methodDecl.FindAllSubmatch(src, -1) {
		funcs[string(m[1])] = true
	}
	for _, m := range methodRef.FindAllSubmatch(src, -1) {
		if len(m[2]) == 0 { // a method value: it has to stay a method
			delete(funcs, string(m[1]))
		}
	}
	src = methodDecl.ReplaceAllFunc(src, func(decl []byte) []byte {
		name := string(methodDecl.FindSubmatch(decl)[1])
		if !funcs[name] {
			return decl
		}
		return []byte("func " + name + "(ec *executionContext, ")
	})
	src = methodRef.ReplaceAllFunc(src, func(call []byte) []byte {
		name := string(methodRef.FindSubmatch(call)[1])
		if !funcs[name] {
			return call
		}
		return []byte(name + "(ec, ")
	})
	// A method without parameters became f(ec, ) and func f(ec *executionContext, ).
	src = bytes.ReplaceAll(src, []byte("(ec, )"), []byte("(ec)"))
	src = bytes.ReplaceAll(src, []byte("(ec *executionContext, )"), []byte("(ec *executionContext)"))
	return src, funcs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
