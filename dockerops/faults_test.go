package dockerops

// The Docker and deploy rows of issue 7's fault matrix, on the real engine. Each row
// is a named test; some live beside the tests they grew from:
//
//	row                                                   test
//	Docker daemon stopped mid-operation, and at start     cmd/scar TestFaultDockerDaemonStopped
//	new container unhealthy; exits at once; build fails   TestFaultNewVersionFailsRollsBack (deploy_test.go)
//	disk full during sync                                 TestFaultDiskFullDuringSync; deployments TestSyncOnAFullFileSystemRestores
//	SIGKILL at each deploy stage                          TestFaultSIGKILLAtEachDeployStage (deploy_crash_test.go)
//	SIGTERM during a deploy                               cmd/scar TestFaultSIGTERMDuringDeploy
//	panic inside a deploy worker                          TestFaultPanicInDeployWorker
//	two deploys of one project; restart during deploy     TestFaultConcurrentDeploysBusy (deploy_test.go)
//	hostile workspace (../, symlinks, FIFO, device, swap) deployments TestFaultHostileWorkspace; cmd/scar TestFaultHostileWorkspaceOverREST

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestFaultDiskFullDuringSync deploys new files into a production directory that is a
// 64 KiB tmpfs: the sync runs out of space part-way. The deploy must fail at sync with
// an error naming the file, production must be byte for byte as before, and the
// containers must not have been touched (not even restarted).
func TestFaultDiskFullDuringSync(t *testing.T) {
	e := newDeployEnv(t, nil)
	big := filepath.Join(e.p.Production, "big")
	for _, dir := range []string{big, filepath.Join(e.p.Workspace, "big")} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mount("tmpfs", big, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v); deployments' injected failures cover the restore", err)
	}
	t.Cleanup(func() { syscall.Unmount(big, syscall.MNT_DETACH) })
	web, db := e.container("web"), e.container("db")
	prodBefore := treeHash(t, e.p.Production)

	e.edit("content/index.txt", "content v2\n")
	for _, n := range []string{"1", "2", "3", "4"} {
		e.edit("big/"+n+".bin", strings.Repeat(n, 40<<10))
	}
	d := e.deploy()
	if d.Status != DeployFailedRolledBack || d.FailedStep != StageSync {
		t.Fatalf("deploy %s at %q (%s), want failed_rolled_back at sync", d.Status, d.FailedStep, d.Error)
	}
	if !strings.Contains(d.Error, "big/") || !strings.Contains(d.Error, "no space left on device") {
		t.Errorf("error %q: want the file that did not fit and why", d.Error)
	}
	t.Log(d.Error)
	if got := treeHash(t, e.p.Production); got != prodBefore {
		t.Errorf("production files differ after the failed sync")
	}
	if !sameContainer(e.container("web"), web) || !sameContainer(e.container("db"), db) {
		t.Errorf("a deploy that failed at sync touched the containers")
	}
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q, want the old content", got)
	}
}

// TestFaultPanicInDeployWorker makes the deploy's worker panic after a stage: before
// the containers were touched, and after they were recreated. The process lives on,
// production is put back (files, and the old containers serving), the deploy is
// recorded failed with the panic's text, the lock is released, and the project
// deploys again.
func TestFaultPanicInDeployWorker(t *testing.T) {
	for _, stage := range []string{StageSync, StageApply} {
		t.Run("after "+stage, func(t *testing.T) {
			e := newDeployEnv(t, nil)
			var armed atomic.Bool
			armed.Store(true)
			e.svc.stageHook = func(s string) {
				if s == stage && armed.Load() {
					panic("injected panic after " + s)
				}
			}
			web := e.container("web")
			prodBefore := treeHash(t, e.p.Production)
			e.edit("content/index.txt", "content v2\n")
			e.editCompose("VERSION: v1", "VERSION: v2")

			d := e.deploy()
			if d.Status != DeployFailedRolledBack || d.FailedStep != stage || !strings.Contains(d.Error, "internal error: injected panic after "+stage) {
				t.Fatalf("deploy %s at %q (%s), want failed_rolled_back at %s with the panic", d.Status, d.FailedStep, d.Error, stage)
			}
			if got := treeHash(t, e.p.Production); got != prodBefore {
				t.Errorf("production files differ after the panic")
			}
			now := e.container("web")
			if now.Image != web.Image || slices.Contains(now.Env, "VERSION=v2") {
				t.Errorf("web after the panic: %+v, want the old image and env", now)
			}
			if got := e.get(); got != "content v1\n" {
				t.Errorf("web serves %q after the panic, want the old content", got)
			}
			if h, held := e.svc.Locks().Holder(e.p.Name); held {
				t.Errorf("the lock is still held after the panic: %v", &h)
			}
			hist, err := e.svc.History(context.Background(), e.p.Name, 1)
			if err != nil || len(hist) != 1 || hist[0].ID != d.ID || hist[0].Status != DeployFailedRolledBack {
				t.Errorf("history %+v %v, want the panicked deploy recorded failed", hist, err)
			}
			if got := histogramCount(t, e.reg, OpDeploy, e.p.Name, "error"); got != 1 {
				t.Errorf("%d failed deploys in scar_operation_duration_seconds, want 1", got)
			}

			armed.Store(false)
			if again := e.deploy(); again.Status != DeploySuccess {
				t.Errorf("deploy after the panic: %s at %s (%s)", again.Status, again.FailedStep, again.Error)
			}
		})
	}
}

// containerConfig is what service's container was made from, as a string to compare:
// the image, and the configuration a deploy or its undo could change. It leaves out
// what names the container itself (its id, and the label Compose v2 puts on a
// replacement naming the container it replaced).
func (e *deployEnv) containerConfig(service string) string {
	e.t.Helper()
	c := dockertest.Inspect(e.t, e.cli, e.container(service).ID)
	labels := maps.Clone(c.Config.Labels)
	delete(labels, "com.docker.compose.replace")
	var networks []string
	for name := range c.NetworkSettings.Networks {
		networks = append(networks, name)
	}
	slices.Sort(networks)
	b, err := json.MarshalIndent(map[string]any{
		"image": c.Image, "image_ref": c.Config.Image, "env": slices.Sorted(slices.Values(c.Config.Env)),
		"cmd": c.Config.Cmd, "entrypoint": c.Config.Entrypoint, "labels": labels, "healthcheck": c.Config.Healthcheck,
		"binds": c.HostConfig.Binds, "ports": c.HostConfig.PortBindings, "restart": c.HostConfig.RestartPolicy,
		"network_mode": c.HostConfig.NetworkMode, "networks": networks,
	}, "", "  ")
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}
