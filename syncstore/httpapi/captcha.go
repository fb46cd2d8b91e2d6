package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// captchaTimeout bounds one verification call, so a slow captcha service
// cannot hold registrations open.
const captchaTimeout = 10 * time.Second

// captcha verifies reCAPTCHA answers on registration (docs/protocol.md §8.3
// rule 7) and renders the widget page Firefox's setup wizard embeds
// (§8.11).
type captcha struct {
	cfg    CaptchaConfig
	client *http.Client
	page   []byte
}

func newCaptcha(cfg CaptchaConfig) *captcha {
	key := html.EscapeString(url.QueryEscape(cfg.PublicKey))
	// The wizard reads recaptcha_challenge_field and
	// recaptcha_response_field from this page; the reCAPTCHA v1 widget
	// script creates them.
	page := `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Captcha</title></head>
<body>
<form method="post" action="/misc/1.0/captcha_html">
<script type="text/javascript" src="https://www.google.com/recaptcha/api/challenge?k=` + key + `"></script>
<noscript>
<iframe src="https://www.google.com/recaptcha/api/noscript?k=` + key + `" height="300" width="500" frameborder="0"></iframe><br>
<textarea name="recaptcha_challenge_field" rows="3" cols="40"></textarea>
<input type="hidden" name="recaptcha_response_field" value="manual_challenge">
</noscript>
</form>
</body></html>
`
	return &captcha{
		cfg:    cfg,
		client: &http.Client{Timeout: captchaTimeout},
		page:   []byte(page),
	}
}

// verify asks the captcha service whether response answers challenge.
// The form carries both reCAPTCHA v1 (privatekey, challenge) and later
// (secret) field names; the answer may be v1's "true"/"false" lines or
// JSON with a "success" member.
func (c *captcha) verify(ctx context.Context, challenge, response, remoteAddr string) (bool, error) {
	ip := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		ip = host
	}
	form := url.Values{
		"privatekey": {c.cfg.PrivateKey},
		"secret":     {c.cfg.PrivateKey},
		"remoteip":   {ip},
		"challenge":  {challenge},
		"response":   {response},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.VerifyURL, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("building captcha verification request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("verifying captcha: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, fmt.Errorf("reading captcha verification answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("captcha service answered %s", resp.Status)
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var answer struct {
			Success bool `json:"success"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return false, fmt.Errorf("decoding captcha verification answer: %w", err)
		}
		return answer.Success, nil
	}
	first, _, _ := bytes.Cut(body, []byte("\n"))
	return string(bytes.TrimSpace(first)) == "true", nil
}
