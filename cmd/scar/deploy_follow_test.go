package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
)

// sseMessage is one event of a Server-Sent Events stream.
type sseMessage struct {
	name string
	data map[string]any
}

// openStream GETs path as an event stream; the request ends with ctx.
func (s *server) openStream(t *testing.T, ctx context.Context, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return resp
}

// readEvents reads a stream's events until it closes, or n events when n > 0.
func readEvents(t *testing.T, body io.Reader, n int) []sseMessage {
	t.Helper()
	var out []sseMessage
	var cur sseMessage
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("data line %q: %v", line, err)
			}
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = sseMessage{}
			if n > 0 && len(out) == n {
				return out
			}
		}
	}
	return out
}

// checkFollowed checks a whole follow of the deployment at location: a stage event
// for each of its recorded events, in order, once, then end with the record as GET
// answers it.
func (s *server) checkFollowed(t *testing.T, what string, got []sseMessage, location string) {
	t.Helper()
	_, rec := s.call(t, "GET", location, "")
	events, _ := rec["events"].([]any)
	if len(got) != len(events)+1 {
		t.Fatalf("%s: %d stream events, want the %d recorded ones and end: %v", what, len(got), len(events), got)
	}
	for i, e := range events {
		if got[i].name != "stage" || !reflect.DeepEqual(got[i].data, e) {
			t.Errorf("%s: event %d is %s %v, want stage %v", what, i, got[i].name, got[i].data, e)
		}
	}
	if end := got[len(got)-1]; end.name != "end" || !reflect.DeepEqual(end.data, rec) {
		t.Errorf("%s: last event %s %v\nwant end with the record GET answers: %v", what, end.name, end.data, rec)
	}
}

// goroutinesIn counts the process's goroutines whose stack holds fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// TestRESTDeploymentEventsFollow: through a real scar serve on the real engine, a
// client that joins a running deploy after some of its stages gets every stage once,
// in order, then end with the record as GET /deployments/{id} answers it; joining the
// finished deploy gives the same at once; an unknown id is a 404 before any stream.
// A follower and a ?wait=true caller that go away leave no goroutine behind, and the
// deploy they left goes on to its end.
func TestRESTDeploymentEventsFollow(t *testing.T) {
	f := newFaultProject(t, "dfollow")
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "15s"`)), "SCAR_API_TOKENS="+e2eToken,
		"SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))

	if resp, v := s.call(t, "GET", "/api/v1/deployments/20260101-000000-nope/events", ""); resp.StatusCode != 404 || v["error"] == nil {
		t.Errorf("events of an unknown deployment: %d %v, want 404 with an error", resp.StatusCode, v)
	}

	// A baked file: a build, a recreate and the health gate — time to join late.
	f.edit(t, "baked.txt", "baked v2\n")
	location := s.start(t, f.name, "deploy")
	var at map[string]any
	dockertest.WaitFor(t, 2*time.Minute, func() bool {
		_, at = s.call(t, "GET", location, "")
		events, _ := at["events"].([]any)
		return len(events) >= 2 || at["status"] != "running"
	})
	if at["status"] != "running" {
		t.Fatalf("the deploy ended (%v) before a late client could join", at["status"])
	}
	late := readEvents(t, s.openStream(t, context.Background(), location+"/events").Body, 0)
	s.checkFollowed(t, "joined late", late, location)
	if d := late[len(late)-1].data; d["status"] != dockerops.DeploySuccess {
		t.Fatalf("deploy ended %v at %v: %v", d["status"], d["failed_step"], d["error"])
	}
	s.checkFollowed(t, "joined after the end", readEvents(t, s.openStream(t, context.Background(), location+"/events").Body, 0), location)

	// A deploy that fails its gate runs 15s: followers leave it half-way.
	f.editCompose(t, "VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	ctx, leave := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/api/v1/projects/"+f.name+"/deploy?wait=true", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	failing := resp.Header.Get("Location")
	if resp.StatusCode != 200 || failing == "" {
		t.Fatalf("deploy?wait=true: %d, Location %q; want 200 and the deployment's Location at once", resp.StatusCode, failing)
	}
	stream := s.openStream(t, ctx, failing+"/events")
	if first := readEvents(t, stream.Body, 1); first[0].name != "stage" {
		t.Fatalf("first event %v, want a stage", first)
	}
	if follows, waits := goroutinesIn("handleDeploymentEvents"), goroutinesIn("api.writeEnded"); follows != 1 || waits != 1 {
		buf := make([]byte, 1<<22)
		t.Errorf("%d follow and %d wait goroutines while a follower and a waiter are connected, want 1 each\n%s", follows, waits, buf[:runtime.Stack(buf, true)])
	}
	leave()
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		return goroutinesIn("handleDeploymentEvents")+goroutinesIn("api.writeEnded") == 0
	})
	if d := s.finish(t, failing); d["status"] != dockerops.DeployFailedRolledBack {
		t.Errorf("the deploy its clients left ended %v, want it gone on to failed_rolled_back", d["status"])
	}

	// scar stopping mid-deploy ends a stream (with a comment) and a wait (with the
	// record as it is, running) at once, rather than holding the shutdown.
	resp, err = http.DefaultClient.Do(req.Clone(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stopping := resp.Header.Get("Location")
	stream = s.openStream(t, context.Background(), stopping+"/events")
	body := bufio.NewReader(stream.Body)
	readEvents(t, body, 1)
	s.cancel()
	rest, _ := io.ReadAll(body)
	if !strings.Contains(string(rest), ": scar is stopping;") {
		t.Errorf("the stream ended with %q at shutdown, want a comment that scar is stopping", rest)
	}
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 || d["status"] != "running" || d["id"] == nil {
		t.Errorf("a wait at shutdown answered %d %v (%v), want 200 and the record, running", resp.StatusCode, d, err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v after a clean shutdown", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("scar did not stop")
	}
	s.done <- nil // for the cleanup
}

// TestRESTDeployWait: POST .../deploy?wait=true answers when the deploy has ended, 200
// with the final record as GET /deployments/{id} answers it, for a success and for a
// deploy rolled back; .../rollback?wait=true likewise. A bad wait is a 400 that
// starts nothing; nothing to deploy is answered at once as without wait.
func TestRESTDeployWait(t *testing.T) {
	f := newFaultProject(t, "dwait")
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "8s"`)), "SCAR_API_TOKENS="+e2eToken,
		"SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))
	deploys := func() int {
		t.Helper()
		_, v := s.call(t, "GET", "/api/v1/projects/"+f.name+"/deployments", "")
		list, _ := v["deployments"].([]any)
		return len(list)
	}
	wait := func(op, want string) map[string]any {
		t.Helper()
		resp, d := s.call(t, "POST", "/api/v1/projects/"+f.name+"/"+op+"?wait=true", "")
		if resp.StatusCode != 200 || d["status"] != want {
			t.Fatalf("%s?wait=true: %d %v at %v (%v), want 200 and %s", op, resp.StatusCode, d["status"], d["failed_step"], d["error"], want)
		}
		location := resp.Header.Get("Location")
		if _, rec := s.call(t, "GET", location, ""); location == "" || !reflect.DeepEqual(d, rec) {
			t.Errorf("%s?wait=true answered\n%v\nwant the record GET %s answers\n%v", op, d, location, rec)
		}
		return d
	}

	if resp, v := s.call(t, "POST", "/api/v1/projects/"+f.name+"/deploy?wait=true", ""); resp.StatusCode != 200 || v["status"] != dockerops.DeployNothingToDo {
		t.Errorf("nothing to deploy with wait: %d %v, want 200 nothing_to_do", resp.StatusCode, v)
	}
	f.edit(t, "content/index.txt", "content v2\n")
	for _, op := range []string{"deploy", "rollback"} {
		resp, v := s.call(t, "POST", "/api/v1/projects/"+f.name+"/"+op+"?wait=maybe", "")
		if e, _ := v["error"].(map[string]any); resp.StatusCode != 400 || e["code"] != "bad_input" || !strings.Contains(e["message"].(string), "maybe") {
			t.Errorf("%s?wait=maybe: %d %v, want 400 bad_input naming the value", op, resp.StatusCode, v)
		}
	}
	if n := deploys(); n != 0 {
		t.Fatalf("%d deployments after bad waits, want none", n)
	}

	wait("deploy", dockerops.DeploySuccess)
	if got := f.get(t); got != "content v2\n" {
		t.Errorf("web serves %q after the deploy answered, want the new content", got)
	}
	f.editCompose(t, "VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	if d := wait("deploy", dockerops.DeployFailedRolledBack); d["failed_step"] != dockerops.StageHealth {
		t.Errorf("the failing deploy failed at %v, want health", d["failed_step"])
	}
	f.editCompose(t, "VERSION: v2\n      UNHEALTHY: \"1\"", "VERSION: v1")
	wait("rollback", dockerops.DeploySuccess)
	if got := f.get(t); got != "content v1\n" {
		t.Errorf("web serves %q after the rollback answered, want the old content", got)
	}
}
