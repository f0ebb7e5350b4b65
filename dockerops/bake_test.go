package dockerops

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// bakeProjects lists a projectMap's projects, as the watcher wants them.
type bakeProjects struct{ projectMap }

func (b bakeProjects) All() []*projects.Project {
	out := make([]*projects.Project, 0, len(b.projectMap))
	for _, p := range b.projectMap {
		out = append(out, p)
	}
	return out
}

// bakeEnv is a deployEnv whose Service has a running event watcher on the real
// engine, with the project's bake_time set.
type bakeEnv struct {
	*deployEnv
	watcher *Watcher
}

func newBakeEnv(t *testing.T, bakeTime time.Duration) *bakeEnv {
	t.Helper()
	ps := projectMap{}
	e := newDeployEnv(t, ps)
	e.p.BakeTime = bakeTime
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	logger := slog.New(slog.DiscardHandler)
	w := NewWatcher(WatcherConfig{Engine: engine, Projects: bakeProjects{ps}, Incidents: e.db, Metrics: m, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	e.reg = reg
	e.svc = New(engine, ps, m, logger, WithPollInterval(100*time.Millisecond), WithDeploys(engine, fe, e.db, e.compose), WithWatcher(w))
	t.Cleanup(func() {
		shutdown, done := context.WithTimeout(context.Background(), time.Minute)
		defer done()
		e.svc.Shutdown(shutdown)
		cancel()
		wg.Wait()
	})
	return &bakeEnv{deployEnv: e, watcher: w}
}

// crashingVersion changes what web serves and makes the new web exit with code 1
// after, a while after it started and passed the gate.
func (e *bakeEnv) crashingVersion(after string) {
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: v1\n", "VERSION: v1\n      CRASH_AFTER: "+after+"\n")
}

func (e *bakeEnv) record(id string) *Deployment {
	e.t.Helper()
	d, err := e.svc.Deployment(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// waitBake waits until the deploy's bake is no longer "baking until …".
func (e *bakeEnv) waitBake(id string, within time.Duration) *Deployment {
	e.t.Helper()
	var d *Deployment
	dockertest.WaitFor(e.t, within, func() bool {
		d = e.record(id)
		return !strings.HasPrefix(d.Bake, "baking until ")
	})
	return d
}

func (e *bakeEnv) incidents(kind string) []store.Incident {
	e.t.Helper()
	list, err := e.db.Incidents(context.Background(), store.IncidentQuery{Project: e.p.Name})
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.DeleteFunc(list, func(in store.Incident) bool { return in.Kind != kind })
}

// The acceptance: a new version that passes the gate and exits with code 1
// a while later (5 s here rather than the twenty, within a bake of 40 s) is
// rolled back automatically: the old version serves, the production files are as
// before, the record is failed_rolled_back at step bake with the incident, and the
// alert chats get a bake_failed notice.
func TestBakeRollsBackADeployThatCrashesAfterItsGate(t *testing.T) {
	e := newBakeEnv(t, 40*time.Second)
	before := treeHash(t, e.p.Production)
	e.crashingVersion("5s")

	d := e.deploy()
	if d.Status != DeploySuccess || !strings.HasPrefix(d.Bake, "baking until ") {
		t.Fatalf("deploy %s (%s: %s), bake %q; want success, baking", d.Status, d.FailedStep, d.Error, d.Bake)
	}
	until, err := time.Parse(time.RFC3339, strings.TrimPrefix(d.Bake, "baking until "))
	if err != nil || until.Before(d.FinishedAt.Add(39*time.Second).Truncate(time.Second)) {
		t.Errorf("bake %q: want until the deploy's end plus bake_time (%v)", d.Bake, err)
	}
	if got := e.get(); got != "content v2\n" {
		t.Fatalf("web serves %q after the deploy, want the new version", got)
	}
	newWeb := e.container("web")

	var rec *Deployment
	dockertest.WaitFor(t, time.Minute, func() bool {
		rec = e.record(d.ID)
		return rec.Status != DeploySuccess
	})
	if rec.Status != DeployFailedRolledBack || rec.FailedStep != StageBake {
		t.Fatalf("after the crash: %s at %q (%s); want failed_rolled_back at bake", rec.Status, rec.FailedStep, rec.Error)
	}
	if !strings.Contains(rec.Error, "died") || !strings.Contains(rec.Error, "exited with code 1") || !strings.HasPrefix(rec.Bake, "failed: ") {
		t.Errorf("error %q, bake %q: want the died incident with its exit code", rec.Error, rec.Bake)
	}
	if got := treeHash(t, e.p.Production); got != before {
		t.Error("production files differ from before the deploy")
	}
	if died := e.incidents(store.KindDied); len(died) > 0 {
		// The figure the report quotes: the crash's Engine time to the old version back
		// and the record written.
		t.Logf("die event → rolled back and recorded: %s (gate passed %s before the die)",
			rec.FinishedAt.Sub(died[0].EventAt).Round(time.Millisecond), died[0].EventAt.Sub(d.FinishedAt).Round(time.Millisecond))
	}
	e.waitHealthy("web")
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q after the bake's rollback, want the old version", got)
	}
	if web := e.container("web"); web.ID == newWeb.ID || slices.ContainsFunc(web.Env, func(v string) bool { return strings.HasPrefix(v, "CRASH_AFTER=") }) {
		t.Errorf("web is still the crashing version: %+v", web)
	}
	notices := e.incidents(store.KindBakeFailed)
	if len(notices) != 1 || notices[0].DeploymentID != d.ID || notices[0].Open() || !notices[0].ResolvedAt.Equal(notices[0].OpenedAt) ||
		!strings.Contains(notices[0].Detail, "exited with code 1") {
		t.Errorf("bake_failed notices %+v: want one, resolved as it opened, naming the deploy and the incident", notices)
	}
	if _, held := e.svc.Locks().Holder(e.p.Name); held {
		t.Error("the project is still locked after the bake's rollback")
	}
}

// bake_time 0: the same crashing version stays deployed (the watcher still opens
// its died incident, which is what would have rolled it back).
func TestBakeTimeZeroKeepsTheDeploy(t *testing.T) {
	e := newBakeEnv(t, 0)
	e.crashingVersion("3s")
	d := e.deploy()
	if d.Status != DeploySuccess || d.Bake != "" {
		t.Fatalf("deploy %s (%s), bake %q; want success and no bake", d.Status, d.Error, d.Bake)
	}
	after := treeHash(t, e.p.Production)
	dockertest.WaitFor(t, time.Minute, func() bool { return len(e.incidents(store.KindDied)) > 0 })
	if rec := e.record(d.ID); rec.Status != DeploySuccess || rec.Bake != "" {
		t.Errorf("after the crash: %s, bake %q; want the deploy to stay", rec.Status, rec.Bake)
	}
	if got := treeHash(t, e.p.Production); got != after {
		t.Error("production files changed after the crash")
	}
}

// A restart of the project ends the bake (recorded), as do a deploy and a stop of
// scar; the deploy stays a success and nothing is rolled back.
func TestBakeEndedByARestartAndByScarStopping(t *testing.T) {
	e := newBakeEnv(t, 10*time.Minute)
	e.edit("content/index.txt", "content v2\n")
	d := e.deploy()
	if d.Status != DeploySuccess || !strings.HasPrefix(d.Bake, "baking until ") {
		t.Fatalf("deploy %s (%s), bake %q; want success, baking", d.Status, d.Error, d.Bake)
	}
	if _, err := e.svc.Restart(context.Background(), e.p.Name, RestartRequest{}, Actor{Name: "test"}, nil); err != nil {
		t.Fatal(err)
	}
	if rec := e.waitBake(d.ID, 30*time.Second); rec.Bake != "ended by restart" || rec.Status != DeploySuccess {
		t.Errorf("after a restart: bake %q, status %s; want ended by restart, success", rec.Bake, rec.Status)
	}

	e.edit("content/index.txt", "content v3\n")
	second := e.deploy()
	if !strings.HasPrefix(second.Bake, "baking until ") {
		t.Fatalf("second deploy: bake %q, want baking", second.Bake)
	}
	e.edit("content/index.txt", "content v4\n")
	d = e.deploy()
	if !strings.HasPrefix(d.Bake, "baking until ") {
		t.Fatalf("third deploy: bake %q, want baking", d.Bake)
	}
	if rec := e.waitBake(second.ID, 30*time.Second); rec.Bake != "ended by deploy" || rec.Status != DeploySuccess {
		t.Errorf("after the next deploy: bake %q, status %s; want ended by deploy, success", rec.Bake, rec.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.svc.Shutdown(ctx) // returns once every bake has ended: nothing to poll for
	if rec := e.record(d.ID); rec.Bake != BakeEndedByScar || rec.Status != DeploySuccess {
		t.Errorf("after Shutdown: bake %q, status %s; want %q, success", rec.Bake, rec.Status, BakeEndedByScar)
	}
	if got := e.get(); got != "content v4\n" {
		t.Errorf("web serves %q, want the deployed version", got)
	}

	// A scar killed (SIGKILL) during a bake leaves it "baking"; the next start ends it.
	if err := e.db.SetBake(ctx, d.ID, "baking until "+time.Now().Add(time.Minute).UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := e.record(d.ID); rec.Bake != BakeEndedByScar {
		t.Errorf("after a start: bake %q, want %q", rec.Bake, BakeEndedByScar)
	}
}
