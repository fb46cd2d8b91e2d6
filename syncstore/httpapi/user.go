package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/syncserver/syncserver/syncstore"
)

// Request headers of the User API (docs/protocol.md §4.2).
const (
	headerSecret        = "X-Weave-Secret"
	headerPasswordReset = "X-Weave-Password-Reset"
)

// minPasswordBytes is the Reference's minimum password length, in UTF-8
// bytes.
const minPasswordBytes = 8

// userExists answers GET /user/1.0/<u> with 1 (taken) or 0 (free) as
// plain text; Firefox's wizard compares the body string (docs/protocol.md §8.2).
func (h *Handler) userExists(w http.ResponseWriter, r *http.Request, rt *route) {
	_, err := h.store.LookupUser(r.Context(), rt.user)
	switch {
	case err == nil:
		sendText(w, http.StatusOK, "1")
	case errors.Is(err, syncstore.ErrNotFound):
		sendText(w, http.StatusOK, "0")
	default:
		h.storeFailed(w, r, rt, err)
	}
}

// createUser answers PUT /user/1.0/<u> (docs/protocol.md §8.3), checking in the
// Reference's order after the registration mode: existing user (4), JSON
// (6), e-mail (12), e-mail matching the username (15), allowlist (3),
// password present (7) and strong (9), captcha (2). The answer is the
// lower-cased username as plain text.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, rt *route) {
	name := rt.user
	if h.registration == RegistrationClosed {
		sendBadRequest(w, errInvalidUsername)
		return
	}
	if _, err := h.store.LookupUser(r.Context(), name); err == nil {
		sendBadRequest(w, errInvalidWrite)
		return
	} else if !errors.Is(err, syncstore.ErrNotFound) {
		h.storeFailed(w, r, rt, err)
		return
	}
	body := h.readUserBodyOrFail(w, r)
	if body == nil {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		// JSON null decodes without error but is no account either.
		sendBadRequest(w, errMalformedJSON)
		return
	}
	// The 1.0 documents call the field "e-mail"; Firefox sends "email".
	email, ok := stringField(fields, "email")
	if !ok {
		email, _ = stringField(fields, "e-mail")
	}
	if !validEmail(email) {
		sendBadRequest(w, errNoEmail)
		return
	}
	if !h.allowPlain && name != UsernameFromEmail(email) && name != firefoxUsername(email) {
		sendBadRequest(w, errEmailMismatch)
		return
	}
	if h.registration == RegistrationAllowlist && !h.allowlisted(name, email) {
		sendBadRequest(w, errInvalidUsername)
		return
	}
	password, _ := stringField(fields, "password")
	if password == "" {
		sendBadRequest(w, errMissingPassword)
		return
	}
	if weakPassword(name, password) {
		sendBadRequest(w, errWeakPassword)
		return
	}
	if h.captcha != nil && !h.secretGiven(r) {
		challenge, okc := stringField(fields, "captcha-challenge")
		response, okr := stringField(fields, "captcha-response")
		if !h.captchaPassed(w, r, rt, challenge, response, okc && okr) {
			return
		}
	}
	hash, err := h.auth.HashPassword(password)
	if errors.Is(err, syncstore.ErrPasswordTooLong) {
		sendBadRequest(w, errWeakPassword)
		return
	}
	if err != nil {
		h.unavailable(w, r, rt, "password hashing failed", err)
		return
	}
	err = h.store.CreateUser(r.Context(), &syncstore.User{Name: name, PasswordHash: hash, Email: email})
	switch {
	case errors.Is(err, syncstore.ErrUserExists):
		sendBadRequest(w, errInvalidWrite)
	case err != nil:
		h.storeFailed(w, r, rt, err)
	default:
		sendText(w, http.StatusOK, name)
	}
}

// captchaPassed verifies a captcha answer (docs/protocol.md §8.3 rule 9,
// §8.9); given is false when either field is missing. On failure it has
// answered: 400 body 2, or 503 when the captcha service fails. The
// service is told the client's address, the one the login throttle uses
// (a proxy in front reports it), as reCAPTCHA expects the solver's.
func (h *Handler) captchaPassed(w http.ResponseWriter, r *http.Request, rt *route, challenge, response string, given bool) bool {
	if !given {
		sendBadRequest(w, errInvalidCaptcha)
		return false
	}
	addr := r.RemoteAddr
	if h.clientAddr != nil {
		addr = h.clientAddr(r)
	}
	valid, err := h.captcha.verify(r.Context(), challenge, response, addr)
	if err != nil {
		h.unavailable(w, r, rt, "captcha service unavailable", err)
		return false
	}
	if !valid {
		sendBadRequest(w, errInvalidCaptcha)
		return false
	}
	return true
}

// stringField returns a JSON string member; ok is false when it is absent
// or not a string.
func stringField(fields map[string]json.RawMessage, key string) (string, bool) {
	raw, ok := fields[key]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// weakPassword is the Reference's rule: fewer than 8 UTF-8 bytes, or the
// username itself ignoring case and surrounding space.
func weakPassword(username, password string) bool {
	if len(password) < minPasswordBytes {
		return true
	}
	return strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(username))
}

// allowlisted reports whether the username or the e-mail address is on
// the registration allowlist.
func (h *Handler) allowlisted(name, email string) bool {
	if _, ok := h.allowUsers[name]; ok {
		return true
	}
	_, ok := h.allowEmails[lowerEmail(email)]
	return ok
}

// secretGiven reports whether the request carries the shared secret that
// skips the captcha.
func (h *Handler) secretGiven(r *http.Request) bool {
	if h.secret == "" {
		return false
	}
	given := r.Header.Get(headerSecret)
	return subtle.ConstantTimeCompare([]byte(given), []byte(h.secret)) == 1
}

// deleteUser answers DELETE /user/1.0/<u> (docs/protocol.md §8.4 decision): the
// account and all of its records go; the body is 0.
func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, rt *route) {
	u := h.authenticate(w, r, rt)
	if u == nil {
		return
	}
	if err := h.store.DeleteUser(r.Context(), u.ID); err != nil && !errors.Is(err, syncstore.ErrNotFound) {
		h.storeFailed(w, r, rt, err)
		return
	}
	h.auth.Forget(u.Name)
	sendText(w, http.StatusOK, "0")
}

// userNode answers GET /user/1.0/<u>/node/weave (docs/protocol.md §8.5): the
// storage node URL for existing users, 404 for unknown ones (Firefox then
// uses the registration server as the node).
func (h *Handler) userNode(w http.ResponseWriter, r *http.Request, rt *route) {
	_, err := h.store.LookupUser(r.Context(), rt.user)
	if errors.Is(err, syncstore.ErrNotFound) {
		sendNotFound(w)
		return
	}
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	h.sendNodeURL(w, r)
}

// changePassword answers POST /user/1.0/<u>/password (docs/protocol.md §8.6):
// the body is the new password as raw text; the caller proves the old one
// with Basic auth. Reset codes are never issued here, so a request using
// X-Weave-Password-Reset instead always fails with 10.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, rt *route) {
	body := h.readUserBodyOrFail(w, r)
	if body == nil {
		return
	}
	password := string(body)
	if password == "" || !utf8.ValidString(password) {
		sendBadRequest(w, errMissingPassword)
		return
	}
	if weakPassword(rt.user, password) {
		sendBadRequest(w, errWeakPassword)
		return
	}
	if _, ok := r.Header[headerPasswordReset]; ok {
		_, err := h.store.LookupUser(r.Context(), rt.user)
		switch {
		case errors.Is(err, syncstore.ErrNotFound):
			sendNotFound(w)
		case err != nil:
			h.storeFailed(w, r, rt, err)
		default:
			sendBadRequest(w, errInvalidResetCode)
		}
		return
	}
	u := h.authenticate(w, r, rt)
	if u == nil {
		return
	}
	// Re-read the account: the authenticated copy may come from the
	// credentials cache and carry an older e-mail address.
	cur, err := h.store.LookupUser(r.Context(), u.Name)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	err = h.auth.SetPassword(r.Context(), cur, password)
	switch {
	case errors.Is(err, syncstore.ErrPasswordTooLong):
		sendBadRequest(w, errWeakPassword)
	case err != nil:
		h.storeFailed(w, r, rt, err)
	default:
		sendText(w, http.StatusOK, "success")
	}
}

// changeEmail answers POST /user/1.0/<u>/email (docs/protocol.md §8.7): the
// body is the new address as plain text, echoed on success.
func (h *Handler) changeEmail(w http.ResponseWriter, r *http.Request, rt *route) {
	u := h.authenticate(w, r, rt)
	if u == nil {
		return
	}
	body := h.readUserBodyOrFail(w, r)
	if body == nil {
		return
	}
	email := strings.TrimSpace(string(body))
	if !validEmail(email) {
		sendBadRequest(w, errNoEmail)
		return
	}
	// Re-read the account so a cached copy cannot write back an old
	// password hash.
	cur, err := h.store.LookupUser(r.Context(), u.Name)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	cur.Email = email
	if err := h.store.UpdateUser(r.Context(), cur); err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	sendText(w, http.StatusOK, email)
}

// requestPasswordReset answers GET /user/1.0/<u>/password_reset. This
// server has no reset-code mailer, which the Reference answers with 503
// (docs/protocol.md §8.8 step 1). No back-off headers: the condition is
// permanent, and Firefox would apply them to syncing too.
func (h *Handler) requestPasswordReset(w http.ResponseWriter, _ *http.Request, _ *route) {
	send(w, http.StatusServiceUnavailable, typeJSON,
		[]byte(`"password reset is not available on this server; ask its operator"`))
}

// cancelPasswordReset answers DELETE /user/1.0/<u>/password_reset
// (docs/protocol.md §8.9): there is never a pending code, so it only
// authenticates and, with a captcha configured, checks the captcha of the
// query parameters, as the Reference did.
func (h *Handler) cancelPasswordReset(w http.ResponseWriter, r *http.Request, rt *route) {
	if h.authenticate(w, r, rt) == nil {
		return
	}
	if h.captcha != nil {
		q := r.URL.Query()
		_, okc := q["captcha-challenge"]
		_, okr := q["captcha-response"]
		if !h.captchaPassed(w, r, rt, q.Get("captcha-challenge"), q.Get("captcha-response"), okc && okr) {
			return
		}
	}
	sendText(w, http.StatusOK, "success")
}
