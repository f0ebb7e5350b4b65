package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of every route of NewServer. It is
// JSON so that it is served byte for byte as it is in the repository; the tests hold
// it true to the router (TestOpenAPIDescribesEveryRoute) and to the answers.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves the OpenAPI document. It sits behind the token like the rest of
// /api/v1: the document names nothing secret, but a scar reachable from outside then
// tells a stranger nothing, not even that it is scar. It is not audited: it reads
// nothing of production.
func handleOpenAPI() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(openAPIDocument) // the client went away; nothing left to tell it
	}
}
