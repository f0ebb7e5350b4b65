package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// Access is what a bearer token allows.
type Access int

// Access levels.
const (
	AccessNone Access = iota
	AccessRead
	AccessFull
)

// Tokens holds the configured bearer tokens.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	secret []byte
	access Access
	name   string
}

// NewTokens builds the token set. A token is named by its access and a short hash so
// that history and the audit log can tell tokens apart without showing them.
func NewTokens(full, read []string) *Tokens {
	t := &Tokens{}
	for _, s := range full {
		t.entries = append(t.entries, tokenEntry{secret: []byte(s), access: AccessFull, name: tokenName("full", s)})
	}
	for _, s := range read {
		t.entries = append(t.entries, tokenEntry{secret: []byte(s), access: AccessRead, name: tokenName("read", s)})
	}
	return t
}

func tokenName(kind, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "api:" + kind + "-" + hex.EncodeToString(sum[:4])
}

// Check returns the access and name of a presented token. Every configured token is
// compared in constant time, so the answer's timing does not tell which one was close.
func (t *Tokens) Check(presented string) (Access, string) {
	access, name := AccessNone, ""
	p := []byte(presented)
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(p, e.secret) == 1 && e.access > access {
			access, name = e.access, e.name
		}
	}
	return access, name
}

type callerKey struct{}

// caller is who made an authenticated request.
type caller struct {
	access Access
	name   string
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// requireToken lets a request through only with a valid bearer token. The scheme is
// matched case-insensitively (RFC 7235). A refused request is audited, a few per
// client address and minute (see auditLog.unauthenticated).
func requireToken(tokens *Tokens, audit *auditLog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := bearerToken(r.Header.Get("Authorization"))
			if !ok {
				audit.unauthenticated(r, "missing bearer token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="scar"`)
				writeProblem(w, http.StatusUnauthorized, "unauthorized", "missing bearer token: send Authorization: Bearer <token>")
				return
			}
			access, name := tokens.Check(raw)
			if access == AccessNone {
				audit.unauthenticated(r, "invalid bearer token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="scar", error="invalid_token"`)
				writeProblem(w, http.StatusUnauthorized, "unauthorized", "invalid bearer token")
				return
			}
			ctx := context.WithValue(r.Context(), callerKey{}, caller{access: access, name: name})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// bearerToken reads "Bearer <token>" with the scheme in any case and any spaces
// around the token.
func bearerToken(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token := strings.TrimSpace(rest)
	return token, token != ""
}

// requireFull refuses read-only tokens before anything runs. The refusal is audited:
// a read token trying to change production is what the audit log is for.
func requireFull(audit *auditLog, action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuseReadOnly(w, r, audit, action) {
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refuseReadOnly answers 403 and audits the refusal when the caller's token is
// read-only, and reports whether it did. A route that only some requests make a change
// (a deploy that is not a dry run) calls it itself, after reading the request.
func refuseReadOnly(w http.ResponseWriter, r *http.Request, audit *auditLog, action string) bool {
	if callerFrom(r.Context()).access >= AccessFull {
		return false
	}
	audit.refused(r, action, chi.URLParam(r, "project"), "read-only token")
	writeProblem(w, http.StatusForbidden, "forbidden", "this token is read-only; this call needs a token from SCAR_API_TOKENS")
	return true
}
