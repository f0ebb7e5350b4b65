package dockerops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/internal/dockertest"
)

// hangingCompose is the real Compose tool behind a wrapper that hangs on `build`: the
// wrapper writes its pid and the pid of a child of its own (a sleep, standing for the
// Compose plugin or a build helper) to pidFile, then waits for ever. Every other
// command is the real tool, exec'd. No image can be pulled here and a FROM scratch
// build has no RUN that could hang, so this is how a hung `compose build` is made.
func hangingCompose(t *testing.T) (compose *Compose, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "hang.pid")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
  if [ "$a" = build ]; then
    sleep 600 &
    echo $$ $! > %s
    wait
    exit 1
  fi
done
exec %s "$@"
`, pidFile, strings.Join(dockertest.ComposeCommand(), " "))
	path := filepath.Join(dir, "compose-hangs-on-build")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return NewCompose(path), pidFile
}

// hungPids waits until the wrapper has written its pids and returns them: the
// wrapper (leader of the tool's process group) and its child.
func hungPids(t *testing.T, pidFile string) (leader, child int) {
	t.Helper()
	dockertest.WaitFor(t, time.Minute, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &leader, &child)
		return err == nil
	})
	return leader, child
}

// assertGroupGone fails unless the tool's process group has no process left.
func assertGroupGone(t *testing.T, leader, child int) {
	t.Helper()
	dockertest.WaitFor(t, 10*time.Second, func() bool {
		return errors.Is(syscall.Kill(-leader, 0), syscall.ESRCH) && !alive(child)
	})
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestDeployBuildDeadlineRollsBack: a build that hangs is stopped at the project's
// build_timeout, its Compose process group killed whole, and the deploy rolled back
// and recorded as cancelled, production as it was (issue 12, defect 7).
func TestDeployBuildDeadlineRollsBack(t *testing.T) {
	e := newDeployEnv(t, nil)
	compose, pidFile := hangingCompose(t)
	e.svc.compose = compose
	e.p.BuildTimeout = 3 * time.Second
	web, db := e.container("web"), e.container("db")
	prod := treeHash(t, e.p.Production)
	e.edit("baked.txt", "baked v2\n")

	start := time.Now()
	d, err := e.svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leader, child := hungPids(t, pidFile)
	d = e.wait(d.ID)
	took := time.Since(start)
	t.Logf("the deploy ended %s after it started, with a build_timeout of 3s", took.Round(100*time.Millisecond))
	if d.Status != DeployCancelled || d.FailedStep != StageBuild || !strings.Contains(d.Error, "build took longer than its build_timeout of 3s") {
		t.Fatalf("deploy: status %s at %q: %s; want cancelled at build by build_timeout", d.Status, d.FailedStep, d.Error)
	}
	assertGroupGone(t, leader, child)
	if got := treeHash(t, e.p.Production); got != prod {
		t.Error("production files differ from before the deploy")
	}
	if !sameContainer(e.container("web"), web) || !sameContainer(e.container("db"), db) {
		t.Error("a container was touched by a deploy cancelled at build")
	}
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q after the cancelled deploy", got)
	}
	if v := counterValue(t, e.reg, "scar_deployments_total", map[string]string{"project": e.p.Name, "outcome": DeployCancelled}); v != 1 {
		t.Errorf("scar_deployments_total{outcome=cancelled} = %v, want 1", v)
	}
	if again, err := e.svc.CancelDeployment(context.Background(), d.ID, Actor{Name: "test"}); !errors.Is(err, ErrNotCancellable) {
		t.Errorf("cancelling a finished deploy: %+v, %v; want ErrNotCancellable", again, err)
	}
}

// TestCancelDeployRollsBack: a deploy cancelled while its build runs is stopped at
// once, rolled back and recorded as cancelled, naming who cancelled it.
func TestCancelDeployRollsBack(t *testing.T) {
	e := newDeployEnv(t, nil)
	compose, pidFile := hangingCompose(t)
	e.svc.compose = compose
	web := e.container("web")
	prod := treeHash(t, e.p.Production)
	e.edit("baked.txt", "baked v2\n")

	d, err := e.svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leader, child := hungPids(t, pidFile)
	running, err := e.svc.CancelDeployment(context.Background(), d.ID, Actor{Name: "api:ops"})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if running.ID != d.ID {
		t.Errorf("cancel answered deployment %q, want %q", running.ID, d.ID)
	}
	start := time.Now()
	d = e.wait(d.ID)
	t.Logf("the deploy ended %s after the cancel", time.Since(start).Round(100*time.Millisecond))
	if d.Status != DeployCancelled || d.FailedStep != StageBuild || d.Error != "cancelled by api:ops" {
		t.Fatalf("deploy: status %s at %q: %q; want cancelled at build by api:ops", d.Status, d.FailedStep, d.Error)
	}
	assertGroupGone(t, leader, child)
	if got := treeHash(t, e.p.Production); got != prod {
		t.Error("production files differ from before the deploy")
	}
	if !sameContainer(e.container("web"), web) {
		t.Error("web was touched by a deploy cancelled at build")
	}
	if _, err := e.svc.CancelDeployment(context.Background(), "20990101-000000-00000000", Actor{Name: "api:ops"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancelling an unknown deployment: %v, want ErrNotFound", err)
	}
}

// counterValue is the value of the counter name with exactly labels, 0 when absent.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsEqual(m.GetLabel(), labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestDeployApplyDeadlineRollsBack: an apply (`compose up`) that hangs is stopped at
// the project's apply_timeout and the deploy rolled back — which runs `up` again, on
// the restored files — and recorded as cancelled at apply, the old version serving.
func TestDeployApplyDeadlineRollsBack(t *testing.T) {
	e := newDeployEnv(t, nil)
	dir := t.TempDir()
	marker, pidFile := filepath.Join(dir, "hang-once"), filepath.Join(dir, "hang.pid")
	script := fmt.Sprintf(`#!/bin/sh
if [ -e %[1]s ]; then
  for a in "$@"; do
    if [ "$a" = up ]; then
      rm -f %[1]s
      sleep 600 &
      echo $$ $! > %[2]s
      wait
      exit 1
    fi
  done
fi
exec %[3]s "$@"
`, marker, pidFile, strings.Join(dockertest.ComposeCommand(), " "))
	path := filepath.Join(dir, "compose-hangs-on-up-once")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.svc.compose = NewCompose(path)
	e.p.ApplyTimeout = 3 * time.Second
	web, db := e.container("web"), e.container("db")
	prod := treeHash(t, e.p.Production)
	e.editCompose("VERSION: v1", "VERSION: v2")

	d, err := e.svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leader, child := hungPids(t, pidFile)
	d = e.wait(d.ID)
	if d.Status != DeployCancelled || d.FailedStep != StageApply || !strings.Contains(d.Error, "apply took longer than its apply_timeout of 3s") {
		t.Fatalf("deploy: status %s at %q: %s; want cancelled at apply by apply_timeout", d.Status, d.FailedStep, d.Error)
	}
	assertGroupGone(t, leader, child)
	if got := treeHash(t, e.p.Production); got != prod {
		t.Error("production files differ from before the deploy")
	}
	if v := envOf(e.container("web").Env, "VERSION"); v != "v1" {
		t.Errorf("web runs VERSION=%s after the rollback, want v1", v)
	}
	if e.container("web").ID != web.ID {
		t.Logf("web was recreated by the rollback's up (was %s)", web.ID)
	}
	if !sameContainer(e.container("db"), db) {
		t.Error("db was touched")
	}
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q after the cancelled deploy", got)
	}
}

func envOf(env []string, name string) string {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}
