package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
)

// maxRequestIDLen bounds a request id a client or proxy sends; a longer one, or one
// with other characters than requestIDChar allows, is replaced by our own.
const maxRequestIDLen = 64

// requestID gives every request an id, the one in its X-Request-Id header when that
// is sane (so a proxy's id carries through), else a new random one, and sends it back
// in X-Request-Id on every response. middleware.GetReqID reads it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), middleware.RequestIDKey, id)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !requestIDChar(id[i]) {
			return false
		}
	}
	return true
}

// requestIDChar allows what request ids are made of (hex, UUIDs, nginx's $request_id,
// chi's host/random-n) and nothing that could forge a log line.
func requestIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '='
}
