package migrate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
)

// checkImportable refuses a legacy record the native store could not hold
// or serve unchanged, naming it.
func checkImportable(s Schema, collection string, r *syncstore.StoredRecord) error {
	if !syncstore.ValidCollection(collection) {
		return fmt.Errorf("collection name %q is not valid in the native store ([A-Za-z0-9._-]{1,32})", collection)
	}
	if !syncstore.ValidID(r.ID) {
		return fmt.Errorf("record %s/%q: id is not valid in the native store (1–64 printable ASCII characters without '/' or ',')", collection, r.ID)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"parentid", r.ParentID}, {"predecessorid", r.PredecessorID}} {
		if f.v != nil && (len(*f.v) > syncstore.MaxIDLen || !utf8.ValidString(*f.v)) {
			return fmt.Errorf("record %s/%s: %s %q is longer than %d bytes or not UTF-8", collection, r.ID, f.name, *f.v, syncstore.MaxIDLen)
		}
	}
	if r.Payload != nil && !utf8.ValidString(*r.Payload) {
		return fmt.Errorf("record %s/%s: payload is not valid UTF-8 (the legacy payload column is %s): the legacy database holds text in another encoding; "+
			"clients only ever stored UTF-8 JSON, so the row was written by something else and would not read back the same", collection, r.ID, s.PayloadCharset)
	}
	return nil
}

// checkMigratableUser refuses a legacy account the native server could
// not serve as the legacy server did, before anything is written:
//
//   - a password hash the native server cannot verify (docs/legacy.md
//     §1.3, §2.1: Mozilla PHP's site-salted SHA-256 needs the site's salt;
//     anything else in FSyncMS's users.md5) would lock the user out;
//   - a Mozilla PHP account whose status is not 1 cannot log in there
//     (§2.1; docs/protocol.md §3); native accounts have no status, so the
//     move would enable it.
func checkMigratableUser(s Schema, u *LegacyUser) error {
	if s.Variant == VariantMozilla && (u.Status == nil || *u.Status != 1) {
		status := "NULL"
		if u.Status != nil {
			status = strconv.FormatInt(*u.Status, 10)
		}
		return fmt.Errorf("legacy user %q is disabled (users.status = %s, the PHP server logs in only status 1): native accounts have no status, so moving it would enable it; set status = 1 or delete the account in the legacy database first", u.Name, status)
	}
	if u.collectionsErr != nil {
		return u.collectionsErr
	}
	if err := nativeVerifiableHash(u.PasswordHash); err != nil {
		return fmt.Errorf("legacy user %q: the native server cannot verify the password hash (%v), so the user could not log in after the move; set a password the native server verifies (MD5 hex, bcrypt, {SSHA-256}) in the legacy database first", u.Name, err)
	}
	return nil
}

// nativeVerifiableHash reports whether syncstore.VerifyPassword accepts
// the format of hash, without the cost of a bcrypt comparison.
func nativeVerifiableHash(hash string) error {
	if strings.HasPrefix(hash, "$2") {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("malformed bcrypt hash: %w", err)
		}
		return nil
	}
	_, _, err := syncstore.VerifyPassword(hash, "")
	return err
}

// collectionCase refuses what FSyncMS's case-insensitive collation makes
// one thing and the native store's byte compare two (docs/legacy.md §1.1,
// §5): collection names of one user that differ only in case (PHP serves
// them as one collection) and a critical record stored in another case
// (PHP serves Meta/Global to a client asking for meta/global; the native
// store would answer 404, and the client would wipe the server). It
// remembers the names of one user's rows; Mozilla PHP's names are checked
// on its collections rows instead (mozilla.loadCollections), since its
// standard names are matched exactly.
// The rollback checks what it writes with it too, in both schemas: for
// Mozilla PHP, among the names outside the fixed map.
type collectionCase map[string]string

func (cc collectionCase) check(s Schema, collection, id string) error {
	if cc == nil || !s.CollectionCI {
		return nil
	}
	if s.Variant == VariantMozilla {
		if _, std := phpCollectionID(collection); std {
			return nil
		}
	}
	key := strings.ToLower(collection)
	if prev, ok := cc[key]; !ok {
		cc[key] = collection
	} else if prev != collection {
		return fmt.Errorf("collections %q and %q differ only in case: the legacy server's case-insensitive collation takes them for one collection, the native store keeps two; merge or rename them first", prev, collection)
	}
	if s.Variant != VariantFSyncMS || !s.IDCI {
		return nil
	}
	for _, cr := range criticalRecords {
		if strings.EqualFold(collection, cr[0]) && strings.EqualFold(id, cr[1]) && (collection != cr[0] || id != cr[1]) {
			return fmt.Errorf("record %s/%s: the legacy server's case-insensitive collation serves it as %s/%s, the native store does not; rename it first", collection, id, cr[0], cr[1])
		}
	}
	return nil
}

// legacyCase is the collectionCase check of records read from legacy:
// FSyncMS only, since Mozilla PHP's clashing names are found on its
// collections rows (where two ids of one name are visible).
func legacyCase(s Schema) collectionCase {
	if s.Variant != VariantFSyncMS {
		return nil
	}
	return collectionCase{}
}

// errNullModified refuses a legacy row without modified: the PHP servers
// always write it (docs/legacy.md §1.2, §2.1), clients order and filter by
// it, and the native store has no NULL for it (0 would be an alteration,
// and a rollback would write 0 back).
func errNullModified(collection, id string) error {
	return fmt.Errorf("record %s/%s: modified is NULL, which the PHP server never writes and the native store cannot hold; set it in the legacy database first", collection, id)
}
