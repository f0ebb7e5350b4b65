package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
)

// streamWait bounds each wait for a stream's next event: long enough for a loaded CI
// machine; it is no time limit on the stream, only a way to fail rather than hang.
const streamWait = time.Minute

// documentedStream is a real Server-Sent Events answer under way, and the schemas the
// document names for its events (x-scar-sse-events).
type documentedStream struct {
	path    string
	schemas map[string]*openapi3.Schema
	msgs    <-chan sseMessage
}

// openDocumentedStream GETs path as an event stream with the read-only token, checks
// its status and content type against the document's operation documented, and
// returns its events as they come. The stream ends with the test.
func (s *engineServer) openDocumentedStream(t *testing.T, o *openAPI, documented, path string) *documentedStream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readToken)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s answered %d", path, resp.StatusCode)
	}
	o.checkStream(t, httptest.NewRequest(http.MethodGet, path, nil), resp)
	return &documentedStream{path: path, schemas: o.sseEvents(t, documented, http.MethodGet), msgs: readSSE(bufio.NewReader(resp.Body))}
}

// next returns the stream's next event, comments skipped, after checking that the
// document names it and that its data match the schema it names; ok is false when
// the stream has ended.
func (d *documentedStream) next(t *testing.T) (m sseMessage, ok bool) {
	t.Helper()
	for {
		select {
		case m, ok = <-d.msgs:
			if !ok {
				return m, false
			}
		case <-time.After(streamWait):
			t.Fatalf("%s: no event within %s", d.path, streamWait)
		}
		if m.event == "" {
			continue // a comment
		}
		checkEvent(t, d.schemas, m)
		return m, true
	}
}

// checkEvent checks that an event of a stream is one its document names, and that its
// data match the schema named for it.
func checkEvent(t *testing.T, schemas map[string]*openapi3.Schema, m sseMessage) {
	t.Helper()
	schema := schemas[m.event]
	if schema == nil {
		t.Fatalf("event %q is not among the document's %v", m.event, slices.Sorted(maps.Keys(schemas)))
	}
	var data any
	if err := json.Unmarshal([]byte(m.data), &data); err != nil {
		t.Fatalf("event %s data %q: %v", m.event, m.data, err)
	}
	if err := schema.VisitJSON(data, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("event %s data %s does not match its schema: %v", m.event, m.data, err)
	}
}

// TestOpenAPILogFollowMatchesSchemas: a real log follow as Server-Sent Events (GET
// /projects/{project}/logs?follow=true with Accept: text/event-stream, a container
// of the demo app writing a tick every 200 ms) sends the events the document names
// with data that match their schemas: the tail's and the live lines, the note of a
// stop (ContainerStop) and of a removal, and the end.
func TestOpenAPILogFollowMatchesSchemas(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	cp := dockertest.UniqueName(t, "apidocfollow")
	s := newEngineServer(t, cp, nil)
	dockertest.RemoveImagesWhenDone(t, s.cli, cp)
	id := s.run(t, cp, "web", "LOG_LINES=1", "TICK_EVERY=200ms")
	name := dockertest.V2Name(cp, "web", 1)

	const documented = "/api/v1/projects/{project}/logs"
	stream := s.openDocumentedStream(t, o, documented, "/api/v1/projects/app/logs?follow=true&lines=2")
	opened := time.Now()
	var events []string
	// until waits for an event that satisfies want; every event on the way is
	// checked against the document too.
	until := func(what string, want func(m sseMessage, l dockerops.FollowLine) bool) {
		t.Helper()
		for {
			m, ok := stream.next(t)
			if !ok {
				t.Fatalf("the stream ended before %s; events:\n%s", what, strings.Join(events, "\n"))
			}
			events = append(events, m.event+" "+m.data)
			var l dockerops.FollowLine
			if m.event != "end" {
				if err := json.Unmarshal([]byte(m.data), &l); err != nil {
					t.Fatalf("event %s data %q: %v", m.event, m.data, err)
				}
			}
			if want(m, l) {
				return
			}
		}
	}
	// The app stamps its ticks: a tick written after the stream opened is a live line.
	until("a tick written after the stream opened", func(m sseMessage, l dockerops.FollowLine) bool {
		f := strings.Fields(l.Text)
		if m.event != "line" || len(f) != 3 || f[0] != "tick" {
			return false
		}
		written, err := time.Parse(time.RFC3339Nano, f[2])
		return err == nil && written.After(opened)
	})

	timeout := 5
	if _, err := s.cli.ContainerStop(t.Context(), id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	until("the note of the stop", func(m sseMessage, l dockerops.FollowLine) bool {
		return m.event == "note" && strings.HasPrefix(l.Text, name+" stopped (exit code ")
	})
	if _, err := s.cli.ContainerRemove(t.Context(), id, client.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	until("the end", func(m sseMessage, _ dockerops.FollowLine) bool { return m.event == "end" })
	t.Logf("events:\n%s", strings.Join(events, "\n"))
	if m, ok := stream.next(t); ok {
		t.Errorf("an event after the end: %s %s", m.event, m.data)
	}
	for _, want := range []string{"line ", "note ", `end {"reason":"` + dockerops.FollowNoContainers + `"}`} {
		if !slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, want) }) {
			t.Errorf("no event %q among:\n%s", want, strings.Join(events, "\n"))
		}
	}
}

// TestOpenAPIDeploymentEventsMatchSchemas: the streams (GET /deployments/{id}/events,
// joined as soon as each has started) of a real deploy, of the rollback that undoes
// it, and of a deploy that fails its health gate and is undone send stage events and
// then one end, each of whose data match the schemas the document names; the end is
// the record GET /deployments/{id} answers. The project is a Compose project (run
// with the Compose tool under test) whose web serves a bind-mounted file: the deploy
// changes the file and restarts web; the failing one makes web unhealthy, and its end
// carries the failed step, the error and the log tail.
func TestOpenAPIDeploymentEventsMatchSchemas(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	image := dockertest.BuildAppImage(t)
	compose := "services:\n  web:\n    image: " + image + "\n    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    volumes:\n      - ./content:/srv/content:ro\n"
	cp := dockertest.NewComposeProject(t, "apidocdeploy", compose) // removes its containers and images when done
	ws := t.TempDir()
	for root, files := range map[string]map[string]string{
		cp.Dir: {"content/index.txt": "v1\n"},
		ws:     {"content/index.txt": "v2\n", "docker-compose.yml": compose},
	} {
		for rel, body := range files {
			writeFile(t, filepath.Join(root, rel), body)
		}
	}
	// Production's files are made older: the two index.txt have the same size and,
	// written within one tick of the file clock, could have the same mtime, and the
	// plan would see no change.
	old := time.Now().Add(-time.Hour)
	for _, path := range []string{cp.File, filepath.Join(ws, "docker-compose.yml"), filepath.Join(cp.Dir, "content/index.txt")} {
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	s := newEngineServer(t, cp.Name, func(d *Deps) {
		file := filepath.Join(t.TempDir(), "projects.json")
		writeFile(t, file, fmt.Sprintf(`{"app": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`, ws, cp.Dir, cp.Name))
		ps, err := projects.NewStore(file, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Projects = ps
		withDeploys(t, d)
		d.Deploys = d.Ops.(DeploymentFollower)
	})

	const documented = "/api/v1/deployments/{id}/events"
	for _, step := range []struct {
		kind string
		// edit changes the workspace before the step.
		edit func()
		want string
	}{
		{kind: "deploy", want: dockerops.DeploySuccess},
		{kind: "rollback", want: dockerops.DeploySuccess},
		// A web that never becomes healthy: the deploy fails its gate and is undone,
		// and its end carries the failed step, the error and the log tail.
		{kind: "deploy", want: dockerops.DeployFailedRolledBack, edit: func() {
			writeFile(t, filepath.Join(ws, "docker-compose.yml"), strings.Replace(compose, "    environment:\n", "    environment:\n      UNHEALTHY: \"1\"\n", 1))
		}},
	} {
		if step.edit != nil {
			step.edit()
		}
		var started dockerops.Deployment
		body := s.send(t, o, apiCall{method: "POST", path: "/api/v1/projects/app/" + step.kind, token: fullToken, body: `{}`, status: 202})
		if err := json.Unmarshal(body, &started); err != nil || started.ID == "" {
			t.Fatalf("%s answered %s: %v", step.kind, body, err)
		}
		stages, end := followDeployment(t, s.openDocumentedStream(t, o, documented, "/api/v1/deployments/"+started.ID+"/events"))
		t.Logf("%s %s: %d stages, ended %s %s", step.kind, started.ID, len(stages), end.Status, end.FailedStep)
		if end.ID != started.ID || end.Kind != step.kind || end.Status != step.want || len(stages) == 0 {
			t.Fatalf("%s %s: %d stages, then end of %s %s %s (%s: %s); want %s", step.kind, started.ID, len(stages), end.Kind, end.ID, end.Status, end.FailedStep, end.Error, step.want)
		}
		var rec dockerops.Deployment
		if err := json.Unmarshal(s.send(t, o, apiCall{method: "GET", path: "/api/v1/deployments/" + started.ID, token: readToken, status: 200}), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Events) != len(stages) || rec.Status != end.Status {
			t.Errorf("%s: the stream sent %d stages and end %s; the record has %d events, status %s", step.kind, len(stages), end.Status, len(rec.Events), rec.Status)
		}
		s.send(t, o, apiCall{method: "POST", path: "/api/v1/deployments/" + started.ID + "/cancel", token: fullToken, status: 409}) // it has ended
	}
	s.send(t, o, apiCall{method: "GET", path: "/api/v1/projects/app/deployments?limit=5", token: readToken, status: 200})
}

// followDeployment reads a deployment's stream to its close: its stage events, then
// its end, each checked against the document. It fails the test when the stream
// closes without an end, or sends anything after it.
func followDeployment(t *testing.T, stream *documentedStream) ([]dockerops.Event, *dockerops.Deployment) {
	t.Helper()
	var (
		stages []dockerops.Event
		end    *dockerops.Deployment
	)
	for {
		m, ok := stream.next(t)
		if !ok {
			break
		}
		if end != nil {
			t.Errorf("%s: event %s after the end: %s", stream.path, m.event, m.data)
		}
		switch m.event {
		case "stage":
			var e dockerops.Event
			if err := json.Unmarshal([]byte(m.data), &e); err != nil {
				t.Fatal(err)
			}
			stages = append(stages, e)
		case "end":
			end = &dockerops.Deployment{}
			if err := json.Unmarshal([]byte(m.data), end); err != nil {
				t.Fatal(err)
			}
		}
	}
	if end == nil {
		t.Fatalf("%s: the stream closed without an end after %d stages", stream.path, len(stages))
	}
	return stages, end
}

// writeFile writes body at path, making its directories.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
