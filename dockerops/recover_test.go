package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// TestRecoverWaitsForDockerAndKeepsTheJournal (issue 12 defect 6): a deploy killed
// after its containers were recreated, and Docker away at the next start. Recovery
// restores the files but keeps the journal, holds the project as "recovering" (a
// deploy is answered busy) and retries in the background; a Shutdown stops the retries
// and keeps the journal for the next start. When Docker is back the old containers
// run again, and only then is the deploy recorded failed_rolled_back and its journal
// dropped.
func TestRecoverWaitsForDockerAndKeepsTheJournal(t *testing.T) {
	e := newDeployEnv(t, nil)
	prodBefore := treeHash(t, e.p.Production)
	web := e.container("web")
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: v1", "VERSION: crash")

	spec, _ := json.Marshal(crashChild{Project: *e.p, DBDir: e.dbDir, StateDir: e.stateDir, Compose: strings.Join(e.compose.argv, " "), Stage: StageApply})
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeployCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(spec))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed after apply: %v\n%s", err, out)
	}
	if !slices.Contains(e.container("web").Env, "VERSION=crash") {
		t.Fatal("the killed deploy had not recreated web; nothing to recover")
	}

	// Docker is reached through a proxy that is down: the daemon is away.
	proxy := engineproxy.New(t)
	proxy.Stop()
	p := *e.p
	startScar := func(t *testing.T) *Service {
		t.Helper()
		fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db})
		if err != nil {
			t.Fatal(err)
		}
		engine, err := NewClient(proxy.Host())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { engine.Close() })
		svc := New(engine, projectMap{p.Name: &p}, nil, nil, WithPollInterval(100*time.Millisecond),
			WithDeploys(engine, fe, e.db, NewCompose(strings.Join(e.compose.argv, " "), ComposeDockerHost(proxy.Host()))))
		t.Cleanup(func() { svc.Shutdown(context.Background()) })
		if err := svc.Recover(context.Background()); err != nil {
			t.Fatalf("recover with Docker away: %v", err)
		}
		return svc
	}
	journals := func() []store.JournalRecord {
		t.Helper()
		js, err := e.db.Journals(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	status := func(svc *Service) string {
		t.Helper()
		hist, err := svc.History(context.Background(), p.Name, 1)
		if err != nil || len(hist) != 1 {
			t.Fatalf("history: %+v %v", hist, err)
		}
		return hist[0].Status
	}
	checkRecovering := func(t *testing.T, svc *Service) {
		t.Helper()
		if got := treeHash(t, p.Production); got != prodBefore {
			t.Errorf("production files not restored while Docker is away")
		}
		if js := journals(); len(js) != 1 {
			t.Errorf("journals while Docker is away: %+v, want the deploy's kept", js)
		}
		if got := status(svc); got != DeployRunning {
			t.Errorf("history says %s while the containers are not back, want running", got)
		}
		_, err := svc.Deploy(context.Background(), p.Name, Actor{Name: "test"}, nil)
		var busy *BusyError
		if !errors.As(err, &busy) || busy.Operation != OpRecover || !strings.Contains(err.Error(), "recovering") {
			t.Errorf("deploy during recovery = %v, want busy: recovering", err)
		}
	}

	first := startScar(t)
	checkRecovering(t, first)
	stopped := make(chan struct{})
	go func() { first.Shutdown(context.Background()); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not stop the recovery retries within 10s")
	}
	if js := journals(); len(js) != 1 {
		t.Fatalf("journals after a Shutdown during recovery: %+v, want the deploy's kept for the next start", js)
	}

	second := startScar(t)
	checkRecovering(t, second)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitFor(t, 2*time.Minute, func() bool {
		_, held := second.Locks().Holder(p.Name)
		return !held
	})
	if got := status(second); got != DeployFailedRolledBack {
		t.Errorf("history after recovery: %s, want failed_rolled_back", got)
	}
	if js := journals(); len(js) != 0 {
		t.Errorf("journals after recovery: %+v, want none", js)
	}
	e.waitHealthy("web")
	now := e.container("web")
	if slices.Contains(now.Env, "VERSION=crash") || now.Image != web.Image {
		t.Errorf("web after recovery: %+v, want the old configuration and image", now)
	}
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q after recovery", got)
	}
}

// TestRecoverRecordsRollbackFailedWhenDockerRefuses (issue 12 defect 6): with Docker
// answering, a crashed deploy whose images cannot be put back (its kept image is
// gone) is recorded rollback_failed — not failed_rolled_back — and forgotten; its
// files are back and the project is not left locked.
func TestRecoverRecordsRollbackFailedWhenDockerRefuses(t *testing.T) {
	ctx := context.Background()
	dockertest.Client(t) // skips, or fails when required, without an engine
	name := dockertest.UniqueName(t, "refused")
	ws, prod := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(ws, "app.py"), "version 2\n")
	writeFile(t, filepath.Join(prod, "app.py"), "v1\n")
	p := &projects.Project{Name: name, Workspace: ws, Production: prod, Containers: []string{name}, Rebuild: projects.RebuildAuto}
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	stateDir := t.TempDir()
	fe, err := deployments.New(deployments.Config{StateDir: stateDir, Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	// A deploy that synced its files and journaled the image it must put back, then died.
	plan, err := fe.Plan(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := fe.Begin(ctx, "crashed", plan)
	if err != nil {
		t.Fatal(err)
	}
	missing := "sha256:" + strings.Repeat("0", 64)
	note := `{"compose":false,"targets":["` + name + `"],"images":[{"target":"` + name + `","ref":"` + name + `-img:latest","id":"` + missing + `"}],"stage":"build"}`
	if err := d.Note(ctx, noteKey, note); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDeployment(ctx, store.DeploymentRecord{ID: "crashed", Project: name, Kind: KindDeploy, Who: "test", StartedAt: time.Now(), Status: DeployRunning}); err != nil {
		t.Fatal(err)
	}

	fe, err = deployments.New(deployments.Config{StateDir: stateDir, Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	svc := New(engine, projectMap{name: p}, nil, nil, WithDeploys(engine, fe, db, NewCompose("")))
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	if err := svc.Recover(ctx); err == nil || !strings.Contains(err.Error(), "crashed") {
		t.Errorf("recover = %v, want the failure to put the image back", err)
	}
	got, err := svc.Deployment(ctx, "crashed")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != DeployRollbackFailed {
		t.Errorf("history says %s (%s), want rollback_failed", got.Status, got.Error)
	}
	if readFile(t, filepath.Join(prod, "app.py")) != "v1\n" {
		t.Errorf("production files not restored")
	}
	if js, _ := db.Journals(ctx); len(js) != 0 {
		t.Errorf("journals %+v, want the deploy forgotten: Docker answered, there is nothing to wait for", js)
	}
	if h, held := svc.Locks().Holder(name); held {
		t.Errorf("the project is locked after recovery: %v", &h)
	}
}
