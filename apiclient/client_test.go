package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// These tests check the client's side — requests, parsing, errors, streams — against
// httptest servers that answer as scar's api package does. The real server is in the
// e2e tests of cmd/scar.

const token = "test-token-0123456789"

// recorded is one request a test server saw.
type recorded struct {
	method, path, query, auth, accept, body string
}

// newServer serves h and records every request.
func newServer(t *testing.T, h http.HandlerFunc) (*Client, func() []recorded) {
	t.Helper()
	var mu sync.Mutex
	var seen []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Accept"), string(b)})
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b))) // for h to read again
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", token)
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]recorded(nil), seen...)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func TestNewRefusesAURLItCannotUse(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://host", "http://", "http://a b"} {
		if _, err := New(u, token); err == nil {
			t.Errorf("New(%q) = nil error", u)
		}
	}
	c, err := New("https://ops.example.com/scar/", token)
	if err != nil || c.URL() != "https://ops.example.com/scar" {
		t.Errorf("New with a path prefix: %v %v", c, err)
	}
}

// TestServerErrorsBecomeError: scar's error body gives Error its status, code and
// message; a proxy's page that is not scar's JSON still gives the status.
func TestServerErrorsBecomeError(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantCode    string
		wantMessage string
	}{
		{"unauthorized", 401, `{"error": {"code": "unauthorized", "message": "invalid bearer token"}}`, "unauthorized", "invalid bearer token"},
		{"forbidden", 403, `{"error": {"code": "forbidden", "message": "a read-only token cannot deploy"}}`, "forbidden", "a read-only token cannot deploy"},
		{"unknown project", 404, `{"error": {"code": "unknown_project", "message": "unknown project \"nope\""}}`, "unknown_project", `unknown project "nope"`},
		{"busy", 409, `{"error": {"code": "busy", "message": "busy: deploy of demo by api:full-1 since 2026-11-28T15:00:00Z"}}`, "busy", "busy: deploy of demo by api:full-1 since 2026-11-28T15:00:00Z"},
		{"a proxy's page", 502, `<html>bad gateway</html>`, "bad_gateway", "HTTP 502 from "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tc.status, tc.body) })
			_, err := c.Status(context.Background(), "demo")
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("Status: %v (%T), want an *Error", err, err)
			}
			if apiErr.Status != tc.status || apiErr.Code != tc.wantCode || !strings.Contains(apiErr.Message, tc.wantMessage) {
				t.Errorf("got %d %q %q, want %d %q %q", apiErr.Status, apiErr.Code, apiErr.Message, tc.status, tc.wantCode, tc.wantMessage)
			}
			if err.Error() != apiErr.Message {
				t.Errorf("Error() = %q, want the server's message alone", err.Error())
			}
			if errors.Is(err, ErrUnreachable) {
				t.Error("an answer is not ErrUnreachable")
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, _ := New("http://"+addr, token)
	_, err = c.Status(context.Background(), "demo")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Status of a closed port: %v, want ErrUnreachable naming %s", err, addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx, "demo"); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with an ended context: %v, want context.Canceled", err)
	}
}

// TestRequestsAsTheServerReadsThem: each method's method, path, query, body and token.
func TestRequestsAsTheServerReadsThem(t *testing.T) {
	c, seen := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/deployments"):
			writeJSON(w, 200, `{"deployments": [{"id": "d2", "status": "success"}, {"id": "d1", "status": "failed_rolled_back"}]}`)
		case strings.HasSuffix(r.URL.Path, "/deploy") || strings.HasSuffix(r.URL.Path, "/rollback"):
			writeJSON(w, 202, `{"id": "d3", "project": "my app", "status": "running"}`)
		case r.URL.Path == "/api/v1/projects":
			writeJSON(w, 200, `{"projects": [{"name": "a"}, {"name": "b", "default": true}]}`)
		default:
			writeJSON(w, 200, `{"project": "my app", "ok": true, "lines": [{"text": "hello", "stream": "stdout"}]}`)
		}
	})
	ctx := context.Background()
	list, err := c.Projects(ctx)
	if err != nil || len(list) != 2 || !list[1].Default {
		t.Fatalf("Projects: %v %v", list, err)
	}
	if _, err := c.Status(ctx, "my app"); err != nil {
		t.Fatal(err)
	}
	logs, err := c.Logs(ctx, "my app", LogsQuery{Container: "web", Lines: 20, Since: "15m", Grep: "err"})
	if err != nil || len(logs.Lines) != 1 || logs.Lines[0].Text != "hello" {
		t.Fatalf("Logs: %v %v", logs, err)
	}
	if _, err := c.Restart(ctx, "my app", "web", "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stop(ctx, "my app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(ctx, "my app", "web"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Deploy(ctx, "my app", "fp1")
	if err != nil || d.ID != "d3" || d.Done() {
		t.Fatalf("Deploy: %+v %v", d, err)
	}
	if _, err := c.Rollback(ctx, "my app"); err != nil {
		t.Fatal(err)
	}
	hist, err := c.History(ctx, "my app", 5)
	if err != nil || len(hist) != 2 || hist[1].Status != dockerops.DeployFailedRolledBack {
		t.Fatalf("History: %v %v", hist, err)
	}
	want := []recorded{
		{"GET", "/api/v1/projects", "", "", "", ""},
		{"GET", "/api/v1/projects/my app/status", "", "", "", ""},
		{"GET", "/api/v1/projects/my app/logs", "container=web&grep=err&lines=20&since=15m", "", "", ""},
		{"POST", "/api/v1/projects/my app/restart", "", "", "", `{"containers":["web","db"]}`},
		{"POST", "/api/v1/projects/my app/stop", "", "", "", `{}`},
		{"POST", "/api/v1/projects/my app/start", "", "", "", `{"containers":["web"]}`},
		{"POST", "/api/v1/projects/my app/deploy", "", "", "", `{"plan_fingerprint":"fp1"}`},
		{"POST", "/api/v1/projects/my app/rollback", "", "", "", ``},
		{"GET", "/api/v1/projects/my app/deployments", "limit=5", "", "", ""},
	}
	got := seen()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, g := range got {
		if g.auth != "Bearer "+token {
			t.Errorf("request %d: Authorization %q", i, g.auth)
		}
		g.auth, g.accept = "", ""
		if g != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, g, want[i])
		}
	}
}

// TestDeployPlanAndNothingToDo: a dry run's answer, and a deploy with nothing to do
// (200, no id) read as a finished deployment of status nothing_to_do.
func TestDeployPlanAndNothingToDo(t *testing.T) {
	c, seen := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), "dry_run") {
			writeJSON(w, 200, `{"plan": {"project": "demo", "changed": ["a.txt"], "fingerprint": "fp"}, "nothing_to_deploy": false}`)
			return
		}
		writeJSON(w, 200, `{"status": "nothing_to_do", "project": "demo", "message": "nothing to deploy", "plan": {"project": "demo"}}`)
	})
	plan, err := c.PlanDeploy(context.Background(), "demo")
	if err != nil || plan.NothingToDeploy || plan.Plan.Fingerprint != "fp" || len(plan.Plan.Changed) != 1 {
		t.Fatalf("PlanDeploy: %+v %v", plan, err)
	}
	if got := seen()[0].body; got != `{"dry_run":true}` {
		t.Errorf("dry run body %s", got)
	}
	d, err := c.Deploy(context.Background(), "demo", "")
	if err != nil || d.Status != dockerops.DeployNothingToDo || d.ID != "" || !d.Done() {
		t.Fatalf("Deploy with nothing to do: %+v %v", d, err)
	}
	if got := seen()[1].body; got != `{}` {
		t.Errorf("deploy without a fingerprint sent %s", got)
	}
}

// TestFailedContainersGiveTheResultAndTheError: 500 restart_failed (stop_failed,
// start_failed) carries the per-container result; the method returns both.
func TestFailedContainersGiveTheResultAndTheError(t *testing.T) {
	c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		op := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		writeJSON(w, 500, `{"project": "demo", "ok": false, "containers": [{"name": "web", "ok": false, "state": "exited", "health": "none", "error": "exited with code 3"}], "duration_ms": 1200,
			"error": {"code": "`+op+`_failed", "message": "`+op+` of demo: 1 of 1 containers did not come back: web: exited with code 3"}}`)
	})
	ops := map[string]func(context.Context, string, ...string) (*dockerops.RestartResult, error){"restart": c.Restart, "stop": c.Stop, "start": c.Start}
	for op, call := range ops {
		res, err := call(context.Background(), "demo")
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Code != op+"_failed" || apiErr.Status != 500 {
			t.Fatalf("%s: %v, want %s_failed", op, err, op)
		}
		if res == nil || res.OK || len(res.Containers) != 1 || res.Containers[0].Error != "exited with code 3" {
			t.Fatalf("%s result: %+v, want the failed container", op, res)
		}
	}
}

func sse(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	for _, c := range chunks {
		io.WriteString(w, c)
		w.(http.Flusher).Flush()
	}
}

func TestEventsReadsStagesThenEnd(t *testing.T) {
	c, seen := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, ": scar deployment events\n\n",
			"event: stage\ndata: {\"stage\": \"plan\", \"message\": \"2 files\"}\n\n",
			"event: stage\r\ndata: {\"stage\": \"sync\",\r\ndata: \"message\": \"copied\"}\r\n\r\n",
			": keep-alive\n\n",
			"event: end\ndata: {\"id\": \"d1\", \"status\": \"success\", \"events\": [{}, {}]}\n\n",
			"event: stage\ndata: {\"stage\": \"after the end\"}\n\n")
	})
	var stages []string
	d, err := c.Events(context.Background(), "d1", func(ev dockerops.Event) { stages = append(stages, ev.Stage+":"+ev.Message) })
	if err != nil || d.Status != dockerops.DeploySuccess || d.ID != "d1" {
		t.Fatalf("Events: %+v %v", d, err)
	}
	if fmt.Sprint(stages) != "[plan:2 files sync:copied]" {
		t.Errorf("stages %v", stages)
	}
	if r := seen()[0]; r.path != "/api/v1/deployments/d1/events" || r.accept != "text/event-stream" {
		t.Errorf("request %+v", r)
	}
}

// TestEventsEndingEarlyLetsWaitTakeOver: a stream cut before its end event, a server
// without the endpoint, and an answer that is not a stream each say so, and Wait
// polls the deployment to its end.
func TestEventsEndingEarlyLetsWaitTakeOver(t *testing.T) {
	var mu sync.Mutex
	polls := 0
	mode := ""
	c, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") {
			switch mode {
			case "cut":
				sse(w, "event: stage\ndata: {\"stage\": \"plan\"}\n\n", "event: stage\ndata: {\"sta")
			case "missing":
				writeJSON(w, 404, `{"error": {"code": "not_found", "message": "no such endpoint: GET /api/v1/deployments/d1/events"}}`)
			case "json":
				writeJSON(w, 200, `{}`)
			}
			return
		}
		mu.Lock()
		polls++
		n := polls
		mu.Unlock()
		status := "running"
		if n >= 3 {
			status = "failed_rolled_back"
		}
		writeJSON(w, 200, fmt.Sprintf(`{"id": "d1", "status": %q, "events": [{"stage": "plan"}, {"stage": "health"}]}`, status))
	})
	for _, m := range []string{"cut", "missing", "json"} {
		t.Run(m, func(t *testing.T) {
			mode = m
			var n int
			_, err := c.Events(context.Background(), "d1", func(dockerops.Event) { n++ })
			var apiErr *Error
			switch m {
			case "missing":
				if !errors.As(err, &apiErr) || apiErr.Status != 404 {
					t.Errorf("Events of a server without it: %v, want a 404 *Error", err)
				}
			default:
				if !errors.Is(err, ErrStreamCut) {
					t.Errorf("Events: %v, want ErrStreamCut", err)
				}
			}
			if m == "cut" && n != 1 {
				t.Errorf("%d events before the cut, want 1 (the half-sent one is not handed on)", n)
			}
		})
	}
	mu.Lock()
	polls = 0
	mu.Unlock()
	updates := 0
	d, err := c.Wait(context.Background(), "d1", time.Millisecond, func(*dockerops.Deployment) { updates++ })
	if err != nil || d.Status != dockerops.DeployFailedRolledBack || updates != 3 {
		t.Fatalf("Wait: %+v %v after %d updates, want failed_rolled_back after 3", d, err, updates)
	}
}

// TestFollowLogsHandsOnEachLineAsItComes: the server writes the next line only once
// the client has had the one before, so a client that waited for the end would hang;
// ending the context ends the follow without an error.
func TestFollowLogsHandsOnEachLineAsItComes(t *testing.T) {
	got := make(chan string)
	c, seen := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(200)
		for i := range 3 {
			fmt.Fprintf(w, "web | 2026-11-28T15:00:0%dZ line %d\n", i, i)
			w.(http.Flusher).Flush()
			select {
			case <-got:
			case <-r.Context().Done():
				return
			}
		}
		<-r.Context().Done() // a follow runs until the client goes
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lines []string
	done := make(chan error, 1)
	go func() {
		done <- c.FollowLogs(ctx, "demo", LogsQuery{Lines: 10}, func(line string) error {
			lines = append(lines, line)
			got <- line
			if len(lines) == 3 {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("FollowLogs ended by its context: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("FollowLogs did not hand on the lines as they came")
	}
	if len(lines) != 3 || lines[2] != "web | 2026-11-28T15:00:02Z line 2" {
		t.Errorf("lines %q", lines)
	}
	if r := seen()[0]; r.query != "follow=true&lines=10" || r.accept != "text/plain" {
		t.Errorf("request %+v", r)
	}
}

func TestParseFollowLine(t *testing.T) {
	at := time.Date(2026, 11, 28, 15, 0, 1, 500, time.UTC)
	tests := []struct {
		line, container string
		want            dockerops.FollowLine
	}{
		{"web-1 | 2026-11-28T15:00:01.0000005Z hello world", "", dockerops.FollowLine{Time: at, Container: "web-1", Text: "hello world"}},
		{"2026-11-28T15:00:01.0000005Z hello | there", "web", dockerops.FollowLine{Time: at, Container: "web", Text: "hello | there"}},
		{"[scar: web restarted]", "web", dockerops.FollowLine{Container: "web", Text: "web restarted", Note: true}},
		{"web-1 | [scar: web-1 stopped (exit code 1)]", "", dockerops.FollowLine{Container: "web-1", Text: "web-1 stopped (exit code 1)", Note: true}},
		{"[scar: follow ended: 1h0m0s passed]", "", dockerops.FollowLine{Text: "follow ended: 1h0m0s passed", Note: true}},
		{"no time here", "web", dockerops.FollowLine{Container: "web", Text: "no time here"}},
		{"no separator", "", dockerops.FollowLine{Text: "no separator"}},
	}
	for _, tc := range tests {
		got := ParseFollowLine(tc.line, tc.container)
		if !got.Time.Equal(tc.want.Time) || got.Container != tc.want.Container || got.Text != tc.want.Text || got.Note != tc.want.Note {
			b, _ := json.Marshal(got)
			t.Errorf("ParseFollowLine(%q, %q) = %s, want %+v", tc.line, tc.container, b, tc.want)
		}
	}
}
