package fhirpath

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Error reports a problem compiling or evaluating an expression. Compile
// returns it for every syntax error and for every construct outside the
// supported subset, so callers can tell a typo from an unsupported feature
// only by reading Msg; both are fatal for that expression.
type Error struct {
	// Expr is the expression text as given to Compile.
	Expr string
	// Pos is the 0-based byte offset in Expr where the problem was found;
	// it equals len(Expr) when the expression ended too early. It is -1
	// for evaluation errors, which have no single position.
	Pos int
	// Msg describes what was found and, for syntax errors, what was expected.
	Msg string
}

// Error formats the error with its position and the expression.
func (e *Error) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("fhirpath: %s (in %q)", e.Msg, e.Expr)
	}
	return fmt.Sprintf("fhirpath: offset %d: %s (in %q)", e.Pos, e.Msg, e.Expr)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDollar  // $this, $index, $total
	tPercent // %resource, %context, %'quoted', ...
	tPunct
	tDate // @2014-01-25T14:30, @T14:30 (text without the @)
)

type token struct {
	kind tokKind
	text string // identifier name, decoded string, number text, or punctuation
	pos  int
	// quoted is true for `delimited` identifiers, which are never keywords.
	quoted bool
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tString:
		return fmt.Sprintf("string literal '%s'", t.text)
	case tNumber:
		return fmt.Sprintf("number %s", t.text)
	case tDollar:
		return "$" + t.text
	case tPercent:
		return "%" + t.text
	case tDate:
		return "@" + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') }

func lex(src string) ([]token, error) {
	var toks []token
	errAt := func(pos int, format string, args ...any) error {
		return &Error{Expr: src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errAt(i, "unterminated /* comment")
			}
			i += 2 + end + 2
		case c == '@':
			m := reDateLiteral.FindString(src[i+1:])
			if m == "" {
				return nil, errAt(i, "expected a date, dateTime or time after '@'")
			}
			toks = append(toks, token{kind: tDate, text: m, pos: i})
			i += 1 + len(m)
		case c == '%' && i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '`'):
			s, n, err := lexQuoted(src, i+1, src[i+1])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tPercent, text: s, pos: i, quoted: true})
			i = n
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], pos: i})
			i = j
		case c == '`':
			s, n, err := lexQuoted(src, i, '`')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tIdent, text: s, pos: i, quoted: true})
			i = n
		case c == '\'':
			s, n, err := lexQuoted(src, i, '\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: s, pos: i})
			i = n
		case '0' <= c && c <= '9':
			j := i
			for j < len(src) && '0' <= src[j] && src[j] <= '9' {
				j++
			}
			if j+1 < len(src) && src[j] == '.' && '0' <= src[j+1] && src[j+1] <= '9' {
				j++
				for j < len(src) && '0' <= src[j] && src[j] <= '9' {
					j++
				}
			}
			toks = append(toks, token{kind: tNumber, text: src[i:j], pos: i})
			i = j
		case c == '$' || c == '%':
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			if j == i+1 {
				return nil, errAt(i, "expected a name after %q", c)
			}
			if w := src[i+1 : j]; c == '%' && (w == "vs" || w == "ext") && j < len(src) && src[j] == '-' {
				// %vs-[name] and %ext-[name]: the name may hold '-' and '.'.
				for j++; j < len(src) && (isIdentPart(src[j]) || src[j] == '-' || src[j] == '.'); j++ {
				}
			}
			k := tDollar
			if c == '%' {
				k = tPercent
			}
			toks = append(toks, token{kind: k, text: src[i+1 : j], pos: i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "!=", "<=", ">=", "!~":
				toks = append(toks, token{kind: tPunct, text: two, pos: i})
				i += 2
				continue
			}
			if strings.IndexByte(".()[]{}|=,<>~+-*/&", c) >= 0 {
				toks = append(toks, token{kind: tPunct, text: string(c), pos: i})
				i++
				continue
			}
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, errAt(i, "unexpected character %q", r)
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(src)})
	return toks, nil
}

// lexQuoted decodes a quoted string or delimited identifier starting at
// src[start] (the opening quote) and returns it with the offset after the
// closing quote. Escapes follow the FHIRPath specification.
func lexQuoted(src string, start int, quote byte) (string, int, error) {
	var b strings.Builder
	i := start + 1
	for i < len(src) {
		c := src[i]
		if c == quote {
			return b.String(), i + 1, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(src) {
			break
		}
		e := src[i+1]
		switch e {
		case '\'', '"', '`', '\\', '/':
			b.WriteByte(e)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+6 > len(src) {
				return "", 0, &Error{Expr: src, Pos: i, Msg: `expected 4 hex digits after \u`}
			}
			var r rune
			for _, h := range src[i+2 : i+6] {
				var d rune
				switch {
				case '0' <= h && h <= '9':
					d = h - '0'
				case 'a' <= h && h <= 'f':
					d = h - 'a' + 10
				case 'A' <= h && h <= 'F':
					d = h - 'A' + 10
				default:
					return "", 0, &Error{Expr: src, Pos: i, Msg: `expected 4 hex digits after \u`}
				}
				r = r*16 + d
			}
			b.WriteRune(r)
			i += 6
			continue
		default:
			return "", 0, &Error{Expr: src, Pos: i, Msg: fmt.Sprintf("unknown escape sequence \\%c", e)}
		}
		i += 2
	}
	return "", 0, &Error{Expr: src, Pos: start, Msg: fmt.Sprintf("unterminated %c-quoted literal", quote)}
}

// reDateLiteral matches the text of a date/time literal after its @; parseMoment checks
// the values.
var reDateLiteral = regexp.MustCompile(`^(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?|\d{4}(?:-\d{2}(?:-\d{2})?)?(?:T(?:\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)`)

type parser struct {
	src     string
	toks    []token
	i       int
	depth   int
	usesNow bool // a call of now(), today() or timeOfDay() was parsed
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &Error{Expr: p.src, Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expectPunct(s string) (token, error) {
	t := p.next()
	if t.kind != tPunct || t.text != s {
		return t, p.errf(t, "expected %q, found %s", s, t)
	}
	return t, nil
}

// binaryOps gives the precedence of each binary operator, loosest first, as the
// FHIRPath specification orders them; unary + and - bind tighter than all of them and
// looser than '.' and the indexer.
var binaryOps = map[string]int{
	"implies": 1,
	"or":      2, "xor": 2,
	"and": 3,
	"in":  4, "contains": 4,
	"=": 5, "!=": 5, "~": 5, "!~": 5,
	"<": 6, ">": 6, "<=": 6, ">=": 6,
	"|":  7,
	"is": 8, "as": 8,
	"+": 9, "-": 9, "&": 9,
	"*": 10, "/": 10, "div": 10, "mod": 10,
}

// binaryOp returns the operator spelled by t when t is in operator position.
func binaryOp(t token) (string, int, bool) {
	if (t.kind == tPunct || (t.kind == tIdent && !t.quoted)) && t.text != "" {
		if prec, ok := binaryOps[t.text]; ok {
			return t.text, prec, true
		}
	}
	return "", 0, false
}

// maxDepth bounds the nesting of an expression, so a hostile one cannot exhaust the stack.
const maxDepth = 200

func (p *parser) parseExpr(minPrec int) (node, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, p.errf(p.peek(), "expression nested more than %d deep", maxDepth)
	}
	defer func() { p.depth-- }()
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op, prec, ok := binaryOp(t)
		if !ok || prec < minPrec {
			return left, nil
		}
		p.next()
		if op == "is" || op == "as" {
			typ, err := p.parseTypeSpec()
			if err != nil {
				return nil, err
			}
			left = &typeOpNode{op: op, arg: left, typ: typ, types: newTypeTest(typ)}
			continue
		}
		right, err := p.parseExpr(prec + 1)
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: op, l: left, r: right}
	}
}

// parseUnary parses a polarity expression: + or - applied to a postfix expression.
func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	if t.kind == tPunct && (t.text == "-" || t.text == "+") {
		p.next()
		if p.depth++; p.depth > maxDepth {
			return nil, p.errf(t, "expression nested more than %d deep", maxDepth)
		}
		defer func() { p.depth-- }()
		arg, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: t.text, arg: arg}, nil
	}
	return p.parsePostfix()
}

// parseTypeSpec parses a type specifier: Name, FHIR.Name or System.Name.
func (p *parser) parseTypeSpec() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", p.errf(t, "expected a type name, found %s", t)
	}
	name := t.text
	if n := p.peek(); n.kind == tPunct && n.text == "." {
		p.next()
		t2 := p.next()
		if t2.kind != tIdent {
			return "", p.errf(t2, "expected a type name after %q, found %s", name+".", t2)
		}
		switch name {
		case "FHIR":
			return t2.text, nil
		case "System":
			if sys, ok := systemTypes[t2.text]; ok {
				return sys, nil
			}
			return "", p.errf(t2, "unknown System type %q", t2.text)
		default:
			return "", p.errf(t, "unknown type namespace %q (expected FHIR or System)", name)
		}
	}
	if sys, ok := systemTypes[name]; ok {
		return sys, nil // an unqualified System type name (String, Integer, ...)
	}
	return name, nil
}

// systemTypes maps FHIRPath System types to the FHIR type that holds them.
var systemTypes = map[string]string{
	"String": "string", "Boolean": "boolean", "Integer": "integer",
	"Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time",
	"Quantity": "Quantity",
}

// identifierKeywords are the operators the grammar also accepts as identifiers.
var identifierKeywords = map[string]bool{"as": true, "contains": true, "in": true, "is": true}

func (p *parser) parsePostfix() (node, error) {
	n, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct {
			return n, nil
		}
		switch t.text {
		case ".":
			p.next()
			name := p.next()
			if name.kind != tIdent {
				return nil, p.errf(name, "expected a name after '.', found %s", name)
			}
			if a := p.peek(); a.kind == tPunct && a.text == "(" && !name.quoted {
				n, err = p.parseCall(n, name)
				if err != nil {
					return nil, err
				}
				continue
			}
			n = &memberNode{target: n, name: name.text, key: newMemberKey(name.text)}
		case "[":
			p.next()
			if c := p.peek(); c.kind == tPunct && c.text == "]" {
				return nil, p.errf(c, "expected an index expression, found %s", c)
			}
			idx, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectPunct("]"); err != nil {
				return nil, err
			}
			n = &indexNode{target: n, idx: idx}
		default:
			return n, nil
		}
	}
}

func (p *parser) parseTerm() (node, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return &literalNode{v: Value{Data: t.text, Type: "string"}}, nil
	case tNumber:
		return p.parseNumber(t)
	case tDate:
		m, ok := parseMoment(t.text, "")
		if !ok {
			return nil, p.errf(t, "invalid date/time literal %s", t)
		}
		return &literalNode{v: Value{Data: m.String(), Type: m.kind}}, nil
	case tDollar:
		switch t.text {
		case "this":
			return &thisNode{}, nil
		case "index":
			return &indexVarNode{}, nil
		case "total":
			return &totalNode{}, nil
		}
		return nil, p.errf(t, "unknown variable $%s (expected $this, $index or $total)", t.text)
	case tPercent:
		switch t.text {
		case "resource", "rootResource", "context":
			return &rootNode{name: t.text}, nil
		}
		return &varNode{name: t.text}, nil
	case tIdent:
		if !t.quoted {
			switch t.text {
			case "true", "false":
				return &literalNode{v: Value{Data: t.text == "true", Type: "boolean"}}, nil
			}
			if a := p.peek(); a.kind == tPunct && a.text == "(" {
				return p.parseCall(nil, t) // as(), is(), contains() are functions too
			}
			if _, _, isOp := binaryOp(t); isOp && !identifierKeywords[t.text] {
				return nil, p.errf(t, "expected an expression, found operator %q", t.text)
			}
		}
		return newIdentNode(t.text), nil
	case tPunct:
		switch t.text {
		case "(":
			n, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return n, nil
		case "{":
			if _, err := p.expectPunct("}"); err != nil {
				return nil, err
			}
			return &literalNode{empty: true}, nil
		}
	}
	return nil, p.errf(t, "expected an expression, found %s", t)
}

// parseNumber parses an Integer or Decimal literal, or a Quantity when a unit follows:
// a UCUM unit as a string ('mg') or a calendar duration keyword (days).
func (p *parser) parseNumber(t token) (node, error) {
	typ := "integer"
	if strings.Contains(t.text, ".") {
		typ = "decimal"
	}
	n := p.peek()
	switch {
	case n.kind == tString:
		p.next()
		return &literalNode{v: Value{Data: map[string]any{"value": json.Number(t.text), "unit": n.text, "system": ucumSystem, "code": n.text}, Type: "Quantity"}}, nil
	case n.kind == tIdent && !n.quoted && calendarUnits[n.text] != "":
		p.next()
		return &literalNode{v: Value{Data: map[string]any{"value": json.Number(t.text), "unit": n.text}, Type: "Quantity"}}, nil
	}
	if typ == "integer" {
		if _, ok := parseNum(t.text); !ok || len(t.text) > 19 {
			return nil, p.errf(t, "integer literal %s out of range", t.text)
		}
	}
	return &literalNode{v: Value{Data: json.Number(t.text), Type: typ}}, nil
}

// parseCall parses the argument list of function name applied to target
// (nil when the call starts a term and applies to the focus).
func (p *parser) parseCall(target node, name token) (node, error) {
	spec, ok := functions[name.text]
	if !ok {
		return nil, p.errf(name, "unsupported function %q (supported: %s)", name.text, supportedFunctionList())
	}
	switch name.text {
	case "now", "today", "timeOfDay":
		p.usesNow = true
	}
	p.next() // (
	c := &callNode{target: target, name: name.text, what: name.text + "()", fn: spec}
	got := 0
	for {
		if t := p.peek(); t.kind == tPunct && t.text == ")" {
			break
		}
		if got > 0 {
			if t := p.next(); t.kind != tPunct || t.text != "," {
				return nil, p.errf(t, "expected \",\" or \")\" in the arguments of %s(), found %s", name.text, t)
			}
		}
		at := p.peek()
		if got >= spec.maxArgs {
			if spec.maxArgs == 0 {
				return nil, p.errf(at, "%s() takes no arguments", name.text)
			}
			if spec.maxArgs == 1 {
				return nil, p.errf(at, "%s() takes at most one argument", name.text)
			}
			return nil, p.errf(at, "%s() takes at most %d arguments", name.text, spec.maxArgs)
		}
		switch spec.arg {
		case argType:
			if t := p.peek(); spec.typeString && t.kind == tString {
				p.next()
				c.typ, c.types = t.text, newTypeTest(t.text)
				break
			}
			typ, err := p.parseTypeSpec()
			if err != nil {
				return nil, err
			}
			c.typ, c.types = typ, newTypeTest(typ)
		default:
			a, err := p.parseExpr(0)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
		}
		got++
	}
	closing := p.next()
	if got < spec.minArgs {
		return nil, p.errf(closing, "%s() needs %d argument(s), found %d", name.text, spec.minArgs, got)
	}
	fuse(c)
	return c, nil
}
