package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// sseMessage is one message of an event stream: an event with its data, or a comment.
type sseMessage struct {
	event, data, comment string
}

// readSSE sends the stream's messages on a channel until the body ends.
func readSSE(body *bufio.Reader) <-chan sseMessage {
	out := make(chan sseMessage, 64)
	go func() {
		defer close(out)
		var m sseMessage
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				out <- m
				m = sseMessage{}
			case strings.HasPrefix(line, ":"):
				m.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				m.event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				m.data = line[len("data: "):]
			}
		}
	}()
	return out
}

// watchedServer is the REST API with a running event watcher on the real engine.
func watchedServer(t *testing.T, cp string) (*engineServer, *dockerops.Watcher) {
	t.Helper()
	var w *dockerops.Watcher
	s := newEngineServer(t, cp, func(d *Deps) {
		engine, err := dockerops.NewClient("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { engine.Close() })
		db := d.Audit.(*store.DB)
		w = dockerops.NewWatcher(dockerops.WatcherConfig{Engine: engine, Projects: d.Projects.(*projects.Store),
			Incidents: db, Metrics: d.Metrics, Logger: d.Logger})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { w.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })
		d.Events, d.Incidents, d.EventsKeepAlive = w, db, 300*time.Millisecond
	})
	return s, w
}

// The stream of a project carries its container events and its incidents as they
// happen, keeps alive with comments, and ends — its goroutines with it — when the
// client goes away.
func TestRESTEventsStreamsContainerEventsAndIncidents(t *testing.T) {
	cp := dockertest.UniqueName(t, "sse")
	s, _ := watchedServer(t, cp)
	// The stream's handler is counted while it runs: it must return, its
	// subscription ended, when the client goes away.
	var active atomic.Int32
	h := NewServer(s.deps)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events?project=app", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	msgs := readSSE(bufio.NewReader(resp.Body))
	next := func(what string) sseMessage {
		t.Helper()
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("the stream ended waiting for %s", what)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s within 30s", what)
		}
		return sseMessage{}
	}
	if m := next("the opening comment"); !strings.Contains(m.comment, "scar event stream") {
		t.Fatalf("first message %+v, want the opening comment", m)
	}

	id := s.run(t, cp, "web", "EXIT_AT_START=1") // exits with code 3 on its own
	var died, incident, keepAlive bool
	for !died || !incident || !keepAlive {
		m := next("the container's die event, its incident and a keep-alive")
		switch m.event {
		case "container":
			var ev struct {
				Project     string `json:"project"`
				ContainerID string `json:"container_id"`
				Service     string `json:"service"`
				Action      string `json:"action"`
				ExitCode    *int   `json:"exit_code"`
				At          string `json:"at"`
			}
			if err := json.Unmarshal([]byte(m.data), &ev); err != nil {
				t.Fatalf("container event %q: %v", m.data, err)
			}
			if ev.Project != "app" || ev.ContainerID != id || ev.Service != "web" || ev.At == "" {
				t.Errorf("container event %s: want project app, the container, service web", m.data)
			}
			if ev.Action == "die" {
				if at, err := time.Parse(time.RFC3339Nano, ev.At); err == nil {
					t.Logf("die event → read from the stream: %s", time.Since(at).Round(time.Millisecond))
				}
				died = ev.ExitCode != nil && *ev.ExitCode == 3
				if !died {
					t.Errorf("die event %s: want exit_code 3", m.data)
				}
			}
		case "incident":
			var in struct {
				Kind, State, Summary, Project string
				Container                     string `json:"container"`
				ID                            int64  `json:"id"`
				Version                       int    `json:"version"`
			}
			if err := json.Unmarshal([]byte(m.data), &in); err != nil {
				t.Fatalf("incident %q: %v", m.data, err)
			}
			if in.Kind != store.KindDied || in.State != store.IncidentOpen || in.Project != "app" || !strings.Contains(in.Summary, "code 3") || in.ID == 0 || in.Version < 1 {
				t.Errorf("incident %s: want the open died incident with its exit code", m.data)
			}
			incident = true
		case "":
			keepAlive = keepAlive || m.comment == "keep-alive"
		}
	}

	if active.Load() != 1 {
		t.Fatalf("%d streams running, want 1", active.Load())
	}
	cancel()
	resp.Body.Close()
	dockertest.WaitFor(t, 10*time.Second, func() bool { return active.Load() == 0 })
}

// blockedWriter is a client that stops reading: its writes after the first block
// until released, as a full TCP window would.
type blockedWriter struct {
	header  http.Header
	mu      sync.Mutex
	body    strings.Builder
	writes  int
	opened  chan struct{} // closed at the first write: the stream is subscribed
	blocked chan struct{} // closed at the first blocked write
	release chan struct{}
}

func (w *blockedWriter) Header() http.Header { return w.header }
func (w *blockedWriter) WriteHeader(int)     {}
func (w *blockedWriter) Flush()              {}
func (w *blockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	w.mu.Unlock()
	if n == 1 {
		close(w.opened)
	}
	if n == 2 {
		close(w.blocked)
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.WriteString(string(b))
}

// A client that reads too slowly is dropped by the feed rather than buffered
// without bound: its stream ends with a comment that says why.
func TestRESTEventsSlowClientIsDropped(t *testing.T) {
	d := testDeps(t, nil)
	db := d.Audit.(*store.DB)
	w := dockerops.NewWatcher(dockerops.WatcherConfig{Projects: d.Projects.(*projects.Store), Incidents: db})
	d.Events, d.Incidents = w, db
	h := NewServer(d)

	bw := &blockedWriter{header: http.Header{}, opened: make(chan struct{}), blocked: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest("GET", "/api/v1/events?project=demo", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(bw, req) }()

	// One deploy notice reaches the stream and blocks its write; hundreds more are
	// published (through the real store) while it is stuck.
	notice := func(i int) {
		t.Helper()
		err := w.Notice(context.Background(), store.Incident{Project: "demo", Kind: store.KindDeployFailed, Summary: fmt.Sprintf("deploy %d failed", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-bw.opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never opened")
	}
	notice(0)
	select {
	case <-bw.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never wrote the first event")
	}
	for i := 1; i <= 300; i++ {
		notice(i)
	}
	close(bw.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a dropped client did not end")
	}
	bw.mu.Lock()
	body := bw.body.String()
	bw.mu.Unlock()
	if !strings.HasSuffix(body, ": this client read too slowly and fell behind the events; the stream ends here, reconnect and read /api/v1/alerts for what was missed\n\n") {
		t.Errorf("the stream ends %q; want the comment saying why", body[max(0, len(body)-300):])
	}
	if n := strings.Count(body, "event: incident\n"); n < 1 || n > 300 {
		t.Errorf("%d incidents written, want some but not all 301", n)
	}
}

// An open stream holds one of its token's requests in flight, as a streamed logs
// answer does: with a bound of 1, the token's next request is refused until the
// stream ends.
func TestRESTEventsCountAgainstTheTokenBound(t *testing.T) {
	d := testDeps(t, nil)
	db := d.Audit.(*store.DB)
	d.Events = dockerops.NewWatcher(dockerops.WatcherConfig{Projects: d.Projects.(*projects.Store), Incidents: db})
	d.Incidents, d.MaxInFlightPerToken = db, 1
	srv := httptest.NewServer(NewServer(d))
	t.Cleanup(srv.Close)
	get := func(ctx context.Context, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+readToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream := get(ctx, "/api/v1/events")
	if stream.StatusCode != 200 {
		t.Fatalf("GET /events: %d", stream.StatusCode)
	}
	if line, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, ": scar event stream") {
		t.Fatalf("first line %q (%v)", line, err)
	}
	resp := get(context.Background(), "/api/v1/alerts")
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Errorf("a request beside an open stream with a bound of 1: %d, want 429", resp.StatusCode)
	}
	cancel()
	stream.Body.Close()
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		resp := get(context.Background(), "/api/v1/alerts")
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
