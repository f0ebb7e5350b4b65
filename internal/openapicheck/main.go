// Command openapicheck validates OpenAPI documents with kin-openapi, as CI does
// (.ci/run): go run ./internal/openapicheck api/openapi.json. It fails on a document
// that does not load, that is not OpenAPI 3.1 or later, or that kin-openapi finds
// invalid (references, schemas, parameters, examples against their schemas).
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "openapicheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("usage: openapicheck FILE...")
	}
	for _, f := range files {
		if err := check(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(stdout, "%s: a valid OpenAPI 3.1 document\n", f)
	}
	return nil
}

// check loads and validates one document.
func check(ctx context.Context, file string) error {
	doc, err := Load(file)
	if err != nil {
		return err
	}
	return Validate(ctx, doc)
}

// Load reads a document, resolving its references.
func Load(file string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(file)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return doc, nil
}

// Validate checks a loaded document: OpenAPI 3.1 or later, and valid by kin-openapi,
// examples included (a 3.1 document's schemas are JSON Schema 2020-12).
func Validate(ctx context.Context, doc *openapi3.T) error {
	if !doc.IsOpenAPI31OrLater() {
		return fmt.Errorf("openapi is %q: scar's document is OpenAPI 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx, openapi3.EnableExamplesValidation()); err != nil {
		return fmt.Errorf("invalid: %w", err)
	}
	return nil
}
