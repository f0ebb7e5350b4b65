package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRejectsBrokenDocuments: the repository's document passes; a document that
// is not 3.1, has a dangling reference, or a schema kin-openapi rejects fails with a
// message that says why.
func TestCheckRejectsBrokenDocuments(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, want string
	}{
		{"the repository's document", "", "", ""},
		{"OpenAPI 3.0", `"openapi": "3.1.0"`, `"openapi": "3.0.3"`, "scar's document is OpenAPI 3.1"},
		{"a dangling reference", `"#/components/schemas/LogLine"`, `"#/components/schemas/NoSuchLine"`, "NoSuchLine"},
		{"an unknown type", `"type": "boolean"`, `"type": "bool"`, "unsupported 'type' value \"bool\""},
		{"an optional path parameter", `"in": "path",
        "required": true`, `"in": "path",
        "required": false`, "must be required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := good
			if tc.old != "" {
				if !bytes.Contains(good, []byte(tc.old)) {
					t.Fatalf("api/openapi.json no longer holds %q", tc.old)
				}
				doc = bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			}
			file := filepath.Join(t.TempDir(), "openapi.json")
			if err := os.WriteFile(file, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run(t.Context(), []string{file}, &out)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want == "" && !strings.Contains(out.String(), "a valid OpenAPI 3.1 document"):
				t.Fatalf("said %q", out.String())
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("answered %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
