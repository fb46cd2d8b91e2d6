package httpapi

// forEachElement calls fn with the text of each element of a JSON array.
// data must be valid JSON starting with '[' (json.Valid checked it), so
// only strings and nesting need tracking; elements are passed without
// being copied or decoded.
func forEachElement(data []byte, fn func(elem []byte)) {
	i := skipSpace(data, 1)
	if i >= len(data) || data[i] == ']' {
		return
	}
	for i < len(data) {
		start := i
		depth := 0
	scan:
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i)
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 {
					break scan
				}
				depth--
			case ',':
				if depth == 0 {
					break scan
				}
			}
		}
		fn(trimSpaceRight(data[start:i]))
		if i >= len(data) || data[i] == ']' {
			return
		}
		i = skipSpace(data, i+1) // past the comma
	}
}

// countElements counts the elements of a JSON array like forEachElement,
// to size the record slice once.
func countElements(data []byte) int {
	n := 0
	forEachElement(data, func([]byte) { n++ })
	return n
}

// skipString returns the index of the closing quote of the string that
// starts at data[i].
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
