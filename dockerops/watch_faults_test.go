package dockerops

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/store"
)

// faultyEngine is a fault injection, not an engine: an HTTP server on a unix socket
// that answers the ping, says every container is gone, and serves an event stream
// that breaks on every connection, in turn: garbage, then a malformed event and a
// die of a container of the project followed by the end of the stream, then an
// immediate close.
type faultyEngine struct {
	project string
	at      time.Time // the time of its die event
	conns   atomic.Int64
}

func (e *faultyEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	switch {
	case strings.HasSuffix(r.URL.Path, "/_ping"):
		io.WriteString(w, "OK")
	case strings.HasSuffix(r.URL.Path, "/events"):
		n := e.conns.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		switch n % 3 {
		case 1:
			io.WriteString(w, "{\"Type\":\"container\",\"Action\":\x00\x01 garbage }}}\n")
		case 2:
			io.WriteString(w, `{"Type":"container","Action":"die","Actor":{"Attributes":{}},"timeNano":0}`+"\n")
			fmt.Fprintf(w, `{"Type":"container","Action":"die","Actor":{"ID":"c0ffee","Attributes":{"name":"%s-web-1",`+
				`"com.docker.compose.project":"%s","com.docker.compose.service":"web","com.docker.compose.oneoff":"False",`+
				`"exitCode":"3"}},"time":%d,"timeNano":%d}`+"\n", e.project, e.project, e.at.Unix(), e.at.UnixNano())
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"No such container: c0ffee"}`)
	}
}

// An event stream that returns garbage and closes all the time, a malformed event
// and a container gone before it can be inspected: no panic, each fault logged
// once, the watcher goes on (reconnects, and the one good die is one incident
// without details, however often the stream repeats it).
func TestWatchSurvivesGarbageStream(t *testing.T) {
	noGoroutineLeft(t)
	dir, err := os.MkdirTemp("", "scar-fe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	project := "faulty"
	// The die is later than the watcher's start (its cursor on a first run): the
	// engine sends nothing older than the cursor.
	fe := &faultyEngine{project: project, at: time.Now().Add(time.Second)}
	srv := &http.Server{Handler: fe}
	var served sync.WaitGroup
	served.Go(func() { srv.Serve(ln) })
	t.Cleanup(func() { srv.Close(); served.Wait() })

	engine, err := NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var logs logBuffer
	w := NewWatcher(WatcherConfig{
		Engine: engine, Incidents: db, Logger: logs.logger(), Metrics: metrics.New(prometheus.NewRegistry(), "test"),
		Projects:         projectList{{Name: project, ComposeProject: project, AutoDetect: true}},
		ReconnectBackoff: 10 * time.Millisecond, ReconnectBackoffMax: 50 * time.Millisecond, UnreachableAfter: time.Hour,
	})
	rec := record(t, w)
	stop := runWatcher(t, w)
	defer stop()

	dockertest.WaitFor(t, 20*time.Second, func() bool { return fe.conns.Load() >= 12 })
	stop()

	ins, err := db.Incidents(context.Background(), store.IncidentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Kind != store.KindDied || ins[0].Summary != "exited with code 3" || ins[0].Detail != "" ||
		ins[0].Container != project+"-web-1" {
		t.Fatalf("incidents = %+v, want one died incident of %s-web-1 without details", ins, project)
	}
	if n := len(rec.matching(containerEvent("c0ffee", "die"))); n != 1 {
		t.Errorf("the repeated die was published %d times, want once", n)
	}
	for _, line := range []string{"skipping an event that names no container", "event stream of the Docker host lost",
		"incident details unavailable"} {
		if n := logs.count(line); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", line, n, logs.String())
		}
	}
}

// Events are mapped to projects by the rules of status: the Compose project's
// service containers (oneoff=False) when the project takes them all, or those its
// containers list names; a plain container the list names; nothing else.
func TestWatchProjectOf(t *testing.T) {
	w := NewWatcher(WatcherConfig{Projects: projectList{
		{Name: "auto", ComposeProject: "shop", AutoDetect: true},
		{Name: "listed", ComposeProject: "po", Containers: []string{"backend", "po-redis-1"}},
		{Name: "plain", Containers: []string{"legacy"}},
	}})
	compose := func(project, service, number, oneoff, name string) map[string]string {
		a := map[string]string{labelProject: project, labelService: service, labelContainerNumber: number, "name": name}
		if oneoff != "" {
			a[labelOneoff] = oneoff
		}
		return a
	}
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		want  string
	}{
		{"compose service container", compose("shop", "web", "1", "False", "shop-web-1"), "auto"},
		{"compose v1 name", compose("shop", "web", "1", "False", "shop_web_1"), "auto"},
		{"one-off run container", compose("shop", "web", "1", "True", "shop-web-run-1"), ""},
		{"image labels only, no oneoff", compose("shop", "web", "1", "", "stray"), ""},
		{"listed by service", compose("po", "backend", "1", "False", "po-backend-1"), "listed"},
		{"listed by name", compose("po", "redis", "1", "False", "po-redis-1"), "listed"},
		{"not in the list", compose("po", "worker", "1", "False", "po-worker-1"), ""},
		{"plain container by name", map[string]string{"name": "legacy"}, "plain"},
		{"someone else's container", map[string]string{"name": "other"}, ""},
		{"no attributes", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.projectOf(tc.attrs); got != tc.want {
				t.Errorf("projectOf(%v) = %q, want %q", tc.attrs, got, tc.want)
			}
		})
	}
}

// A watcher maps no event to a project of another Docker host (its docker_host),
// even one whose Compose labels match.
func TestWatchProjectsOfHost(t *testing.T) {
	all := projectList{
		{Name: "here", ComposeProject: "shop", AutoDetect: true},
		{Name: "named", ComposeProject: "blog", AutoDetect: true, DockerHost: "unix:///var/run/docker.sock"},
		{Name: "there", ComposeProject: "po", AutoDetect: true, DockerHost: "tcp://10.0.0.2:2375"},
	}
	w := NewWatcher(WatcherConfig{Projects: ProjectsOfHost(all, "unix:///var/run/docker.sock")})
	labels := func(project string) map[string]string {
		return map[string]string{labelProject: project, labelService: "web", labelOneoff: "False", "name": project + "-web-1"}
	}
	for cp, want := range map[string]string{"shop": "here", "blog": "named", "po": ""} {
		if got := w.projectOf(labels(cp)); got != want {
			t.Errorf("container of Compose project %s mapped to %q, want %q", cp, got, want)
		}
	}
}

// The cursor skips exactly the events handled at its own nanosecond (a resume
// gets them again) and never moves back.
func TestWatchCursor(t *testing.T) {
	t0 := time.Unix(100, 5)
	var c cursor
	if !c.advance(t0, "a") || !c.advance(t0, "b") {
		t.Fatal("advance to a new time refused")
	}
	if !c.handled(t0, "a") || !c.handled(t0, "b") || c.handled(t0, "c") {
		t.Errorf("handled at %v: a, b yes, c no; cursor %+v", t0, c)
	}
	if c.advance(t0.Add(-1), "old") || !c.at.Equal(t0) {
		t.Errorf("an older event moved the cursor to %v", c.at)
	}
	c.advance(t0.Add(1), "d")
	if c.handled(t0, "a") || !c.handled(t0.Add(1), "d") || len(c.seen) != 1 {
		t.Errorf("after a later event the cursor is %+v, want only d at %v", c, t0.Add(1))
	}
}

// flakyLog is the store with OpenIncident failing the first time it is called.
type flakyLog struct {
	*store.DB
	failed atomic.Bool
}

func (l *flakyLog) OpenIncident(ctx context.Context, in store.Incident) (store.Incident, error) {
	if l.failed.CompareAndSwap(false, true) {
		return in, fmt.Errorf("store: open %s incident of %s: disk full (injected)", in.Kind, in.Project)
	}
	return l.DB.OpenIncident(ctx, in)
}

// A store that fails while an event is handled loses nothing: the cursor stays
// before the event, the stream is taken up again from it, and the event makes its
// incident once the store answers.
func TestWatchStoreFailureLosesNothing(t *testing.T) {
	f := newWatchFixture(t, nil)
	flaky := &flakyLog{DB: f.db}
	f.cfg.Incidents = flaky
	f.w = NewWatcher(f.cfg)
	f.start(t)
	id := f.run(t, "job", dockertest.ContainerSpec{Env: []string{"EXIT_CODE=3"}})

	in := f.waitIncidents(t, 20*time.Second, 1, nil)[0]
	if !flaky.failed.Load() || in.ContainerID != id || in.Kind != store.KindDied {
		t.Fatalf("incident %+v (store failed once: %v), want the died incident of %s after the failure", in, flaky.failed.Load(), id)
	}
	f.waitHandled(t, f.rec.waitEvent(t, 10*time.Second, containerEvent(id, "die")))
	if got := f.incidents(t); len(got) != 1 {
		t.Errorf("%d incidents, want 1: %+v", len(got), got)
	}
	if n := f.logs.count("disk full (injected)"); n != 1 {
		t.Errorf("the store failure was logged %d times, want once:\n%s", n, f.logs.String())
	}
}
