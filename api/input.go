package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/scar-dev/scar/dockerops"
)

// decodeOptional decodes a JSON body into v; an empty body leaves v as it is. Its
// errors name the JSON field and what it should be, never a Go type.
func decodeOptional(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err == nil {
		if dec.More() {
			return badBody("one JSON object expected, more follows it")
		}
		return nil
	}
	var (
		maxBytes  *http.MaxBytesError
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxBytes):
		return err
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badBody(fmt.Sprintf("want a JSON object, got %s", typeErr.Value))
		}
		return badBody(fmt.Sprintf("field %q: want %s, got %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value))
	case errors.As(err, &syntaxErr):
		return badBody(fmt.Sprintf("not valid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: ")))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badBody("the JSON ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for it; its text names only the JSON field.
		return badBody("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return badBody("not valid JSON")
	}
}

// jsonKind names a Go type as the JSON value a client should send.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return "an object"
	}
}

// inputError is a request the caller got wrong; it matches dockerops.ErrBadInput, so
// it maps to 400 bad_input.
type inputError struct{ msg string }

func (e *inputError) Error() string        { return e.msg }
func (e *inputError) Is(target error) bool { return target == dockerops.ErrBadInput }

func badBody(msg string) error  { return &inputError{msg: "request body: " + msg} }
func badQuery(msg string) error { return &inputError{msg: msg} }
