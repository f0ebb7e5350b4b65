package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// openAPI is the served document, loaded and validated with kin-openapi, and a router
// that finds the documented operation of a request.
type openAPI struct {
	doc    *openapi3.T
	router routers.Router
}

func loadOpenAPI(tb testing.TB) *openAPI {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		tb.Fatalf("load api/openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		tb.Fatalf("api/openapi.json is OpenAPI %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		tb.Fatalf("api/openapi.json is not valid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatalf("router of api/openapi.json: %v", err)
	}
	return &openAPI{doc: doc, router: router}
}

// check validates an answer against the documented operation of req: its status must
// be documented (IncludeResponseStatus), its content type and body must match.
func (o *openAPI) check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	o.validate(tb, req, status, header, body, false)
}

// checkStream validates a stream's status and content type; kin-openapi cannot decode
// text/event-stream, so the caller validates its events by the schemas sseEvents names.
func (o *openAPI) checkStream(tb testing.TB, req *http.Request, resp *http.Response) {
	tb.Helper()
	o.validate(tb, req, resp.StatusCode, resp.Header, nil, true)
	if resp.StatusCode == http.StatusOK {
		route, _, _ := o.router.FindRoute(req)
		if route.Operation.Responses.Status(http.StatusOK).Value.Content.Get(resp.Header.Get("Content-Type")) == nil {
			tb.Errorf("%s %s answered Content-Type %q, which the document does not describe", req.Method, req.URL, resp.Header.Get("Content-Type"))
		}
	}
}

func (o *openAPI) validate(tb testing.TB, req *http.Request, status int, header http.Header, body []byte, excludeBody bool) {
	tb.Helper()
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		tb.Fatalf("%s %s is not described: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: excludeBody},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Errorf("%s %s answered %d %s\nwhich the document does not allow: %v", req.Method, req.URL, status, clip(body), err)
	}
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// routeKey is "METHOD /path/{param}", the same for chi and OpenAPI templates.
func routeKey(method, path string) string { return method + " " + path }

// chiRoutes walks the router NewServer builds. Every route is registered whatever
// Deps hold, but for the Telegram webhook, which testDeps leaves out: its path is
// configurable and it speaks Telegram's protocol, so the document leaves it out too.
func chiRoutes(tb testing.TB) []string {
	tb.Helper()
	d := testDeps(tb, nil)
	routes, ok := NewServer(d).(chi.Routes)
	if !ok {
		tb.Fatal("NewServer's handler is not a chi router")
	}
	var keys []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		keys = append(keys, routeKey(method, route))
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func documentedRoutes(doc *openapi3.T) []string {
	var keys []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			keys = append(keys, routeKey(method, path))
		}
	}
	sort.Strings(keys)
	return keys
}

// TestOpenAPIDescribesEveryRoute: every route of the router is in the document, and
// every operation of the document is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	o := loadOpenAPI(t)
	routes, described := chiRoutes(t), documentedRoutes(o.doc)
	if len(routes) < 15 {
		t.Fatalf("walked only %d routes: %v", len(routes), routes)
	}
	for _, r := range routes {
		if !slices.Contains(described, r) {
			t.Errorf("route %s is not described in api/openapi.json", r)
		}
	}
	for _, r := range described {
		if !slices.Contains(routes, r) {
			t.Errorf("api/openapi.json describes %s, which the router does not have", r)
		}
	}
}

// TestOpenAPIErrorShape: answers to bad input, bad tokens and refused writes, from the
// real NewServer, are the documented error shape with a documented status.
func TestOpenAPIErrorShape(t *testing.T) {
	o := loadOpenAPI(t)
	h := NewServer(testDeps(t, nil))
	big := `{"containers": ["` + strings.Repeat("x", 1<<20) + `"]}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no token", "GET", "/api/v1/projects", "", "", 401, "unauthorized"},
		{"bad token", "GET", "/api/v1/projects/demo/status", "nope", "", 401, "unauthorized"},
		{"read token restarts", "POST", "/api/v1/projects/demo/restart", readToken, "", 403, "forbidden"},
		{"read token deploys", "POST", "/api/v1/projects/demo/deploy", readToken, "", 403, "forbidden"},
		{"read token rolls back", "POST", "/api/v1/projects/demo/rollback", readToken, "", 403, "forbidden"},
		{"read token cancels", "POST", "/api/v1/deployments/x/cancel", readToken, "", 403, "forbidden"},
		{"read token reads the audit log", "GET", "/api/v1/audit", readToken, "", 403, "forbidden"},
		{"containers not an array", "POST", "/api/v1/projects/demo/restart", fullToken, `{"containers": "web"}`, 400, "bad_input"},
		{"unknown field", "POST", "/api/v1/projects/demo/deploy", fullToken, `{"dry": true}`, 400, "bad_input"},
		{"not JSON", "POST", "/api/v1/projects/demo/deploy", fullToken, `{`, 400, "bad_input"},
		{"body too large", "POST", "/api/v1/projects/demo/restart", fullToken, big, 413, "body_too_large"},
		{"lines out of range", "GET", "/api/v1/projects/demo/logs?lines=0", readToken, "", 400, "bad_input"},
		{"limit not a number", "GET", "/api/v1/projects/demo/deployments?limit=many", readToken, "", 400, "bad_input"},
		{"audit since", "GET", "/api/v1/audit?since=yesterday", fullToken, "", 400, "bad_input"},
		{"alerts since", "GET", "/api/v1/alerts?since=yesterday", readToken, "", 400, "bad_input"},
		{"alerts of an unknown project", "GET", "/api/v1/alerts?project=nosuch", readToken, "", 404, "unknown_project"},
		{"events of an unknown project", "GET", "/api/v1/events?project=nosuch", readToken, "", 404, "unknown_project"},
		{"events without a watcher", "GET", "/api/v1/events", readToken, "", 503, "not_watching"},
		{"alerts without a watcher", "GET", "/api/v1/alerts", readToken, "", 503, "not_watching"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, h, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.status || errorCode(t, rec) != tc.code {
				t.Fatalf("answered %d %s, want %d %s", rec.Code, clip(rec.Body.Bytes()), tc.status, tc.code)
			}
			req := httptest.NewRequest(tc.method, tc.path, nil)
			o.check(t, req, rec.Code, rec.Header(), rec.Body.Bytes())
		})
	}
}

// TestOpenAPIErrorCodes: every code the API can answer is in the document's enum of
// error codes: those statusOf maps errors to, and those written directly.
func TestOpenAPIErrorCodes(t *testing.T) {
	o := loadOpenAPI(t)
	enum := o.doc.Components.Schemas["ErrorDetail"].Value.Properties["code"].Value.Enum
	documented := map[string]bool{}
	for _, c := range enum {
		documented[c.(string)] = true
	}
	codes := map[string]bool{codeRestartFailed: true}
	for _, err := range []error{dockerops.ErrUnknownProject, dockerops.ErrNoDefault, dockerops.ErrNotFound, dockerops.ErrBusy,
		dockerops.ErrNotCancellable, dockerops.ErrPlanChanged, dockerops.ErrDockerUnavailable, dockerops.ErrBadInput,
		dockerops.ErrMisconfigured, dockerops.ErrNotDeployed, dockerops.ErrUnknownRef, dockerops.ErrGitRemote,
		&http.MaxBytesError{Limit: 1}, io.EOF} {
		_, code := statusOf(err)
		codes[code] = true
	}
	// writeProblem's codes, read from the source: a new one cannot be forgotten here.
	direct := regexp.MustCompile(`writeProblem\([^,]+,[^,]+,\s*"([a-z_]+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range direct.FindAllSubmatch(src, -1) {
			codes[string(m[1])] = true
		}
	}
	if !codes["unauthorized"] || !codes["not_watching"] {
		t.Fatalf("read %v from the source: the pattern no longer finds writeProblem's codes", codes)
	}
	for c := range codes {
		if !documented[c] {
			t.Errorf("error code %q is not in the document's ErrorDetail.code enum", c)
		}
	}
}

// TestOpenAPIAccessLevels: what each operation's x-scar-access says is what the
// router does: "full" refuses a read-only token with 403 before anything runs, "read"
// lets it through, "none" needs no token. The operations behind are a real Service
// whose engine cannot be reached: they answer at once and change nothing.
func TestOpenAPIAccessLevels(t *testing.T) {
	o := loadOpenAPI(t)
	d := testDeps(t, nil)
	engine, err := dockerops.NewClient("tcp://127.0.0.1:1") // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	d.Ops = dockerops.New(engine, d.Projects.(*projects.Store), d.Metrics, nil)
	h := NewServer(d)
	routes := chiRoutes(t)
	for path, item := range o.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !slices.Contains(routes, routeKey(method, path)) {
				continue // reported by TestOpenAPIDescribesEveryRoute
			}
			access, _ := op.Extensions["x-scar-access"].(string)
			url := strings.NewReplacer("{project}", "demo", "{id}", "nosuch").Replace(path)
			token := readToken
			switch access {
			case "none":
				token = ""
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s %s needs no token but its security is not []", method, path)
				}
			case "read", "full":
			default:
				t.Errorf("%s %s has x-scar-access %q, want none, read or full", method, path, access)
				continue
			}
			rec := do(t, h, method, url, token, "")
			refused := rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden
			if access == "full" && rec.Code != http.StatusForbidden {
				t.Errorf("%s %s with a read-only token answered %d, want 403 (x-scar-access: full)", method, url, rec.Code)
			}
			if access != "full" && refused {
				t.Errorf("%s %s with token %q answered %d, want it let through (x-scar-access: %s)", method, url, token, rec.Code, access)
			}
		}
	}
}

// TestOpenAPIServesTheDocument: GET /api/v1/openapi.json answers the document as it is
// in the repository, to any token, and not without one.
func TestOpenAPIServesTheDocument(t *testing.T) {
	o := loadOpenAPI(t)
	h := NewServer(testDeps(t, nil))
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{readToken, fullToken} {
		rec := do(t, h, "GET", "/api/v1/openapi.json", token, "")
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), file) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("GET /api/v1/openapi.json: %d %s, %d bytes; want 200 application/json with api/openapi.json's %d bytes",
				rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), len(file))
		}
		o.check(t, httptest.NewRequest("GET", "/api/v1/openapi.json", nil), rec.Code, rec.Header(), rec.Body.Bytes())
	}
	if rec := do(t, h, "GET", "/api/v1/openapi.json", "", ""); rec.Code != 401 {
		t.Errorf("without a token: %d, want 401", rec.Code)
	}
}

// TestOpenAPISchemasMatchGoTypes: each documented schema has exactly the JSON fields of
// the Go type the API encodes, of the right JSON kind, and requires those that are
// always sent (no omitempty or omitzero).
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	o := loadOpenAPI(t)
	cases := []struct {
		schema string
		typ    any
		// alwaysSent are omitempty fields the handler writes all the same.
		alwaysSent []string
		// request: a body the client sends, where every field may be left out.
		request bool
	}{
		{schema: "Error", typ: errorBody{}},
		{schema: "ErrorDetail", typ: errorDetail{}},
		{schema: "Project", typ: projectInfo{}},
		{schema: "ProjectStatus", typ: dockerops.ProjectStatus{}},
		{schema: "ContainerStatus", typ: dockerops.ContainerStatus{}},
		{schema: "LogsResult", typ: dockerops.LogsResult{}, alwaysSent: []string{"truncated"}}, // writeLogs writes it always
		{schema: "LogLine", typ: dockerops.LogLine{}},
		{schema: "FollowLine", typ: dockerops.FollowLine{}},
		{schema: "ContainerStats", typ: dockerops.ContainerStats{}},
		{schema: "ProjectStats", typ: dockerops.ProjectStats{}},
		{schema: "ContainersRequest", typ: dockerops.RestartRequest{}, request: true},
		{schema: "ContainerResult", typ: dockerops.ContainerResult{}},
		{schema: "RestartResult", typ: dockerops.RestartResult{}},
		{schema: "RestartFailure", typ: restartFailure{}},
		{schema: "DeployRequest", typ: deployRequest{}, request: true},
		{schema: "PromoteRequest", typ: promoteRequest{}, request: true},
		{schema: "Commit", typ: gitsource.Commit{}},
		{schema: "HookAnswer", typ: hookAnswer{}},
		{schema: "PushOutcome", typ: dockerops.PushOutcome{}},
		{schema: "DeployPlan", typ: dockerops.DeployPlan{}},
		{schema: "ServiceAction", typ: dockerops.ServiceAction{}},
		{schema: "NothingToDeploy", typ: nothingToDeploy{}},
		{schema: "Deployment", typ: dockerops.Deployment{}},
		{schema: "Event", typ: dockerops.Event{}},
		{schema: "AuditEntry", typ: store.AuditEntry{}},
		{schema: "Incident", typ: incidentJSON{}},
		{schema: "ContainerEvent", typ: containerEventJSON{}},
	}
	for _, tc := range cases {
		t.Run(tc.schema, func(t *testing.T) {
			ref := o.doc.Components.Schemas[tc.schema]
			if ref == nil {
				t.Fatalf("no schema %s", tc.schema)
			}
			s := ref.Value
			fields := jsonFields(reflect.TypeOf(tc.typ))
			var want, required []string
			for _, f := range fields {
				want = append(want, f.name)
				if !tc.request && (!f.optional || slices.Contains(tc.alwaysSent, f.name)) {
					required = append(required, f.name)
				}
				p := s.Properties[f.name]
				if p == nil {
					continue
				}
				if got := schemaKind(p.Value); !slices.Contains(strings.Split(got, ","), f.kind) {
					t.Errorf("%s.%s is %s in the document, %s in Go", tc.schema, f.name, got, f.kind)
				}
			}
			var have []string
			for name := range s.Properties {
				have = append(have, name)
			}
			sort.Strings(want)
			sort.Strings(have)
			if !slices.Equal(want, have) {
				t.Errorf("%s has properties %v, the Go type %T %v", tc.schema, have, tc.typ, want)
			}
			gotRequired := slices.Clone(s.Required)
			sort.Strings(gotRequired)
			sort.Strings(required)
			if !slices.Equal(gotRequired, required) {
				t.Errorf("%s requires %v; the Go type always sends %v", tc.schema, gotRequired, required)
			}
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
				t.Errorf("%s allows properties beyond its own: the test could not see a field added in Go", tc.schema)
			}
		})
	}
}

type jsonField struct {
	name     string
	kind     string // the JSON kind: string, boolean, integer, number, array, object
	optional bool
}

// jsonFields lists the JSON fields encoding/json writes for a struct type, the
// fields of embedded structs included.
func jsonFields(t reflect.Type) []jsonField {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out = append(out, jsonField{name: name, kind: jsonKindOf(f.Type), optional: optional})
	}
	return out
}

func jsonKindOf(t reflect.Type) string {
	if t == reflect.TypeOf(time.Time{}) {
		return "string"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKindOf(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

// schemaKind is the JSON types a schema allows, comma-separated; a oneOf, anyOf or
// allOf of objects is an object.
func schemaKind(s *openapi3.Schema) string {
	if s.Type != nil && len(*s.Type) > 0 {
		return strings.Join(*s.Type, ",")
	}
	if s.Const != nil {
		return "string"
	}
	return "object"
}

// sseEvents is what a text/event-stream answer's x-scar-sse-events says: the schema
// of each event's data, by event name.
func (o *openAPI) sseEvents(tb testing.TB, path, method string) map[string]*openapi3.Schema {
	tb.Helper()
	op := o.doc.Paths.Find(path).GetOperation(method)
	media := op.Responses.Status(http.StatusOK).Value.Content.Get("text/event-stream")
	if media == nil {
		tb.Fatalf("%s %s has no text/event-stream answer", method, path)
	}
	names, ok := media.Extensions["x-scar-sse-events"].(map[string]any)
	if !ok || len(names) == 0 {
		tb.Fatalf("%s %s: its text/event-stream answer has no x-scar-sse-events", method, path)
	}
	out := map[string]*openapi3.Schema{}
	for event, name := range names {
		ref := o.doc.Components.Schemas[name.(string)]
		if ref == nil {
			tb.Fatalf("%s %s: event %s names schema %v, which components/schemas lacks", method, path, event, name)
		}
		out[event] = ref.Value
	}
	return out
}

// TestOpenAPIStreamsNameTheirEvents: every stream the document describes says which
// events it sends and the schema of each one's data.
func TestOpenAPIStreamsNameTheirEvents(t *testing.T) {
	o := loadOpenAPI(t)
	streams := 0
	for path, item := range o.doc.Paths.Map() {
		for method, op := range item.Operations() {
			ok := op.Responses.Status(http.StatusOK)
			if ok == nil || ok.Value.Content.Get("text/event-stream") == nil {
				continue
			}
			streams++
			o.sseEvents(t, path, method)
		}
	}
	if streams != 3 {
		t.Errorf("%d operations answer text/event-stream, want 3: the events, a log follow and a deploy's events", streams)
	}
}
