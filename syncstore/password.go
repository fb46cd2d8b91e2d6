package syncstore

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// ErrPasswordTooLong: bcrypt only reads the first 72 bytes of a password,
// and silently ignoring the rest would let a prefix log in, so new hashes
// refuse longer passwords instead.
var ErrPasswordTooLong = errors.New("password longer than 72 bytes")

// maxBcryptPassword is the number of password bytes bcrypt uses.
const maxBcryptPassword = 72

// Legacy salted-hash formats (docs/protocol.md §10.3): "{TAG}" followed by
// base64(digest ‖ salt) where the salt is the last 8 bytes.
const legacySaltLen = 8

// py-scrypt's defaults, which server-core's {SSCRYPT} relied on.
const (
	sscryptN      = 1 << 14
	sscryptR      = 8
	sscryptP      = 1
	sscryptKeyLen = 64
)

// HashPassword hashes password with bcrypt at cost (0 means
// bcrypt.DefaultCost). It is the only format new passwords are stored in.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return "", fmt.Errorf("bcrypt cost %d outside [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if len(password) > maxBcryptPassword {
		return "", ErrPasswordTooLong
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// VerifyPassword checks password against a stored hash in any format a
// legacy server wrote: bcrypt ($2a$, $2b$, $2y$), unsalted MD5 hex
// (FSyncMS, PHP's MD5 fallback), {SSHA-256} (also spelled {SSHA256}),
// {SSHA} and {SSCRYPT}. needsRehash is true when the password matched but
// the hash is not bcrypt at bcrypt.DefaultCost; Authenticator.VerifyPassword
// judges against its configured cost instead.
//
// A hash in no known format, or a corrupt one, yields an error that names
// the format but never includes the hash.
func VerifyPassword(hash, password string) (ok bool, needsRehash bool, err error) {
	return verifyPassword(hash, password, bcrypt.DefaultCost)
}

func verifyPassword(stored, password string, cost int) (ok bool, needsRehash bool, err error) {
	if strings.HasPrefix(stored, "$2") {
		return verifyBcrypt(stored, password, cost)
	}
	if tag, body, found := splitTag(stored); found {
		switch strings.ToUpper(tag) {
		case "{SSHA-256}", "{SSHA256}":
			ok, err = verifySalted(tag, body, password, sha256.New)
		case "{SSHA}":
			ok, err = verifySalted(tag, body, password, sha1.New)
		case "{SSCRYPT}":
			ok, err = verifySSCrypt(tag, body, password)
		default:
			return false, false, fmt.Errorf("unsupported password hash format %q", tag)
		}
		return ok, ok, err
	}
	if len(stored) == hex.EncodedLen(md5.Size) {
		ok, err = verifyMD5(stored, password)
		return ok, ok, err
	}
	return false, false, fmt.Errorf("unrecognised password hash format (%d characters, no {TAG} prefix)", len(stored))
}

// splitTag splits "{TAG}rest". Tags are compared case-insensitively because
// LDAP userPassword schemes are.
func splitTag(s string) (tag, body string, ok bool) {
	if !strings.HasPrefix(s, "{") {
		return "", "", false
	}
	end := strings.IndexByte(s, '}')
	// A tag is a short scheme name; anything longer is not one and must
	// not be echoed into an error message.
	if end < 0 || end > 16 {
		return "", "", false
	}
	return s[:end+1], s[end+1:], true
}

func verifyBcrypt(stored, password string, cost int) (bool, bool, error) {
	err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(password))
	switch {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, false, nil
	case err != nil:
		// bcrypt's errors describe the structure (prefix, cost, length),
		// not the hash contents.
		return false, false, fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	got, err := bcrypt.Cost([]byte(stored))
	if err != nil {
		return false, false, fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	return true, got != cost, nil
}

func verifyMD5(stored, password string) (bool, error) {
	want, err := hex.DecodeString(stored)
	if err != nil {
		return false, errors.New("malformed MD5 password hash: not hexadecimal")
	}
	got := md5.Sum([]byte(password))
	return subtle.ConstantTimeCompare(got[:], want) == 1, nil
}

// verifySalted checks tag+base64(H(password ‖ salt) ‖ salt).
func verifySalted(tag, body, password string, newHash func() hash.Hash) (bool, error) {
	h := newHash()
	raw, err := decodeSalted(tag, body, h.Size())
	if err != nil {
		return false, err
	}
	digest, salt := raw[:h.Size()], raw[h.Size():]
	h.Write([]byte(password))
	h.Write(salt)
	return subtle.ConstantTimeCompare(h.Sum(nil), digest) == 1, nil
}

// verifySSCrypt checks {SSCRYPT}base64(scrypt(password, salt) ‖ salt), as
// server-core's SQLUser stored from 2013 on.
func verifySSCrypt(tag, body, password string) (bool, error) {
	raw, err := decodeSalted(tag, body, sscryptKeyLen)
	if err != nil {
		return false, err
	}
	digest, salt := raw[:sscryptKeyLen], raw[sscryptKeyLen:]
	got, err := scrypt.Key([]byte(password), salt, sscryptN, sscryptR, sscryptP, sscryptKeyLen)
	if err != nil {
		return false, fmt.Errorf("computing %s digest: %w", tag, err)
	}
	return subtle.ConstantTimeCompare(got, digest) == 1, nil
}

// decodeSalted decodes the base64 body of a salted hash and checks that it
// holds exactly a digest of digestLen bytes and an 8-byte salt, the only
// layout the legacy verifiers could ever match.
func decodeSalted(tag, body string, digestLen int) ([]byte, error) {
	// Python's b64encode pads; some LDAP exports drop the padding.
	body = strings.TrimSpace(body)
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		var rawErr error
		if raw, rawErr = base64.RawStdEncoding.DecodeString(body); rawErr != nil {
			return nil, fmt.Errorf("malformed %s password hash: %w", tag, err)
		}
	}
	if len(raw) != digestLen+legacySaltLen {
		return nil, fmt.Errorf("malformed %s password hash: %d bytes, want %d", tag, len(raw), digestLen+legacySaltLen)
	}
	return raw, nil
}
