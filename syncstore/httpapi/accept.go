package httpapi

import (
	"strconv"
	"strings"
)

// format is an output format of collection listings (docs/protocol.md §6.5).
type format uint8

// Formats in increasing order of preference when the client accepts
// several with the same quality.
const (
	formatJSON format = iota
	formatNewlines
	formatWhoisi
)

func (f format) contentType() string {
	switch f {
	case formatNewlines:
		return typeNewlines
	case formatWhoisi:
		return typeWhoisi
	}
	return typeJSON
}

// negotiate picks the listing format from an Accept header: media types
// must match exactly (parameters other than q ignored, case-insensitive),
// the highest q wins, ties go to whoisi, then newlines, then JSON, and
// anything else, */* included, means JSON.
func negotiate(accept string) format {
	best, bestQ := formatJSON, 0.0
	for accept != "" {
		var item string
		item, accept, _ = strings.Cut(accept, ",")
		mediaType, params, _ := strings.Cut(item, ";")
		var f format
		switch strings.ToLower(strings.TrimSpace(mediaType)) {
		case typeJSON:
			f = formatJSON
		case typeNewlines:
			f = formatNewlines
		case typeWhoisi:
			f = formatWhoisi
		default:
			continue
		}
		q, ok := quality(params)
		if !ok || q <= 0 {
			continue
		}
		if q > bestQ || (q == bestQ && f > best) {
			best, bestQ = f, q
		}
	}
	return best
}

// quality reads the q parameter of one Accept element (default 1); ok is
// false when it is malformed, which drops the element.
func quality(params string) (float64, bool) {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || q < 0 || q > 1 {
			return 0, false
		}
		return q, true
	}
	return 1, true
}
