package legacytest

import (
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// maxBody bounds what the stand-in reads of a request; PHP had no limit,
// but no test needs more.
const maxBody = 64 << 20

// serveUser is user.php: User API 1.0 and the captcha page.
func (s *server) serveUser(c *call, seg []string) {
	r := c.r
	pre, version, function, collection := seg[0], seg[1], seg[3], seg[4]
	c.user, c.id = seg[2], seg[5]
	if version != "1.0" {
		c.problem(http.StatusNotFound, "Function not found")
		return
	}
	if pre == "misc" && r.Method == http.MethodGet && c.user == "captcha_html" {
		msg := "Register to this Server is not permitted, sorry"
		if s.opts.EnableRegister {
			msg = "And click to the next page"
		}
		c.send(http.StatusOK, []byte(msg))
		return
	}
	setType(c.w, "application/json")
	if !validName(c.user, false) {
		c.problem(http.StatusBadRequest, 3)
		return
	}
	var err error
	switch r.Method {
	case http.MethodGet:
		switch {
		case function == "node" && collection == "weave":
			c.send(http.StatusOK, []byte(s.node))
		case function == "password_reset":
			c.problem(http.StatusBadRequest, 12)
		case function == "" && collection == "" && c.id == "":
			err = s.exists(c)
		default:
			c.problem(http.StatusBadRequest, 1)
		}
	case http.MethodPut:
		err = s.register(c)
	case http.MethodPost:
		switch function {
		case "password":
			if !s.verifyUser(c) {
				return
			}
			err = s.changePassword(c)
		case "email":
			// FSyncMS keeps no e-mail address.
			c.send(http.StatusOK, nil)
		default:
			c.problem(http.StatusBadRequest, 1)
		}
	default:
		// Account deletion and everything else fall through user.php.
		c.send(http.StatusOK, nil)
	}
	if err != nil {
		c.unavailable(err)
	}
}

func (s *server) exists(c *call) error {
	var name string
	err := s.db.QueryRowContext(c.r.Context(), "SELECT username FROM "+s.users+" WHERE username = ?", c.user).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		c.send(http.StatusOK, []byte("0"))
	case err != nil:
		return fmt.Errorf("looking up user %q: %w", c.user, err)
	default:
		c.send(http.StatusOK, []byte("1"))
	}
	return nil
}

func (s *server) register(c *call) error {
	if !s.opts.EnableRegister {
		c.problem(http.StatusBadRequest, 11)
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		c.problem(http.StatusBadRequest, 6)
		return nil
	}
	v, ok := decodeJSON(fixUTF8(body))
	if !ok || looseNull(v) {
		c.problem(http.StatusBadRequest, 6)
		return nil
	}
	data, _ := v.(map[string]any)
	if looseEmpty(data["email"]) {
		c.problem(http.StatusBadRequest, 12)
		return nil
	}
	if looseEmpty(data["password"]) {
		c.problem(http.StatusBadRequest, 7)
		return nil
	}
	hash, err := s.hash(phpString(data["password"]))
	if err != nil {
		return err
	}
	// Email and captcha are not stored or checked; an existing name makes
	// the INSERT fail, which PDO's silent mode hid: 200, nothing changes.
	_, err = s.db.ExecContext(c.r.Context(), "INSERT INTO "+s.users+" VALUES (?, ?)", c.user, hash)
	if err := silent(err); err != nil {
		return fmt.Errorf("creating user %q: %w", c.user, err)
	}
	c.send(http.StatusOK, jsonValue(strings.ToLower(c.user)))
	return nil
}

// changePassword takes the new password as the raw body.
//
// balu-'s 2016 user.php calls change_password($username, $new_pwd) on a
// method that by then took only the hash, so it stored the user name as
// the hash; docs/legacy.md describes the intended behaviour, which is what
// the stand-in does: the body becomes the password.
func (s *server) changePassword(c *call) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		c.problem(http.StatusBadRequest, 1)
		return nil
	}
	hash, err := s.hash(string(body))
	if err != nil {
		return err
	}
	if err := s.setHash(c, hash); err != nil {
		return err
	}
	c.send(http.StatusOK, []byte("success"))
	return nil
}

func (s *server) setHash(c *call, hash string) error {
	_, err := s.db.ExecContext(c.r.Context(), "UPDATE "+s.users+" SET md5 = ? WHERE username = ?", hash, c.user)
	if err := silent(err); err != nil {
		return fmt.Errorf("storing password of %q: %w", c.user, err)
	}
	return nil
}

// verifyUser is verify_user(): it answers the request itself and returns
// false unless the Basic credentials match the URL's user.
func (s *server) verifyUser(c *call) bool {
	user, pw, _ := c.r.BasicAuth()
	if !truthy(user) || !truthy(pw) {
		c.problem(http.StatusUnauthorized, "Authentication failed")
		return false
	}
	if !strings.EqualFold(user, c.user) {
		c.problem(http.StatusBadRequest, 5)
		return false
	}
	// The lookup uses the URL's spelling; the _ci collation matches any case.
	var stored sql.NullString
	err := s.db.QueryRowContext(c.r.Context(), "SELECT md5 FROM "+s.users+" WHERE username = ?", c.user).Scan(&stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		c.unavailable(err)
		return false
	}
	pw = string(fixUTF8([]byte(pw)))
	if !s.verify(pw, stored.String) {
		c.problem(http.StatusUnauthorized, "Authentication failed")
		return false
	}
	if s.opts.BcryptCost > 0 && !strings.HasPrefix(stored.String, fmt.Sprintf("$2a$%02d$", s.opts.BcryptCost)) {
		hash, err := s.hash(pw)
		if err == nil {
			err = s.setHash(c, hash)
		}
		if err != nil {
			c.unavailable(err)
			return false
		}
	}
	return true
}

// verify is WeaveHashMD5/WeaveHashBCrypt::verify: with bcrypt on, a hash
// not starting "$2a$" is taken as md5; with it off, only md5 matches.
func (s *server) verify(pw, stored string) bool {
	if s.opts.BcryptCost > 0 && strings.HasPrefix(stored, "$2a$") {
		return bcrypt.CompareHashAndPassword([]byte(stored), bcryptInput(pw)) == nil
	}
	sum := md5.Sum([]byte(pw))
	return hex.EncodeToString(sum[:]) == stored
}

func (s *server) hash(pw string) (string, error) {
	if s.opts.BcryptCost == 0 {
		sum := md5.Sum([]byte(pw))
		return hex.EncodeToString(sum[:]), nil
	}
	h, err := bcrypt.GenerateFromPassword(bcryptInput(pw), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// bcryptInput: PHP's crypt() reads the first 72 bytes, Go's bcrypt refuses more.
func bcryptInput(pw string) []byte {
	return []byte(pw[:min(len(pw), 72)])
}

// looseNull is $v == NULL in PHP: null, false, 0, "" and empty arrays.
func looseNull(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case json.Number:
		f, _ := x.Float64()
		return f == 0
	}
	return looseEmpty(v)
}

// looseEmpty is PHP 8's $v == "" for a json_decode'd value.
func looseEmpty(v any) bool {
	return v == nil || v == false || v == ""
}
