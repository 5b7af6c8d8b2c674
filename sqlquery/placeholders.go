package sqlquery

import "strings"

// Placeholders rewrites the :name placeholders of a SQL on FHIR SQLQuery library (its
// examples write WHERE city = :city) as DuckDB's $name, for the names given (the library's
// declared parameters) only. It leaves alone what is not a placeholder: text in string
// literals ('...', E'...', $tag$...$tag$), quoted identifiers, comments, casts (x::INTEGER)
// and any :word that is not a declared name.
func Placeholders(sql string, names []string) string {
	if len(names) == 0 || !strings.Contains(sql, ":") {
		return sql
	}
	declared := map[string]bool{}
	for _, n := range names {
		declared[n] = true
	}
	var b strings.Builder
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"':
			i = copyQuoted(&b, sql, i, c)
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			b.WriteString(sql[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				end = len(sql) - i
			} else {
				end += 4
			}
			b.WriteString(sql[i : i+end])
			i += end
		case c == '$':
			i = copyDollarQuoted(&b, sql, i)
		case c == ':' && (i == 0 || sql[i-1] != ':') && i+1 < len(sql) && isNameStart(sql[i+1]):
			j := i + 1
			for j < len(sql) && isNamePart(sql[j]) {
				j++
			}
			if declared[sql[i+1:j]] {
				b.WriteByte('$')
			} else {
				b.WriteByte(':')
			}
			b.WriteString(sql[i+1 : j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// copyQuoted copies the literal or identifier opened by quote at i, where a doubled quote
// stands for itself, and returns the index after it.
func copyQuoted(b *strings.Builder, sql string, i int, quote byte) int {
	j := i + 1
	for j < len(sql) {
		if sql[j] == quote {
			if j+1 < len(sql) && sql[j+1] == quote {
				j += 2
				continue
			}
			j++
			break
		}
		if sql[j] == '\\' && quote == '\'' && i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') {
			j++ // E'...' strings escape with a backslash
		}
		j++
	}
	j = min(j, len(sql))
	b.WriteString(sql[i:j])
	return j
}

// copyDollarQuoted copies a $tag$...$tag$ string starting at i, or only the $ when none
// starts there (a $name or $1 parameter), and returns the index after what it copied.
func copyDollarQuoted(b *strings.Builder, sql string, i int) int {
	j := i + 1
	for j < len(sql) && isNamePart(sql[j]) && !(sql[j] >= '0' && sql[j] <= '9' && j == i+1) {
		j++
	}
	if j >= len(sql) || sql[j] != '$' {
		b.WriteByte('$')
		return i + 1
	}
	tag := sql[i : j+1]
	end := strings.Index(sql[j+1:], tag)
	if end < 0 {
		b.WriteString(sql[i:])
		return len(sql)
	}
	stop := j + 1 + end + len(tag)
	b.WriteString(sql[i:stop])
	return stop
}

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isNamePart(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' }
