package legacytest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// User is a legacy account with its records, as the PHP server stores it.
type User struct {
	ID           int64 // Mozilla users.id; 0 for FSyncMS
	Name         string
	Password     string // the clear text the hash was made from
	PasswordHash string
	Email        *string
	Status       *int64
	Alert, Reset *string
	// Collections: Mozilla custom collection ids (>= 101).
	Collections map[string]int
	Records     []Record
}

// Record is one stored WBO. Modified is in centiseconds.
type Record struct {
	Collection    string
	ID            string
	Modified      int64
	SortIndex     *int64
	ParentID      *string
	PredecessorID *string
	Payload       *string
}

// Spec says how much data to generate.
type Spec struct {
	// Records per user; the first user gets Records[0], and so on; users
	// past the end of the slice get the last value.
	Records []int
	Users   int
	// BigPayloads is how many records per user get the largest payload
	// the schema holds (FSyncMS TEXT: 65,535 bytes; Mozilla: 262,144).
	BigPayloads int
	// BcryptCost for bcrypt hashes (0: 10).
	BcryptCost int
	// SmallPayloads keeps every payload at 200–600 bytes (typical history
	// and form records) instead of the heavy-tailed mix, for benchmarks
	// with many users.
	SmallPayloads bool
}

// standardWeights spreads records over the standard collections the way
// real accounts are (history and bookmarks dominate).
var standardWeights = []struct {
	name   string
	weight int
}{{"history", 45}, {"bookmarks", 30}, {"forms", 12}, {"passwords", 5}, {"prefs", 1}, {"tabs", 2}, {"clients", 2}, {"addons", 3}}

// names: mixed-case plain names as first typed in the URL, and the
// usual derived form (base32 of the SHA-1 of the e-mail).
var names = []string{"Alice.Smith", "7qrzrjz52vgwen6e7w2y7v6xknd46wxt", "BOB_99", "carol-Jones", "dave", "Eve.Example"}

// MaxPayload is the largest payload a layout's column and server accept.
func (l Layout) MaxPayload() int {
	if l.Variant == FSyncMS {
		return 65535
	}
	return 262144
}

// Generate makes reproducible users for layout l.
func Generate(seed uint64, l Layout, spec Spec) []User {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cost := spec.BcryptCost
	if cost == 0 {
		cost = 10
	}
	users := make([]User, spec.Users)
	for i := range users {
		u := &users[i]
		u.Name = names[i%len(names)]
		if i >= len(names) {
			u.Name = fmt.Sprintf("User.%04d", i)
		}
		u.Password = fmt.Sprintf("pw-%d-%x", i, rng.Uint32())
		u.PasswordHash = hashFor(l, i, u.Password, cost, rng)
		if l.Variant == Mozilla {
			u.ID = int64(i*7 + 3) // gaps, and users spread over the shards
			if i != 2 {
				e := strings.ToLower(u.Name) + "@example.com"
				u.Email = &e
			}
			one := int64(1)
			u.Status = &one
			if i == 1 {
				a := "Your account moves to a new server on Sunday."
				u.Alert = &a
			}
			u.Collections = map[string]int{}
		}
		n := spec.Records[min(i, len(spec.Records)-1)]
		u.Records = genRecords(rng, l, u, n, spec.BigPayloads, spec.SmallPayloads)
	}
	return users
}

// hashFor cycles through the hash formats each server stored.
func hashFor(l Layout, i int, pw string, cost int, rng *rand.Rand) string {
	switch {
	case l.Variant == FSyncMS && i%2 == 0:
		h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
		if err != nil {
			panic(err)
		}
		return string(h) // "$2a$…", as PHP's crypt() wrote it
	case l.Variant == Mozilla && i%2 == 0:
		salt := make([]byte, 8)
		for j := range salt {
			salt[j] = byte(rng.Uint32())
		}
		sum := sha256.Sum256(append([]byte(pw), salt...))
		return "{SSHA-256}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
	}
	sum := md5.Sum([]byte(pw))
	return hex.EncodeToString(sum[:])
}

func pick(rng *rand.Rand) string {
	total := 0
	for _, w := range standardWeights {
		total += w.weight
	}
	n := rng.IntN(total)
	for _, w := range standardWeights {
		if n < w.weight {
			return w.name
		}
		n -= w.weight
	}
	return "history"
}

// guid is a 12-character base64url id like Firefox's.
func guid(rng *rand.Rand) string {
	b := make([]byte, 9)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// payload builds an encrypted-record JSON text of exactly size bytes
// when size is large enough, else a natural one.
func payload(rng *rand.Rand, size int) string {
	iv := make([]byte, 16)
	mac := make([]byte, 32)
	for i := range iv {
		iv[i] = byte(rng.Uint32())
	}
	for i := range mac {
		mac[i] = byte(rng.Uint32())
	}
	head := `{"ciphertext":"`
	tail := `","IV":"` + base64.StdEncoding.EncodeToString(iv) + `","hmac":"` + hex.EncodeToString(mac) + `"}`
	n := max(size-len(head)-len(tail), 4)
	raw := make([]byte, n*3/4+3)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	ct := base64.StdEncoding.EncodeToString(raw)[:n]
	return head + ct + tail
}

// heavyTailedSize is mostly a few hundred bytes with a long tail.
func heavyTailedSize(rng *rand.Rand) int {
	switch r := rng.Float64(); {
	case r < 0.70:
		return 200 + rng.IntN(400)
	case r < 0.95:
		return 600 + rng.IntN(2000)
	default:
		return 2600 + rng.IntN(12000)
	}
}

func ptr[T any](v T) *T { return &v }

func genRecords(rng *rand.Rand, l Layout, u *User, n, big int, small bool) []Record {
	// Client uploads come in POSTs of up to 100 records sharing one
	// timestamp; timestamps include whole seconds and .x0 values.
	ts := int64(1_300_000_000_00) + int64(rng.IntN(1_000_000))*100
	seen := map[string]bool{}
	var out []Record
	add := func(r Record) {
		key := r.Collection + "\x00" + strings.ToLower(r.ID)
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, r)
	}
	// The two records clients cannot live without.
	add(Record{Collection: "meta", ID: "global", Modified: ts, Payload: ptr(`{"syncID":"` + guid(rng) + `","storageVersion":5,"engines":{"bookmarks":{"version":2,"syncID":"` + guid(rng) + `"}}}`)})
	add(Record{Collection: "crypto", ID: "keys", Modified: ts, Payload: ptr(payload(rng, 400))})
	ts += 100
	batch := 0
	for len(out) < n {
		if batch == 100 || rng.IntN(40) == 0 {
			batch = 0
			// .00, .10, .x0 and arbitrary centiseconds all occur.
			switch rng.IntN(4) {
			case 0:
				ts = (ts/100 + 1 + int64(rng.IntN(3600))) * 100
			case 1:
				ts = (ts/10 + 1 + int64(rng.IntN(100))) * 10
			default:
				ts += 1 + int64(rng.IntN(50000))
			}
		}
		batch++
		r := Record{Collection: pick(rng), ID: guid(rng), Modified: ts}
		if rng.IntN(25) == 0 {
			r.Collection = "greasemonkey"
		} else if rng.IntN(60) == 0 {
			r.Collection = "Custom-Coll_2"
		}
		if r.Collection == "clients" && rng.IntN(2) == 0 {
			r.ID = guid(rng)[:8] // short ids exist
		}
		switch x := rng.IntN(20); {
		case x == 0:
			r.SortIndex = ptr(int64(999_999_999))
		case x == 1:
			r.SortIndex = ptr(int64(-999_999_999))
		case x < 5:
			// NULL sortindex
		default:
			r.SortIndex = ptr(int64(rng.IntN(2_000_000) - 1000))
		}
		if r.Collection == "bookmarks" {
			r.ParentID = ptr(guid(rng))
			if rng.IntN(3) == 0 {
				r.PredecessorID = ptr(predecessor(rng, l))
			}
		}
		if small {
			r.Payload = ptr(payload(rng, 200+rng.IntN(400)))
		} else {
			r.Payload = ptr(payload(rng, heavyTailedSize(rng)))
		}
		add(r)
	}
	// Largest payloads, and a record whose payload is NULL.
	for i := 0; i < big && i+2 < len(out); i++ {
		out[2+i*7%(len(out)-2)].Payload = ptr(payload(rng, l.MaxPayload()))
	}
	if len(out) > 3 {
		out[len(out)-1].Payload = nil
		out[len(out)-2].ParentID, out[len(out)-2].SortIndex, out[len(out)-2].PredecessorID = nil, nil, nil
	}
	if l.Variant == Mozilla {
		next := 100
		for _, r := range out {
			if _, std := phpStandard[r.Collection]; std {
				continue
			}
			if _, ok := u.Collections[r.Collection]; !ok {
				next++
				u.Collections[r.Collection] = next
			}
		}
		// A collection that exists but whose records were all deleted.
		next++
		u.Collections["emptied"] = next
	}
	return out
}

// predecessor: FSyncMS's INT column only keeps numeric strings.
func predecessor(rng *rand.Rand, l Layout) string {
	if l.Variant == FSyncMS {
		return strconv.Itoa(rng.IntN(2_000_000_000) - 1_000_000_000)
	}
	return guid(rng)
}

// phpStandard is PHP 1.0's fixed collection map.
var phpStandard = map[string]int{"clients": 1, "crypto": 2, "forms": 3, "history": 4, "keys": 5, "meta": 6, "bookmarks": 7, "prefs": 8, "tabs": 9, "passwords": 10}

// PHPCollectionID is the id PHP 1.0 stores for a collection name.
func (u *User) PHPCollectionID(name string) int {
	if id, ok := phpStandard[name]; ok {
		return id
	}
	return u.Collections[name]
}
