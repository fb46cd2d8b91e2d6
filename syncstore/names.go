package syncstore

import "strings"

// Limits on names and ids (docs/protocol.md §2.2, §9).
const (
	MaxUsernameLen   = 32
	MaxCollectionLen = 32
	MaxIDLen         = 64
)

// ValidUsername reports whether s is 1–32 characters of [A-Za-z0-9._-].
func ValidUsername(s string) bool {
	return validName(s, MaxUsernameLen)
}

// ValidCollection reports whether s is 1–32 characters of [A-Za-z0-9._-].
func ValidCollection(s string) bool {
	return validName(s, MaxCollectionLen)
}

func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidID reports whether s can name a record: 1–64 bytes of printable
// ASCII without '/' (it would split the URL) or ',' (it would split the
// ids= filter). Braces are allowed because older clients stored GUIDs such
// as {6820f3ca-…}.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '/' || c == ',' {
			return false
		}
	}
	return true
}

// NormalizeUsername is the form usernames are stored and compared in: the
// protocol compares them case-insensitively (docs/protocol.md §2.4), legacy
// databases hold them as first typed.
func NormalizeUsername(s string) string {
	return strings.ToLower(s)
}

// StandardCollections are the collection names with fixed ids, shared with
// Mozilla's PHP and Python servers (docs/protocol.md §10.1). Other names get ids
// from FirstCustomCollectionID upwards.
var standardCollections = [...]string{
	1: "clients", 2: "crypto", 3: "forms", 4: "history", 5: "keys",
	6: "meta", 7: "bookmarks", 8: "prefs", 9: "tabs", 10: "passwords",
	11: "addons",
}

// FirstCustomCollectionID is the id given to the first collection name that
// is not standard (PHP 1.0 used the same).
const FirstCustomCollectionID = 101

// StandardCollectionID returns the fixed id of a standard collection name.
func StandardCollectionID(name string) (int, bool) {
	for id, n := range standardCollections {
		if n != "" && n == name {
			return id, true
		}
	}
	return 0, false
}

// StandardCollectionName returns the name of a fixed collection id.
func StandardCollectionName(id int) (string, bool) {
	if id <= 0 || id >= len(standardCollections) || standardCollections[id] == "" {
		return "", false
	}
	return standardCollections[id], true
}
