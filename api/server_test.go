package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

const (
	fullToken = "full-token-0123456789abcdef"
	readToken = "read-token-0123456789abcdef"
)

// mustProjects writes a projects file for one project and loads it.
func mustProjects(tb testing.TB) *projects.Store {
	tb.Helper()
	dir := tb.TempDir()
	for _, d := range []string{"ws", "prod"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	file := filepath.Join(dir, "projects.json")
	body := `{"demo": {"workspace": "` + dir + `/ws", "production": "` + dir + `/prod", "compose_project": "demo", "auto_detect": true}}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	ps, err := projects.NewStore(file, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

// testDeps are server dependencies with no Docker behind them: enough for every route
// that answers before an operation runs.
func testDeps(tb testing.TB, ready error) Deps {
	tb.Helper()
	reg := prometheus.NewRegistry()
	return Deps{
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        metrics.New(reg, "test"),
		Projects:       mustProjects(tb),
		Audit:          mustOpenStore(tb),
		Tokens:         NewTokens([]string{fullToken}, []string{readToken}),
		Ready:          func(context.Context) error { return ready },
		MetricsHandler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}
}

func do(tb testing.TB, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(tb testing.TB, rec *httptest.ResponseRecorder) string {
	tb.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		tb.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return body.Error.Code
}

func TestBearerAuth(t *testing.T) {
	d := testDeps(t, nil)
	audit := d.Audit.(*store.DB)
	h := NewServer(d)
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		wantStatus int
		wantCode   string
	}{
		{"no token", "GET", "/api/v1/projects", "", 401, "unauthorized"},
		{"wrong token", "GET", "/api/v1/projects", "not-a-token-at-all-0000", 401, "unauthorized"},
		{"token prefix only", "GET", "/api/v1/projects", fullToken[:10], 401, "unauthorized"},
		{"read token reads", "GET", "/api/v1/projects", readToken, 200, ""},
		{"full token reads", "GET", "/api/v1/projects", fullToken, 200, ""},
		{"read token on restart", "POST", "/api/v1/projects/demo/restart", readToken, 403, "forbidden"},
		{"read token on deploy", "POST", "/api/v1/projects/demo/deploy", readToken, 403, "forbidden"},
		{"read token on rollback", "POST", "/api/v1/projects/demo/rollback", readToken, 403, "forbidden"},
		{"read token on audit", "GET", "/api/v1/audit", readToken, 403, "forbidden"},
		{"full token on audit", "GET", "/api/v1/audit", fullToken, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Ops is nil: a refused request that reached an operation would panic.
			rec := do(t, h, tc.method, tc.path, tc.token, "")
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantCode != "" {
				if got := errorCode(t, rec); got != tc.wantCode {
					t.Errorf("error code %q, want %q", got, tc.wantCode)
				}
			}
		})
	}
	entries, err := audit.Audit(context.Background(), "", timeZero, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every request is audited: the three without a valid token as unauthorized, the
	// four read-token writes as refused, the three reads as ok. No refused entry
	// claims an action ran.
	count := map[string]int{}
	for _, e := range entries {
		count[e.Action+" "+e.Outcome]++
		if e.Outcome == "ok" && e.Action != "projects" && e.Action != "audit" {
			t.Errorf("a refused request wrote an audit entry that claims an action ran: %+v", e)
		}
	}
	want := map[string]int{"auth unauthorized": 3, "restart refused": 1, "deploy refused": 1, "rollback refused": 1,
		"audit refused": 1, "projects ok": 2, "audit ok": 1}
	if !maps.Equal(count, want) {
		t.Errorf("audit entries %v, want %v", count, want)
	}
}

func TestProjectsList(t *testing.T) {
	h := NewServer(testDeps(t, nil))
	rec := do(t, h, "GET", "/api/v1/projects", readToken, "")
	var got struct {
		Projects []projectInfo `json:"projects"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Projects) != 1 || got.Projects[0].Name != "demo" || got.Projects[0].ComposeProject != "demo" || !got.Projects[0].Default {
		t.Fatalf("projects = %+v, want the one default project demo", got.Projects)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Run("healthz", func(t *testing.T) {
		rec := do(t, NewServer(testDeps(t, errors.New("docker down"))), "GET", "/healthz", "", "")
		if rec.Code != 200 {
			t.Fatalf("healthz %d while Docker is down; the process is alive", rec.Code)
		}
	})
	t.Run("readyz ready", func(t *testing.T) {
		rec := do(t, NewServer(testDeps(t, nil)), "GET", "/readyz", "", "")
		if rec.Code != 200 {
			t.Fatalf("readyz %d, want 200", rec.Code)
		}
	})
	t.Run("readyz not ready says why", func(t *testing.T) {
		rec := do(t, NewServer(testDeps(t, dockerops.ErrDockerUnavailable)), "GET", "/readyz", "", "")
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), "docker unavailable") {
			t.Fatalf("readyz %d %s, want 503 naming Docker", rec.Code, rec.Body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		h := NewServer(testDeps(t, nil))
		do(t, h, "GET", "/healthz", "", "")
		rec := do(t, h, "GET", "/metrics", "", "")
		body, _ := io.ReadAll(rec.Body)
		for _, want := range []string{`scar_build_info{goversion=`, `version="test"`, `scar_http_requests_total{code="200",route="/healthz"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func TestBodyLimitAndBadBody(t *testing.T) {
	d := testDeps(t, nil)
	d.MaxBodyBytes = 1024
	h := NewServer(d)
	tests := []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"too large", `{"containers": ["` + strings.Repeat("a", 4096) + `"]}`, 413},
		{"malformed", `{"containers": [`, 400},
		{"unknown field", `{"containerz": []}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, h, "POST", "/api/v1/projects/demo/restart", fullToken, tc.body)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	rec := do(t, NewServer(testDeps(t, nil)), "GET", "/nope", "", "")
	if rec.Code != 404 || errorCode(t, rec) != "not_found" {
		t.Fatalf("unknown route: %d %s", rec.Code, rec.Body)
	}
}

func mustOpenStore(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
