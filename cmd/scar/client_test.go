package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// Tests of the client commands' own logic — arguments, confirmation, progress, exit
// codes — against a stand-in server (httptest) that answers as scar's REST API does.
// The real server is in client_e2e_test.go.

// closedURL is the URL of a port nothing listens on: a command that reached for the
// server there exits 3, not the code a test wants.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return "http://" + l.Addr().String()
}

func TestClientCommandsHelpAndUsageErrors(t *testing.T) {
	url := closedURL(t)
	for name := range clientCommands {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{name, "-h"}, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "usage: scar "+name) {
				t.Errorf("%s -h: %v\n%s", name, err, out.String())
			}
			err := run(context.Background(), []string{name, "--bogus"}, []string{"SCAR_URL=" + url}, &out, &errOut)
			if code := exitCode(err); code != exitUsage || !strings.Contains(errOut.String(), "usage: scar "+name) {
				t.Errorf("%s --bogus: exit %d (%v), want %d with the usage", name, code, err, exitUsage)
			}
		})
	}
	tests := [][]string{
		{"history", "-n", "0"},
		{"logs", "-n", "5001"},
		{"status", "demo", "extra"},
		{"deploy", "demo", "web"},
		{"status", "--url", "ftp://example.com", "demo"},
		{"status", "--url", "127.0.0.1:8080", "demo"},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, []string{"SCAR_URL=" + url}, &out, &errOut)
		if code := exitCode(err); code != exitUsage {
			t.Errorf("scar %v: exit %d (%v), want %d", args, code, err, exitUsage)
		}
	}
}

// fakeScar is a stand-in for scar's REST API: a plan, a deploy or rollback that ends
// as told, and its events, served by polling (no event stream, as a scar without
// GET /deployments/{id}/events) or by a stream cut after cutAfter events.
type fakeScar struct {
	mu       sync.Mutex
	requests []string // "POST /api/v1/projects/demo/deploy {body}"
	polls    int
	ending   string // the deployment's final status
	events   []dockerops.Event
	stream   bool // serve the event stream, cut after cutAfter events
	cutAfter int
	errorFor map[string][2]string // path suffix → status, body
	// commit, when set, is the plan's commit: a git project's.
	commit string
}

func (f *fakeScar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
	reply := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	for suffix, answer := range f.errorFor {
		if strings.HasSuffix(r.URL.Path, suffix) {
			var status int
			fmt.Sscan(answer[0], &status)
			reply(status, answer[1])
			return
		}
	}
	started := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	deployment := func(status string, events []dockerops.Event) string {
		d := dockerops.Deployment{ID: "d1", Project: "demo", Kind: dockerops.KindDeploy, Status: status, StartedAt: started, Events: events}
		if status != dockerops.DeployRunning {
			d.FinishedAt = started.Add(3 * time.Second)
			if status != dockerops.DeploySuccess {
				d.FailedStep, d.Error, d.LogTail = "health", "web: unhealthy", []string{"boom"}
			}
		}
		out, _ := json.Marshal(d)
		return string(out)
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/deploy") && strings.Contains(string(b), "dry_run") && f.commit != "":
		reply(200, `{"plan": {"project": "demo", "changed": ["index.txt"], "bytes": 12, "fingerprint": "fp-1",
			"commit": {"sha": "`+f.commit+`", "subject": "Fix the cart", "author": "Ann <ann@example.com>", "branch": "main"}, "service_actions": []}, "nothing_to_deploy": false}`)
	case strings.HasSuffix(r.URL.Path, "/deploy") && strings.Contains(string(b), "dry_run"):
		reply(200, `{"plan": {"project": "demo", "changed": ["index.txt"], "bytes": 12, "fingerprint": "fp-1",
			"service_actions": [{"service": "web", "action": "restart", "reason": "content/ changed"}, {"service": "db", "action": "none", "reason": ""}]}, "nothing_to_deploy": false}`)
	case strings.HasSuffix(r.URL.Path, "/deploy"), strings.HasSuffix(r.URL.Path, "/rollback"):
		w.Header().Set("Location", "/api/v1/deployments/d1")
		reply(202, deployment(dockerops.DeployRunning, nil))
	case strings.HasSuffix(r.URL.Path, "/events"):
		if !f.stream {
			reply(404, `{"error": {"code": "not_found", "message": "no such endpoint: GET `+r.URL.Path+`"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range f.events[:f.cutAfter] {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(w, "event: stage\ndata: %s\n\n", data)
		}
	case strings.HasPrefix(r.URL.Path, "/api/v1/deployments/"):
		// Each poll shows one more event, then the end.
		f.polls++
		n := min(f.polls, len(f.events))
		status := dockerops.DeployRunning
		if f.polls > len(f.events) {
			status = f.ending
		}
		reply(200, deployment(status, f.events[:n]))
	default:
		reply(404, `{"error": {"code": "not_found", "message": "no such endpoint"}}`)
	}
}

func (f *fakeScar) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func stageEvents() []dockerops.Event {
	at := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	return []dockerops.Event{
		{Time: at.Add(100 * time.Millisecond), Stage: "plan", Message: "1 file changed"},
		{Time: at.Add(400 * time.Millisecond), Stage: "sync", Message: "copied 1 file"},
		{Time: at.Add(900 * time.Millisecond), Stage: "apply", Message: "restarting web"},
		{Time: at.Add(2500 * time.Millisecond), Stage: "health", Container: "web", Message: "web is healthy",
			Result: &dockerops.ContainerResult{Name: "web", OK: true, Condition: "running, healthy"}},
	}
}

// runWith runs a client command against fake with the given terminal and stdin.
func runWith(t *testing.T, fake *fakeScar, interactive bool, stdin string, args ...string) (code int, out string, err error) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var stdout bytes.Buffer
	cio := clientIO{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: io.Discard, interactive: interactive}
	err = runClient(context.Background(), args[0], clientCommands[args[0]], args[1:], []string{"SCAR_URL=" + srv.URL, "SCAR_TOKEN=t"}, cio)
	if err != nil {
		code = exitCode(err)
	}
	return code, stdout.String(), err
}

// TestDeployAsksFirst: off a terminal a deploy without --yes is refused; on one,
// anything but y or yes at the prompt refuses it; either way only the dry run was
// sent. A yes deploys the plan shown, by its fingerprint.
func TestDeployAsksFirst(t *testing.T) {
	tests := []struct {
		name        string
		interactive bool
		stdin       string
		args        []string
		wantCode    int
		wantPost    string // the request that started it; "" for none
	}{
		{"piped without --yes", false, "y\n", []string{"deploy", "demo"}, exitNotConfirmed, ""},
		{"no at the prompt", true, "n\n", []string{"deploy", "demo"}, exitNotConfirmed, ""},
		{"enter at the prompt", true, "\n", []string{"deploy", "demo"}, exitNotConfirmed, ""},
		{"no answer at all", true, "", []string{"deploy", "demo"}, exitNotConfirmed, ""},
		{"yes at the prompt", true, "yes\n", []string{"deploy", "demo"}, 0, `POST /api/v1/projects/demo/deploy {"plan_fingerprint":"fp-1"}`},
		{"--yes piped", false, "", []string{"deploy", "demo", "--yes"}, 0, `POST /api/v1/projects/demo/deploy {"plan_fingerprint":"fp-1"}`},
		{"rollback piped without --yes", false, "", []string{"rollback", "demo"}, exitNotConfirmed, ""},
		{"rollback, y at the prompt", true, "Y\n", []string{"rollback", "demo"}, 0, `POST /api/v1/projects/demo/rollback`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeScar{ending: dockerops.DeploySuccess, events: stageEvents()}
			code, out, err := runWith(t, fake, tc.interactive, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.wantCode, out)
			}
			var started string
			for _, r := range fake.seen() {
				if strings.HasPrefix(r, "POST") && !strings.Contains(r, "dry_run") {
					started = r
				}
			}
			if started != tc.wantPost {
				t.Errorf("started %q, want %q", started, tc.wantPost)
			}
			if tc.interactive && !strings.Contains(out, "? [y/N] ") {
				t.Errorf("no question on the terminal:\n%s", out)
			}
			if tc.args[0] == "deploy" && !strings.Contains(out, "changed:  index.txt") || strings.Contains(out, "service db") {
				t.Errorf("the plan is not shown as it should be (changed files, services acted on only):\n%s", out)
			}
		})
	}
}

// TestDeployProgressByPollingAndAfterACutStream: without an event stream every
// stage is shown once, in order, by polling; with a stream cut half-way the stages it
// had are not shown again. Piped output has no terminal controls; a terminal's has a
// live line, cleared at the end.
func TestDeployProgressByPollingAndAfterACutStream(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stream      bool
		interactive bool
	}{{"polling", false, false}, {"cut stream", true, false}, {"cut stream on a terminal", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeScar{ending: dockerops.DeploySuccess, events: stageEvents(), stream: tc.stream, cutAfter: 2}
			code, out, err := runWith(t, fake, tc.interactive, "", "deploy", "demo", "--yes")
			if code != 0 {
				t.Fatalf("exit %d (%v)\n%s", code, err, out)
			}
			last := -1
			for _, ev := range stageEvents() {
				line := eventLine(ev, time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC))
				if n := strings.Count(out, line); n != 1 {
					t.Errorf("%q shown %d times, want once:\n%q", line, n, out)
				}
				i := strings.Index(out, line)
				if i < last {
					t.Errorf("%q out of order", line)
				}
				last = i
			}
			if !strings.Contains(out, "deploy of demo (d1) succeeded in 3s") {
				t.Errorf("no success line:\n%s", out)
			}
			controls := strings.Contains(out, "\r\033[K")
			if controls != tc.interactive {
				t.Errorf("terminal controls in the output: %v, want %v:\n%q", controls, tc.interactive, out)
			}
			if tc.interactive && !strings.HasSuffix(out, "\r\033[K"+"deploy of demo (d1) succeeded in 3s\n") {
				t.Errorf("the live line is not cleared before the end:\n%q", out)
			}
		})
	}
}

// TestClientExitCodes: each kind of failure has its own exit code and one line.
func TestClientExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		status   string
		body     string
		ending   string
		wantCode int
		wantLine string
	}{
		{"wrong token", []string{"status", "demo"}, "401", `{"error": {"code": "unauthorized", "message": "invalid bearer token"}}`, "", exitUnauthorized, "invalid bearer token (set SCAR_TOKEN"},
		{"read-only token", []string{"restart", "demo"}, "403", `{"error": {"code": "forbidden", "message": "a read-only token cannot restart"}}`, "", exitForbidden, "a read-only token cannot restart"},
		{"unknown project", []string{"history", "nope"}, "404", `{"error": {"code": "unknown_project", "message": "unknown project \"nope\""}}`, "", exitNotFound, `unknown project "nope"`},
		{"busy", []string{"deploy", "demo", "--yes"}, "409", `{"error": {"code": "busy", "message": "busy: deploy of demo by api:full-1a2b since 2026-11-28T15:00:00Z"}}`, "", exitBusy, "busy: deploy of demo by api:full-1a2b since 2026-11-28T15:00:00Z"},
		{"docker down", []string{"status", "demo"}, "503", `{"error": {"code": "docker_unavailable", "message": "docker unavailable: dial unix /var/run/docker.sock"}}`, "", exitFailed, "docker unavailable"},
		{"a proxy's page", []string{"status", "demo"}, "502", `<html>Bad Gateway</html>`, "", exitFailed, "HTTP 502"},
		{"deploy rolled back", []string{"deploy", "demo", "--yes"}, "", "", dockerops.DeployFailedRolledBack, exitDeployFailed, "deploy of demo (d1) failed_rolled_back at health: web: unhealthy"},
		{"deploy cancelled", []string{"deploy", "demo", "--yes"}, "", "", dockerops.DeployCancelled, exitDeployFailed, "cancelled"},
		{"rollback failed", []string{"rollback", "demo", "--yes"}, "", "", dockerops.DeployRollbackFailed, exitRollbackFail, "rolling it back failed too"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeScar{ending: tc.ending, events: stageEvents()}
			if tc.status != "" {
				path := "/" + tc.args[0]
				if tc.args[0] == "status" || tc.args[0] == "history" {
					path = map[string]string{"status": "/status", "history": "/deployments"}[tc.args[0]]
				}
				fake.errorFor = map[string][2]string{path: {tc.status, tc.body}}
			}
			code, out, err := runWith(t, fake, false, "", tc.args...)
			if code != tc.wantCode || err == nil || !strings.Contains(err.Error(), tc.wantLine) || strings.Contains(err.Error(), "\n") {
				t.Errorf("exit %d, line %q; want %d and one line with %q\n%s", code, err, tc.wantCode, tc.wantLine, out)
			}
			if tc.ending != "" && !strings.Contains(out, "  boom") {
				t.Errorf("the failing container's log tail is not shown:\n%s", out)
			}
		})
	}
}

func TestStatusAndProgressFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 12*time.Minute + 3*time.Second: "12m",
		3*time.Hour + 5*time.Minute: "3h5m", 52 * time.Hour: "2d4h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
	start := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ev   dockerops.Event
		want string
	}{
		{dockerops.Event{Time: start.Add(3200 * time.Millisecond), Stage: "build", Message: "building web"}, "   3.2s  build    building web"},
		{dockerops.Event{Time: start.Add(time.Second), Stage: "health", Container: "web", Message: "unhealthy",
			Result: &dockerops.ContainerResult{Error: "its health check failed"}}, "   1.0s  health   web: unhealthy [FAILED its health check failed]"},
		{dockerops.Event{Stage: "done", Message: "web: ok", Container: "web", Result: &dockerops.ContainerResult{OK: true, State: "running"}}, "   0.0s  done     web: ok [ok running]"},
	} {
		if got := eventLine(tc.ev, start); got != tc.want {
			t.Errorf("eventLine = %q, want %q", got, tc.want)
		}
	}
}

// TestDeployRefDeploysTheCommitShown: scar deploy --ref asks for the ref's plan, shows
// its commit, and deploys that commit by its sha, not the ref again (a branch may
// move between the plan and the deploy).
func TestDeployRefDeploysTheCommitShown(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	fake := &fakeScar{ending: dockerops.DeploySuccess, events: stageEvents(), commit: sha}
	code, out, err := runWith(t, fake, false, "", "deploy", "demo", "--ref", "main", "--yes")
	if code != 0 {
		t.Fatalf("exit %d (%v)\n%s", code, err, out)
	}
	seen := fake.seen()
	if len(seen) < 2 || seen[0] != `POST /api/v1/projects/demo/deploy {"dry_run":true,"ref":"main"}` ||
		seen[1] != `POST /api/v1/projects/demo/deploy {"plan_fingerprint":"fp-1","ref":"`+sha+`"}` {
		t.Fatalf("requests %q", seen)
	}
	if !strings.Contains(out, "commit:   0123456789 Fix the cart (Ann <ann@example.com>)") {
		t.Errorf("the plan does not name the commit:\n%s", out)
	}
}
