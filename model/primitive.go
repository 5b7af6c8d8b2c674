package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

func unmarshalPrimitive(b []byte, dst *string, typ string, re *regexp.Regexp) error {
	if len(b) == 0 || b[0] != '"' {
		return fmt.Errorf("%w: %s must be a JSON string, got %s", ErrInvalid, typ, truncate(string(b)))
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, typ, err)
	}
	if re != nil && !re.MatchString(s) {
		return fmt.Errorf("%w: %q is not a valid %s", ErrInvalid, truncate(s), typ)
	}
	*dst = s
	return nil
}

func unmarshalGQLString(in any, dst *string, typ string, re *regexp.Regexp) error {
	s, ok := in.(string)
	if !ok {
		return fmt.Errorf("%w: %s must be a string, got %T", ErrInvalid, typ, in)
	}
	if re != nil && !re.MatchString(s) {
		return fmt.Errorf("%w: %q is not a valid %s", ErrInvalid, truncate(s), typ)
	}
	*dst = s
	return nil
}

func writeJSONString(w io.Writer, s string) {
	b, _ := marshalCompact(s)
	w.Write(b)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// UnmarshalJSON accepts a JSON number and keeps its text, so "1.50" is written back as "1.50".
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(b)
	if !reDecimal.MatchString(s) {
		return fmt.Errorf("%w: decimal must be a JSON number, got %s", ErrInvalid, truncate(s))
	}
	*d = Decimal(s)
	return nil
}

// MarshalJSON writes the decimal's digits unchanged.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if !reDecimal.MatchString(string(d)) {
		return nil, fmt.Errorf("%w: %q is not a valid decimal", ErrInvalid, truncate(string(d)))
	}
	return []byte(d), nil
}

// MarshalGQL writes the decimal's digits unchanged, as a JSON number.
func (d Decimal) MarshalGQL(w io.Writer) { io.WriteString(w, string(d)) }

// UnmarshalGQL accepts a number or a numeric string.
func (d *Decimal) UnmarshalGQL(v any) error {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Errorf("%w: decimal must be a number, got %T", ErrInvalid, v)
	}
	if !reDecimal.MatchString(s) {
		return fmt.Errorf("%w: %q is not a valid decimal", ErrInvalid, truncate(s))
	}
	*d = Decimal(s)
	return nil
}

// Float returns the decimal as a float64, for arithmetic where exact digits do not matter.
func (d Decimal) Float() (float64, error) {
	f, err := strconv.ParseFloat(string(d), 64)
	if err != nil {
		return 0, errors.Join(ErrInvalid, err)
	}
	return f, nil
}
