package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// Git hosts that send push webhooks, as Push.Provider and the audit log name them.
const (
	providerGitHub  = "github"
	providerGitea   = "gitea"
	providerForgejo = "forgejo"
	providerGitLab  = "gitlab"
	// providerSigned is the plain signed form, for a CI job with curl: the GitHub
	// signature header without X-GitHub-Event.
	providerSigned = "signed"
)

// hookSender is who sent a push webhook, read from its headers alone: the provider,
// its event name and its delivery id. Nothing of it is believed before verify.
type hookSender struct {
	provider string
	event    string
	delivery string
	// signature is the header the provider signs with, and token GitLab's secret.
	signatureHeader string
}

// detectSender tells the provider from the headers. Gitea sends GitHub's and Gogs'
// headers too, and Forgejo Gitea's, so the more specific host is looked for first.
func detectSender(h http.Header) hookSender {
	switch {
	case h.Get("X-Forgejo-Event") != "" || h.Get("X-Forgejo-Signature") != "":
		s := hookSender{provider: providerForgejo, event: first(h, "X-Forgejo-Event", "X-Gitea-Event"),
			delivery: first(h, "X-Forgejo-Delivery", "X-Gitea-Delivery"), signatureHeader: "X-Forgejo-Signature"}
		if h.Get("X-Forgejo-Signature") == "" {
			s.signatureHeader = "X-Gitea-Signature"
		}
		return s
	case h.Get("X-Gitea-Event") != "" || h.Get("X-Gitea-Signature") != "":
		return hookSender{provider: providerGitea, event: h.Get("X-Gitea-Event"),
			delivery: h.Get("X-Gitea-Delivery"), signatureHeader: "X-Gitea-Signature"}
	case h.Get("X-Gitlab-Event") != "" || h.Get("X-Gitlab-Token") != "":
		return hookSender{provider: providerGitLab, event: h.Get("X-Gitlab-Event"),
			delivery: first(h, "X-Gitlab-Event-UUID", "Idempotency-Key"), signatureHeader: "X-Gitlab-Token"}
	case h.Get("X-GitHub-Event") != "":
		return hookSender{provider: providerGitHub, event: h.Get("X-GitHub-Event"),
			delivery: h.Get("X-GitHub-Delivery"), signatureHeader: "X-Hub-Signature-256"}
	default:
		return hookSender{provider: providerSigned, event: "push",
			delivery: h.Get("X-Scar-Delivery"), signatureHeader: "X-Hub-Signature-256"}
	}
}

func first(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// errBadSignature is a webhook whose signature or token is missing or wrong.
var errBadSignature = errors.New("bad signature")

// verify checks the request's signature (an HMAC-SHA256 of the raw body under
// secret) or, for GitLab, its token, in constant time. Its error says which header
// was missing or wrong, never what was expected.
func (s hookSender) verify(h http.Header, body []byte, secret string) error {
	got := strings.TrimSpace(h.Get(s.signatureHeader))
	if got == "" {
		return &signatureError{header: s.signatureHeader, missing: true}
	}
	if s.provider == providerGitLab {
		// Digests of equal length, so that the comparison's time says nothing of the
		// secret's length either.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return &signatureError{header: s.signatureHeader}
		}
		return nil
	}
	if s.signatureHeader == "X-Hub-Signature-256" {
		hexSig, ok := strings.CutPrefix(got, "sha256=")
		if !ok {
			return &signatureError{header: s.signatureHeader, detail: `not "sha256=<hex>"`}
		}
		got = hexSig
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return &signatureError{header: s.signatureHeader, detail: "not hexadecimal"}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return &signatureError{header: s.signatureHeader}
	}
	return nil
}

// signatureError says what was wrong with a webhook's signature; it matches
// errBadSignature.
type signatureError struct {
	header  string
	missing bool
	detail  string
}

func (e *signatureError) Error() string {
	switch {
	case e.missing:
		return "bad signature: no " + e.header + " header"
	case e.detail != "":
		return "bad signature: " + e.header + " is " + e.detail
	case e.header == "X-Gitlab-Token":
		return "bad signature: X-Gitlab-Token is not the project's webhook secret"
	default:
		return "bad signature: " + e.header + " does not match the body signed with the project's webhook secret"
	}
}

func (e *signatureError) Is(target error) bool { return target == errBadSignature }
