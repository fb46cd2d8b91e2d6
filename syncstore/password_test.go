package syncstore

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// salted builds tag+base64(H(password ‖ salt) ‖ salt) the way server-core's
// ssha/ssha256 and PHP 1.0's SSHA-256 did.
func salted(tag string, newHash func() hash.Hash, password string, salt []byte) string {
	h := newHash()
	h.Write([]byte(password))
	h.Write(salt)
	return tag + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

func mustBcrypt(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestVerifyPasswordFormats(t *testing.T) {
	const pw = "correct horse"
	salt := []byte("aB3dE5gH") // server-core's salts are 8 chars of [0-9A-Za-z]
	binSalt := []byte{0, 1, 2, 0xfe, 0xff, 0x80, 0x7f, 0x41}
	md5sum := md5.Sum([]byte(pw))
	sscryptDigest, err := scrypt.Key([]byte(pw), salt, 16384, 8, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	bc := mustBcrypt(t, pw, bcrypt.MinCost)

	tests := []struct {
		name, hash, password string
		wantOK               bool
	}{
		// Vectors computed in Go here, from the formats' definitions.
		{"md5 lower", hex.EncodeToString(md5sum[:]), pw, true},
		{"md5 upper", strings.ToUpper(hex.EncodeToString(md5sum[:])), pw, true},
		{"ssha-256", salted("{SSHA-256}", sha256.New, pw, salt), pw, true},
		{"ssha256 spelling", salted("{SSHA256}", sha256.New, pw, salt), pw, true},
		{"ssha-256 binary salt (PHP)", salted("{SSHA-256}", sha256.New, pw, binSalt), pw, true},
		{"ssha", salted("{SSHA}", sha1.New, pw, salt), pw, true},
		{"ssha lower-case tag", salted("{ssha}", sha1.New, pw, salt), pw, true},
		{"sscrypt", "{SSCRYPT}" + base64.StdEncoding.EncodeToString(append(sscryptDigest, salt...)), pw, true},
		{"bcrypt 2a", bc, pw, true},
		{"bcrypt 2y (PHP)", "$2y$" + bc[4:], pw, true},
		{"bcrypt 2b", "$2b$" + bc[4:], pw, true},
		// Golden vectors produced outside Go (Python's hashlib), so a
		// shared misunderstanding between this test and the code shows up.
		{"md5 of password (well known)", "5f4dcc3b5aa765d61d8327deb882cf99", "password", true},
		{"python ssha-256", "{SSHA-256}1NKKO2gmhJLQiwHAc+do1dOjk+G8aeTWHsEPM+zXuMthQjNkRTVnSA==", pw, true},
		{"python ssha", "{SSHA}YkKyTH0c4DLne9ugEKcZDEvf8/phQjNkRTVnSA==", pw, true},
		{"python sscrypt", "{SSCRYPT}Pxd9qbfEv1VT0QIJdTMncYXBbM8JPBcwTELm0LnDKxSRTs7EG1LPRHuoylXLR3gGLHOzXa2r9HyuSVDV9VV4HWFCM2RFNWdI", pw, true},
		{"python ssha-256 utf-8 password", "{SSHA-256}ii5tcqKNMQHBiIMcnRcYvbnxBsx9Sm9H/ba+Ucfm8eYAAQL+/4B/QQ==", "pässwörd", true},
		// crypt_blowfish's published test vector.
		{"openwall bcrypt vector", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", true},

		{"md5 wrong", hex.EncodeToString(md5sum[:]), "correct horsE", false},
		{"ssha-256 wrong", salted("{SSHA-256}", sha256.New, pw, salt), "wrong", false},
		{"ssha-256 empty password", salted("{SSHA-256}", sha256.New, pw, salt), "", false},
		{"ssha wrong", salted("{SSHA}", sha1.New, pw, salt), pw + " ", false},
		{"sscrypt wrong", "{SSCRYPT}" + base64.StdEncoding.EncodeToString(append(sscryptDigest, salt...)), "nope", false},
		{"bcrypt wrong", bc, "Correct horse", false},
		{"bcrypt 2y wrong", "$2y$" + bc[4:], "x", false},
		{"openwall bcrypt wrong", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U*", false},
		{"python ssha-256 latin-1 is not utf-8", "{SSHA-256}ii5tcqKNMQHBiIMcnRcYvbnxBsx9Sm9H/ba+Ucfm8eYAAQL+/4B/QQ==", "p\xe4ssw\xf6rd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.hash, tt.password)
			if err != nil {
				t.Fatalf("VerifyPassword: %v", err)
			}
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok && rehash {
				t.Error("needsRehash set for a failed verification")
			}
		})
	}
}

func TestVerifyPasswordNeedsRehash(t *testing.T) {
	const pw = "hunter22"
	salt := []byte("12345678")
	md5sum := md5.Sum([]byte(pw))
	atDefault := mustBcrypt(t, pw, bcrypt.DefaultCost)
	atMin := mustBcrypt(t, pw, bcrypt.MinCost)

	tests := []struct {
		name, hash string
		cost       int
		want       bool
	}{
		{"bcrypt at configured cost", atDefault, bcrypt.DefaultCost, false},
		{"2y at configured cost", "$2y$" + atDefault[4:], bcrypt.DefaultCost, false},
		{"bcrypt cheaper than configured", atMin, bcrypt.DefaultCost, true},
		{"bcrypt dearer than configured", atDefault, bcrypt.MinCost, true},
		{"bcrypt at lowered configured cost", atMin, bcrypt.MinCost, false},
		{"md5", hex.EncodeToString(md5sum[:]), bcrypt.DefaultCost, true},
		{"ssha-256", salted("{SSHA-256}", sha256.New, pw, salt), bcrypt.DefaultCost, true},
		{"ssha", salted("{SSHA}", sha1.New, pw, salt), bcrypt.DefaultCost, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := verifyPassword(tt.hash, pw, tt.cost)
			if err != nil || !ok {
				t.Fatalf("verifyPassword = %v, %v; want a match", ok, err)
			}
			if rehash != tt.want {
				t.Errorf("needsRehash = %v, want %v", rehash, tt.want)
			}
		})
	}
	// The package-level function judges against the default cost.
	if _, rehash, _ := VerifyPassword(atMin, pw); !rehash {
		t.Error("VerifyPassword: cost-4 hash should need a rehash at the default cost")
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("too short"))
	long := base64.StdEncoding.EncodeToString(make([]byte, sha256.Size+9))
	sha1Sized := base64.StdEncoding.EncodeToString(make([]byte, sha1.Size+8))
	tests := []struct {
		name, hash string
		mention    string // must appear in the error
	}{
		{"bad base64", "{SSHA-256}!!!!not*base64!!!!", "{SSHA-256}"},
		{"too short", "{SSHA-256}" + short, "{SSHA-256}"},
		{"too long", "{SSHA-256}" + long, "{SSHA-256}"},
		{"sha1-sized under sha256 tag", "{SSHA-256}" + sha1Sized, "{SSHA-256}"},
		{"ssha too short", "{SSHA}" + short, "{SSHA}"},
		{"sscrypt too short", "{SSCRYPT}" + short, "{SSCRYPT}"},
		{"empty ssha body", "{SSHA}", "{SSHA}"},
		{"md5 not hex", strings.Repeat("z", 32), "MD5"},
		{"bcrypt truncated", "$2a$10$abcdefghijklmnopqrstuv", "bcrypt"},
		{"bcrypt bad cost", "$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt"},
		{"unknown tag", "{CRYPT}secretsaltandhash", "{CRYPT}"},
		{"no tag", "s3cr3t-plaintext-password", "unrecognised"},
		{"empty", "", "unrecognised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.hash, "password")
			if err == nil {
				t.Fatalf("VerifyPassword = %v, %v, nil; want an error", ok, rehash)
			}
			if ok || rehash {
				t.Errorf("ok, needsRehash = %v, %v alongside an error", ok, rehash)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q does not name %q", msg, tt.mention)
			}
			// The part after the tag is secret material (or a plaintext
			// password): it must never reach a log line.
			body := tt.hash
			if _, b, found := splitTag(tt.hash); found {
				body = b
			}
			if len(body) >= 6 && strings.Contains(msg, body[:6]) {
				t.Errorf("error %q leaks the hash", msg)
			}
		})
	}
}

func TestVerifyPasswordUnpaddedBase64(t *testing.T) {
	const pw = "unpadded"
	h := salted("{SSHA-256}", sha256.New, pw, []byte("saltsalt"))
	trimmed := strings.TrimRight(h, "=")
	if trimmed == h {
		t.Fatal("test vector has no padding to strip")
	}
	if ok, _, err := VerifyPassword(trimmed, pw); err != nil || !ok {
		t.Errorf("VerifyPassword(unpadded) = %v, %v; want a match", ok, err)
	}
}

func TestHashPassword(t *testing.T) {
	h1, err := HashPassword("s3cret pass", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword("s3cret pass", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !strings.HasPrefix(h1, "$2a$04$") {
		t.Errorf("hash %q is not bcrypt at cost 4", h1)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h1), []byte("s3cret pass")); err != nil {
		t.Errorf("x/crypto rejects our hash: %v", err)
	}
	ok, rehash, err := verifyPassword(h1, "s3cret pass", bcrypt.MinCost)
	if err != nil || !ok || rehash {
		t.Errorf("verifyPassword(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}

	def, err := HashPassword("x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(def)); c != bcrypt.DefaultCost {
		t.Errorf("cost 0 hashed at %d, want bcrypt.DefaultCost", c)
	}

	if _, err := HashPassword("x", 3); err == nil {
		t.Error("cost 3 accepted")
	}
	if _, err := HashPassword("x", 32); err == nil {
		t.Error("cost 32 accepted")
	}
	if _, err := HashPassword(strings.Repeat("a", 73), bcrypt.MinCost); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("73-byte password: err = %v, want ErrPasswordTooLong", err)
	}
	if _, err := HashPassword(strings.Repeat("a", 72), bcrypt.MinCost); err != nil {
		t.Errorf("72-byte password: %v", err)
	}
}
