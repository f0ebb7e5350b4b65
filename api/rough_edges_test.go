package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// statusOps is Operations whose Status runs statusFn; every other call fails the test.
type statusOps struct {
	refusingOps
	statusFn func(ctx context.Context, project string) (*dockerops.ProjectStatus, error)
}

func (o statusOps) Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
	return o.statusFn(ctx, project)
}

func auditEntries(tb testing.TB, d Deps) []store.AuditEntry {
	tb.Helper()
	entries, err := d.Audit.Audit(context.Background(), "", time.Time{}, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return entries
}

func TestBearerSchemeCaseInsensitive(t *testing.T) {
	h := NewServer(testDeps(t, nil))
	for _, header := range []string{"Bearer " + readToken, "bearer " + readToken, "BEARER " + readToken, "  bEaReR   " + readToken + " "} {
		req := httptest.NewRequest("GET", "/api/v1/projects", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("Authorization %q: %d, want 200", header, rec.Code)
		}
	}
	for _, header := range []string{"Basic " + readToken, "Bearer", "Bearer ", "Bearer" + readToken} {
		req := httptest.NewRequest("GET", "/api/v1/projects", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Errorf("Authorization %q: %d, want 401", header, rec.Code)
		}
	}
}

func TestRequestIDEchoedOrAssigned(t *testing.T) {
	h := NewServer(testDeps(t, nil))
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"none sent", "", false},
		{"proxy's id", "f3a9c0de-42", true},
		{"too long", strings.Repeat("a", 65), false},
		{"forged log line", "x\nlevel=ERROR", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/healthz", "/api/v1/projects", "/nope"} {
				req := httptest.NewRequest("GET", path, nil)
				if tc.sent != "" {
					req.Header.Set("X-Request-Id", tc.sent)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				got := rec.Header().Get("X-Request-Id")
				if tc.echoed && got != tc.sent || !tc.echoed && (got == "" || got == tc.sent) {
					t.Errorf("%s: X-Request-Id %q (sent %q)", path, got, tc.sent)
				}
			}
		})
	}
}

func TestQueryRangesRefused(t *testing.T) {
	d := testDeps(t, nil) // Ops nil: a refused query that reached one would panic
	h := NewServer(d)
	for _, path := range []string{
		"/api/v1/projects/demo/logs?lines=0", "/api/v1/projects/demo/logs?lines=-3",
		"/api/v1/projects/demo/logs?lines=5001", "/api/v1/projects/demo/logs?lines=many",
		"/api/v1/projects/demo/deployments?limit=0", "/api/v1/audit?since=yesterday",
	} {
		rec := do(t, h, "GET", path, fullToken, "")
		if rec.Code != 400 || errorCode(t, rec) != "bad_input" {
			t.Errorf("%s: %d %s, want 400 bad_input", path, rec.Code, rec.Body)
		}
	}
	if n := len(auditEntries(t, d)); n != 6 {
		t.Errorf("%d audit entries for 6 refused reads, want 6", n)
	}
}

func TestBadBodyNamesJSONFieldNotGoType(t *testing.T) {
	d := testDeps(t, nil)
	h := NewServer(d)
	tests := []struct{ body, want string }{
		{`{"containers": "web"}`, `request body: field "containers": want an array of strings, got string`},
		{`{"containers": [1]}`, `request body: field "containers": want a string, got number`},
		{`{"containerz": []}`, `request body: unknown field "containerz"`},
		{`{"containers": [`, `request body: the JSON ends too early`},
		{`["web"]`, `request body: want a JSON object, got array`},
		{`{} {}`, `request body: one JSON object expected, more follows it`},
		{`{"containers": ]`, `request body: not valid JSON at byte 16`},
	}
	for _, tc := range tests {
		rec := do(t, h, "POST", "/api/v1/projects/demo/restart", fullToken, tc.body)
		var body errorBody
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != 400 || !strings.HasPrefix(body.Error.Message, tc.want) {
			t.Errorf("body %s: %d %q, want 400 %q", tc.body, rec.Code, body.Error.Message, tc.want)
		}
		for _, leak := range []string{"Go ", "RestartRequest", "dockerops", "[]string", "json:"} {
			if strings.Contains(body.Error.Message, leak) {
				t.Errorf("body %s: message %q shows %q", tc.body, body.Error.Message, leak)
			}
		}
	}
	entries := auditEntries(t, d)
	if len(entries) != len(tests) || entries[0].Action != "restart" || entries[0].Outcome != "bad_input" {
		t.Errorf("malformed bodies audited as %+v, want %d restart bad_input entries", entries, len(tests))
	}
}

func TestUnauthorizedAuditedRateLimited(t *testing.T) {
	d := testDeps(t, nil)
	h := NewServer(d)
	for i := range 25 {
		req := httptest.NewRequest("GET", "/api/v1/projects/demo/status", nil)
		req.RemoteAddr = "198.51.100.7:4000"
		if i%2 == 0 {
			req.Header.Set("Authorization", "Bearer wrong-token-0000000000")
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	req := httptest.NewRequest("GET", "/api/v1/projects", nil)
	req.RemoteAddr = "203.0.113.9:4000"
	h.ServeHTTP(httptest.NewRecorder(), req)

	bySource := map[string]int{}
	for _, e := range auditEntries(t, d) {
		if e.Outcome != "unauthorized" || e.Action != "auth" || e.Who != "api:unauthenticated" {
			t.Errorf("unexpected entry %+v", e)
		}
		bySource[e.Source]++
	}
	if bySource["198.51.100.7"] != unauthorizedPerMinute || bySource["203.0.113.9"] != 1 {
		t.Errorf("unauthorized entries by source %v, want %d and 1", bySource, unauthorizedPerMinute)
	}

	t.Run("window", func(t *testing.T) {
		now := time.Unix(1_800_000_000, 0)
		a := newAuditLog(nil, slog.New(slog.DiscardHandler))
		a.now = func() time.Time { return now }
		allowed := 0
		for range 3 * unauthorizedPerMinute {
			if a.allowUnauthorized("x") {
				allowed++
			}
		}
		now = now.Add(time.Minute)
		if !a.allowUnauthorized("x") || allowed != unauthorizedPerMinute {
			t.Errorf("allowed %d in a minute, want %d, and more in the next minute", allowed, unauthorizedPerMinute)
		}
	})
}

func TestInFlightPerToken(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	d := testDeps(t, nil)
	d.MaxInFlightPerToken = 3
	d.Ops = statusOps{refusingOps: refusingOps{t}, statusFn: func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		started <- struct{}{}
		<-release
		return &dockerops.ProjectStatus{Project: project}, nil
	}}
	h := NewServer(d)
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 3 {
		wg.Go(func() { codes <- do(t, h, "GET", "/api/v1/projects/demo/status", readToken, "").Code })
	}
	for range 3 {
		<-started
	}
	rec := do(t, h, "GET", "/api/v1/projects/demo/status", readToken, "")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" || errorCode(t, rec) != "too_many_requests" {
		t.Errorf("4th request of a token: %d Retry-After %q %s, want 429, 1, too_many_requests", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if rec := do(t, h, "GET", "/api/v1/projects", fullToken, ""); rec.Code != 200 {
		t.Errorf("another token is limited too: %d", rec.Code)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("a request in flight answered %d", c)
		}
	}
	if rec := do(t, h, "GET", "/api/v1/projects/demo/status", readToken, ""); rec.Code != 200 {
		t.Errorf("after the others finished: %d, want 200", rec.Code)
	}
}

func TestRequestLogLines(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	d := testDeps(t, nil)
	d.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.Ops = statusOps{refusingOps: refusingOps{t}, statusFn: func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
		if project == "gone" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, errors.New("engine exploded")
	}}
	h := NewServer(d)
	lines := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			json.Unmarshal([]byte(l), &m)
			if m["msg"] == "http request" {
				out = append(out, m)
			}
		}
		buf.Reset()
		return out
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		do(t, h, "GET", path, "", "")
		if l := lines(); len(l) != 1 || l[0]["level"] != "DEBUG" {
			t.Errorf("%s logged as %v, want one debug line", path, l)
		}
	}
	do(t, h, "GET", "/api/v1/projects", readToken, "")
	if l := lines(); len(l) != 1 || l[0]["level"] != "INFO" || l[0]["client_gone"] != nil {
		t.Errorf("a read logged as %v, want one info line", l)
	}
	do(t, h, "GET", "/api/v1/projects/demo/status", readToken, "")
	if l := lines(); len(l) != 1 || l[0]["level"] != "ERROR" || l[0]["status"] != 500.0 || l[0]["error"] != "engine exploded" {
		t.Errorf("a 500 logged as %v, want an error line with its error", l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/projects/gone/status", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	time.AfterFunc(50*time.Millisecond, cancel)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if l := lines(); len(l) != 1 || l[0]["client_gone"] != true {
		t.Errorf("a request whose client went away logged as %v, want client_gone", l)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func TestLogsAnswerStreamsAndSaysTruncated(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	res := &dockerops.LogsResult{Project: "p", Container: "c", Truncated: true,
		Lines: []dockerops.LogLine{{Time: at, Stream: "stdout", Text: "a \"quoted\" line"}, {Stream: "stderr", Text: "b"}}}
	for _, truncated := range []bool{true, false} {
		res.Truncated = truncated
		rec := httptest.NewRecorder()
		writeLogs(rec, httptest.NewRequest("GET", "/", nil), res, 1234)
		var got dockerops.LogsResult
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("JSON answer %s: %v", rec.Body, err)
		}
		var raw map[string]any
		json.Unmarshal(rec.Body.Bytes(), &raw)
		if got.Project != "p" || got.Container != "c" || len(got.Lines) != 2 || got.Lines[0].Text != `a "quoted" line` || !got.Lines[0].Time.Equal(at) || raw["truncated"] != truncated {
			t.Errorf("JSON answer %s, want the result with truncated=%v", rec.Body, truncated)
		}
		if (rec.Header().Get("X-Scar-Truncated") == "true") != truncated {
			t.Errorf("X-Scar-Truncated %q with truncated=%v", rec.Header().Get("X-Scar-Truncated"), truncated)
		}

		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", "text/plain")
		rec = httptest.NewRecorder()
		writeLogs(rec, req, res, 1234)
		want := "2025-06-01T12:00:00Z a \"quoted\" line\nb\n"
		if truncated {
			want += "[scar: older lines left out: a logs answer holds at most 1234 bytes of log text]\n"
		}
		if rec.Body.String() != want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("text answer %q, want %q", rec.Body, want)
		}
	}
}
