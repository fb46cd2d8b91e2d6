package mysqlstore

import "strings"

// splitStatements cuts a migration script into statements at the
// semicolons that are outside string literals, quoted identifiers and
// comments, so a ';' inside a quoted default value or a comment does not
// split a statement. Pieces holding only whitespace and comments are
// dropped. Scripts with DELIMITER (stored routines) are not supported.
func splitStatements(script string) []string {
	var stmts []string
	start := 0
	hasCode := false // the current piece has something besides comments
	flush := func(end int) {
		if hasCode {
			stmts = append(stmts, strings.TrimSpace(script[start:end]))
		}
		start, hasCode = end+1, false
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c == ';':
			flush(i)
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(script, i)
			hasCode = true
		case c == '#', c == '-' && strings.HasPrefix(script[i:], "--") && (i+2 == len(script) || isSpace(script[i+2])):
			if nl := strings.IndexByte(script[i:], '\n'); nl >= 0 {
				i += nl
			} else {
				i = len(script)
			}
		case c == '/' && strings.HasPrefix(script[i:], "/*"):
			if end := strings.Index(script[i+2:], "*/"); end >= 0 {
				i += 2 + end + 1
			} else {
				i = len(script)
			}
		case !isSpace(c):
			hasCode = true
		}
	}
	if start < len(script) {
		flush(len(script))
	}
	return stmts
}

// skipQuoted returns the index of the quote closing the literal opened at
// script[open]. A doubled quote is an escaped quote; in string literals
// (not identifiers) so is a backslash-escaped character.
func skipQuoted(script string, open int) int {
	q := script[open]
	for i := open + 1; i < len(script); i++ {
		switch script[i] {
		case '\\':
			if q != '`' {
				i++
			}
		case q:
			if i+1 < len(script) && script[i+1] == q {
				i++
				continue
			}
			return i
		}
	}
	return len(script)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
