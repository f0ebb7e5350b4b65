package dockerops

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// projectList is a ProjectLister over fixed projects.
type projectList []*projects.Project

func (l projectList) All() []*projects.Project { return l }

// watchFixture is a Watcher on the real engine, with its own store, registry and a
// feedRecorder of everything it publishes, for one Compose-labelled test project.
type watchFixture struct {
	cli     *client.Client
	image   string
	db      *store.DB
	dbDir   string
	reg     *prometheus.Registry
	project string // the scar project, also its Compose project
	cfg     WatcherConfig
	w       *Watcher
	rec     *feedRecorder
	logs    logBuffer
}

// logBuffer keeps what a logger wrote, for tests that count log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count is how many logged lines contain s.
func (b *logBuffer) count(s string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newWatchFixture makes the fixture; tune adjusts the config before the watcher is
// built. The watcher is not running yet (start).
func newWatchFixture(t testing.TB, tune func(*WatcherConfig)) *watchFixture {
	t.Helper()
	cli := dockertest.Client(t)
	f := &watchFixture{cli: cli, image: dockertest.BuildAppImage(t), reg: prometheus.NewRegistry(), dbDir: t.TempDir()}
	f.project = dockertest.UniqueName(t, "watch")
	db, err := store.Open(context.Background(), f.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	f.cfg = WatcherConfig{
		Engine:    engine,
		Projects:  projectList{{Name: f.project, ComposeProject: f.project, AutoDetect: true, HealthTimeout: 20 * time.Second}},
		Incidents: db,
		Metrics:   metrics.New(f.reg, "test"),
		Logger:    f.logs.logger(),
		// Short, so that tests see recoveries and reconnections in seconds.
		StablePeriod:        2 * time.Second,
		UnreachableAfter:    time.Second,
		ReconnectBackoff:    50 * time.Millisecond,
		ReconnectBackoffMax: 200 * time.Millisecond,
	}
	if tune != nil {
		tune(&f.cfg)
	}
	f.w = NewWatcher(f.cfg)
	return f
}

// start runs the watcher until the test ends or stop is called (which stops it and
// checks that Run returned) and waits until it follows the stream.
func (f *watchFixture) start(t testing.TB) (stop func()) {
	t.Helper()
	f.rec = record(t, f.w)
	stop = runWatcher(t, f.w)
	t.Cleanup(stop)
	f.waitUp(t)
	return stop
}

// runWatcher runs w and returns the function that stops it and waits for Run to
// return, failing the test when it does not within seconds.
func runWatcher(t testing.TB, w *Watcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("the watcher's Run did not return within 10s of its context's end")
			}
		})
	}
}

func (f *watchFixture) waitUp(t testing.TB) {
	t.Helper()
	dockertest.WaitFor(t, 15*time.Second, func() bool { return f.streamUp() == 1 })
}

func (f *watchFixture) streamUp() float64 {
	return metricValue(f.cfg.Metrics.EventStreamUp.WithLabelValues(f.cfg.Host))
}

// metricValue is a gauge's or counter's value.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// run starts a container of service in the test project (Compose labels, no health
// check unless spec has one) and returns its id.
func (f *watchFixture) run(t testing.TB, service string, spec dockertest.ContainerSpec) string {
	t.Helper()
	if spec.Name == "" {
		spec.Name = dockertest.V2Name(f.project, service, 1)
	}
	if spec.Image == "" {
		spec.Image = f.image
	}
	if spec.Labels == nil {
		spec.Labels = dockertest.ComposeLabels(f.project, service, 1, "")
	}
	if spec.Healthcheck == nil {
		spec.Healthcheck = noHealthcheck
	}
	return dockertest.RunContainer(t, f.cli, spec)
}

// incidents returns the project's incidents in the store, oldest first.
func (f *watchFixture) incidents(t testing.TB) []store.Incident {
	t.Helper()
	ins, err := f.db.Incidents(context.Background(), store.IncidentQuery{Project: f.project, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ins, func(a, b store.Incident) int { return int(a.ID - b.ID) })
	return ins
}

// waitIncidents waits until the project has n incidents for which ok holds.
func (f *watchFixture) waitIncidents(t testing.TB, timeout time.Duration, n int, ok func(store.Incident) bool) []store.Incident {
	t.Helper()
	var got []store.Incident
	deadline := time.Now().Add(timeout)
	for {
		got = got[:0]
		for _, in := range f.incidents(t) {
			if ok == nil || ok(in) {
				got = append(got, in)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d matching incidents within %s, want %d; all: %+v", len(got), timeout, n, f.incidents(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// feedRecorder keeps what a watcher publishes to a subscriber of every project.
type feedRecorder struct {
	mu     sync.Mutex
	events []WatchEvent
}

func record(t testing.TB, w *Watcher) *feedRecorder {
	t.Helper()
	ch, cancel := w.Subscribe("")
	r := &feedRecorder{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range ch {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if n := w.feed.subscribers(); n != 0 {
			t.Errorf("%d subscriptions left after the test", n)
		}
	})
	return r
}

// matching returns the recorded events for which ok holds.
func (r *feedRecorder) matching(ok func(WatchEvent) bool) []WatchEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []WatchEvent
	for _, ev := range r.events {
		if ok(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvent waits until an event for which ok holds was published.
func (r *feedRecorder) waitEvent(t testing.TB, timeout time.Duration, ok func(WatchEvent) bool) WatchEvent {
	t.Helper()
	var got []WatchEvent
	dockertest.WaitFor(t, timeout, func() bool {
		got = r.matching(ok)
		return len(got) > 0
	})
	return got[0]
}

// containerEvent matches the container event action of container id.
func containerEvent(id, action string) func(WatchEvent) bool {
	return func(ev WatchEvent) bool { return ev.Incident == nil && ev.ContainerID == id && ev.Action == action }
}

// incidentEvent matches the publication of an incident change of container id.
func incidentEvent(id string) func(WatchEvent) bool {
	return func(ev WatchEvent) bool { return ev.Incident != nil && ev.Incident.ContainerID == id }
}

// waitHandled waits until the watcher has handled ev (published before its
// incidents are written): its cursor, saved after, has reached the event's time.
func (f *watchFixture) waitHandled(t testing.TB, ev WatchEvent) {
	t.Helper()
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		at, _, err := f.db.WatchCursor(context.Background(), f.cfg.Host)
		return err == nil && !at.Before(ev.At)
	})
}

// noGoroutineLeft checks, when the test and all its cleanups registered after this
// call have ended, that no goroutine it started is left (the watcher's, the event
// stream's reader, the subscribers').
func noGoroutineLeft(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left, %d before the test:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
