package httpapi

import (
	"strings"

	"golang.org/x/net/idna"
)

// maxEmailLen is the longest address the users table holds.
const maxEmailLen = 255

// validEmail is the Reference's notion of a plausible address (docs/protocol.md
// §8.3): a conventional local part (dot-separated atoms, or one quoted
// string), "@", and a domain that is a dotted quad or two or more labels
// ending in an alphabetic (or IDNA) top-level domain. Internationalised
// domains are checked in their ASCII form.
func validEmail(s string) bool {
	if len(s) == 0 || len(s) > maxEmailLen {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	return validLocalPart(s[:at]) && validDomain(s[at+1:])
}

func validLocalPart(s string) bool {
	if len(s) >= 3 && s[0] == '"' && s[len(s)-1] == '"' {
		return !strings.ContainsAny(s[1:len(s)-1], "\"\r\n")
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for _, c := range atom {
			if c <= ' ' || c == 0x7f || strings.ContainsRune(`<>()[]\,;:@"`, c) {
				return false
			}
		}
	}
	return true
}

func validDomain(s string) bool {
	if isDottedQuad(s) {
		return true
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return false
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(strings.ToLower(tld), "xn--") {
		return true
	}
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDottedQuad(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
