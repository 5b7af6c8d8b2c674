package view

import (
	"fmt"
	"strings"

	"github.com/fhirgate/fhirgate/fhirpath"
)

// Kind is how a column's values are represented where a format has types (Parquet): the
// specification's default mapping of FHIR types to ISO/IEC 9075 SQL types, or the type an
// ansi/type tag asks for.
type Kind int

// The kinds, with the SQL type each stands for.
const (
	// KindString is CHARACTER VARYING: every FHIR primitive not listed below (decimal, date and
	// dateTime included, in their FHIR string form), and columns of unknown type.
	KindString Kind = iota
	// KindBoolean is BOOLEAN (boolean).
	KindBoolean
	// KindInt is INT, 32 bits (integer, positiveInt, unsignedInt).
	KindInt
	// KindBigInt is BIGINT (integer64).
	KindBigInt
	// KindTimestamp is TIMESTAMP WITH TIME ZONE (instant), in UTC.
	KindTimestamp
	// KindBinary is BINARY (base64Binary, decoded).
	KindBinary
	// KindDouble is DOUBLE PRECISION, only through an ansi/type tag.
	KindDouble
	// KindDate is DATE, only through an ansi/type tag; the value must be a full date.
	KindDate
	// KindJSON is a complex FHIR type (HumanName, a backbone element): its JSON text where the
	// format has no objects.
	KindJSON
)

var kindNames = [...]string{"CHARACTER VARYING", "BOOLEAN", "INT", "BIGINT", "TIMESTAMP WITH TIME ZONE", "BINARY", "DOUBLE PRECISION", "DATE", "JSON"}

// String returns the SQL type the kind stands for.
func (k Kind) String() string { return kindNames[k] }

// primitiveKinds maps the FHIR primitives whose SQL type is not CHARACTER VARYING.
var primitiveKinds = map[string]Kind{
	"boolean": KindBoolean, "integer": KindInt, "positiveInt": KindInt, "unsignedInt": KindInt,
	"integer64": KindBigInt, "instant": KindTimestamp, "base64Binary": KindBinary,
}

// ansiTypes maps the ansi/type tag values this package honours to kinds.
var ansiTypes = map[string]Kind{
	"CHARACTER VARYING": KindString, "VARCHAR": KindString, "CHAR": KindString, "CHARACTER": KindString, "TEXT": KindString, "STRING": KindString,
	"BOOLEAN": KindBoolean,
	"INT":     KindInt, "INTEGER": KindInt, "SMALLINT": KindInt,
	"BIGINT": KindBigInt,
	"DOUBLE": KindDouble, "DOUBLE PRECISION": KindDouble, "FLOAT": KindDouble, "REAL": KindDouble, "DECIMAL": KindDouble, "NUMERIC": KindDouble,
	"DATE":      KindDate,
	"TIMESTAMP": KindTimestamp, "TIMESTAMP WITH TIME ZONE": KindTimestamp,
	"BINARY": KindBinary, "VARBINARY": KindBinary, "BLOB": KindBinary,
}

// ansiTypeTag is the specification's tag naming a column's SQL type.
const ansiTypeTag = "ansi/type"

// kindOf returns the kind of col: its ansi/type tag's, else its type's.
func kindOf(col Column) (Kind, error) {
	for _, t := range col.Tags {
		if t.Name != ansiTypeTag {
			continue
		}
		sqlType := strings.ToUpper(strings.TrimSpace(t.Value))
		if i := strings.IndexByte(sqlType, '('); i >= 0 { // VARCHAR(64), DECIMAL(10,2)
			sqlType = strings.TrimSpace(sqlType[:i])
		}
		k, ok := ansiTypes[strings.Join(strings.Fields(sqlType), " ")]
		if !ok {
			return 0, fmt.Errorf("tag %s: unsupported SQL type %q", ansiTypeTag, t.Value)
		}
		return k, nil
	}
	if k, ok := primitiveKinds[col.Type]; ok {
		return k, nil
	}
	if isComplex(col.Type) {
		return KindJSON, nil
	}
	return KindString, nil
}

// structureDefinitionBase is the prefix a column type may carry: relative types are FHIR's.
const structureDefinitionBase = "http://hl7.org/fhir/StructureDefinition/"

// columnType returns the FHIR type a column's type element names: a type name
// ("string", "HumanName"), its StructureDefinition URL, or an element path naming a backbone
// element ("Observation.referenceRange").
func columnType(declared string) (string, error) {
	t := strings.TrimPrefix(strings.TrimSpace(declared), structureDefinitionBase)
	if t == "integer64" { // R5's, in the specification's type table; absent from R4's
		return t, nil
	}
	if strings.Contains(t, ".") {
		if typ, ok := fhirpath.PathType(t); ok && typ != "" && isComplex(typ) {
			return typ, nil
		}
		return "", fmt.Errorf("%q names no backbone element of an R4 type", declared)
	}
	if _, ok := fhirpath.PathType(t); !ok || strings.Contains(t, "/") || t == "" {
		return "", fmt.Errorf("%q is not an R4 type", declared)
	}
	return t, nil
}

// isComplex reports whether t is a complex FHIR type (a data type, backbone element or
// resource), whose names start with a capital.
func isComplex(t string) bool { return t != "" && t[0] >= 'A' && t[0] <= 'Z' }

// inferred returns the column type of a path that yields values of the types given: the one
// type when there is one, else "".
func inferred(types []string) string {
	if len(types) == 1 {
		return types[0]
	}
	return ""
}

// Primitive families, for telling a wrong declared type from a narrower or wider one.
var (
	integerTypes = map[string]bool{"integer": true, "positiveInt": true, "unsignedInt": true, "integer64": true}
	numberTypes  = map[string]bool{"integer": true, "positiveInt": true, "unsignedInt": true, "integer64": true, "decimal": true}
)

// fits checks a declared column type against the types the path can yield (those known
// before evaluation): a complex type where the path yields a primitive, or the reverse, a
// boolean for a non-boolean, a number for a non-number or a complex type for another are
// wrong; a primitive for a related one (code for string, decimal for integer, dateTime for
// date) is taken as the declared one.
func fits(declared string, types []string) error {
	for _, t := range types {
		if t == "" || t == declared {
			continue
		}
		switch {
		case isComplex(declared) != isComplex(t):
			return fmt.Errorf("declared %s, but the path yields %s", declared, t)
		case isComplex(declared):
			if !fhirpath.Specialises(t, declared) {
				return fmt.Errorf("declared %s, but the path yields %s", declared, t)
			}
		case (declared == "boolean") != (t == "boolean"):
			return fmt.Errorf("declared %s, but the path yields %s", declared, t)
		case integerTypes[declared] && !integerTypes[t], declared == "decimal" && !numberTypes[t]:
			return fmt.Errorf("declared %s, but the path yields %s", declared, t)
		}
	}
	return nil
}
