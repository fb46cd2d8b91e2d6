package caddymodule

import (
	"fmt"
	"net/url"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// DefaultCaptchaVerifyURL is Google's reCAPTCHA answer check.
const DefaultCaptchaVerifyURL = "https://www.google.com/recaptcha/api/siteverify"

// Captcha configures reCAPTCHA on account creation.
type Captcha struct {
	// PublicKey is the reCAPTCHA site key shown in captcha_html.
	PublicKey string `json:"public_key,omitempty"`

	// PrivateKey is the reCAPTCHA secret used to verify answers.
	PrivateKey string `json:"private_key,omitempty"`

	// VerifyURL is where answers are verified. Default: Google's
	// reCAPTCHA siteverify endpoint.
	VerifyURL string `json:"verify_url,omitempty"`
}

func (c *Captcha) validate() error {
	if c == nil {
		return nil
	}
	if c.PublicKey == "" || c.PrivateKey == "" {
		return fmt.Errorf("captcha: public_key and private_key are both required")
	}
	if c.VerifyURL != "" {
		u, err := url.Parse(c.VerifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("captcha: verify_url %q is not an http(s) URL", c.VerifyURL)
		}
	}
	return nil
}

func (c *Captcha) httpapi() *httpapi.CaptchaConfig {
	if c == nil {
		return nil
	}
	verify := c.VerifyURL
	if verify == "" {
		verify = DefaultCaptchaVerifyURL
	}
	return &httpapi.CaptchaConfig{PublicKey: c.PublicKey, PrivateKey: c.PrivateKey, VerifyURL: verify}
}
