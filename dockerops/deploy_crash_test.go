package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// crashChild is what the parent test tells the process it kills.
type crashChild struct {
	Project  projects.Project
	DBDir    string
	StateDir string
	Compose  string
	Stage    string
}

const crashEnv = "SCAR_TEST_CRASH_CHILD"

// TestDeployKilledAtEachStageRecovers kills a deploying process with SIGKILL after each
// stage — production files written, image rebuilt, containers recreated — and checks
// that the next start puts production back: files byte for byte, the old container
// configuration serving, the deploy recorded failed, and the project deployable again.
func TestDeployKilledAtEachStageRecovers(t *testing.T) {
	e := newDeployEnv(t, nil)
	prodBefore := treeHash(t, e.p.Production)
	web := e.container("web")
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: v1", "VERSION: crash")

	for _, stage := range []string{StageBackup, StageSync, StageBuild, StageApply, StageHealth} {
		t.Run(stage, func(t *testing.T) {
			spec, _ := json.Marshal(crashChild{Project: *e.p, DBDir: e.dbDir, StateDir: e.stateDir, Compose: strings.Join(e.compose.argv, " "), Stage: stage})
			cmd := exec.Command(os.Args[0], "-test.run=^TestDeployCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), crashEnv+"="+string(spec))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed at %s: %v\n%s", stage, err, out)
			}

			// The next start.
			fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db})
			if err != nil {
				t.Fatal(err)
			}
			engine, err := NewClient("")
			if err != nil {
				t.Fatal(err)
			}
			defer engine.Close()
			svc := New(engine, projectMap{e.p.Name: e.p}, nil, nil, WithPollInterval(100*time.Millisecond), WithDeploys(engine, fe, e.db, e.compose))
			if err := svc.Recover(context.Background()); err != nil {
				t.Fatalf("recover: %v", err)
			}
			if got := treeHash(t, e.p.Production); got != prodBefore {
				t.Errorf("production files differ after recovering from a kill at %s", stage)
			}
			e.waitHealthy("web")
			now := e.container("web")
			if slices.Contains(now.Env, "VERSION=crash") || now.Image != web.Image {
				t.Errorf("web after recovery: %+v, want the old configuration and image", now)
			}
			if got := e.get(); got != "content v1\n" {
				t.Errorf("web serves %q after recovery", got)
			}
			hist, err := svc.History(context.Background(), e.p.Name, 1)
			if err != nil || len(hist) != 1 || hist[0].Status != DeployFailedRolledBack {
				t.Errorf("history after recovery: %+v %v, want the killed deploy recorded failed", hist, err)
			}
			if _, err := svc.PlanDeploy(context.Background(), e.p.Name); err != nil {
				t.Errorf("the project cannot be planned after recovery: %v", err)
			}
		})
	}
}

// TestDeployCrashChild is the process TestDeployKilledAtEachStageRecovers kills; it
// does nothing unless that test started it.
func TestDeployCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("run by TestDeployKilledAtEachStageRecovers")
	}
	var c crashChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), c.DBDir)
	if err != nil {
		t.Fatal(err)
	}
	fe, err := deployments.New(deployments.Config{StateDir: c.StateDir, Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	svc := New(engine, projectMap{c.Project.Name: &c.Project}, nil, nil, WithDeploys(engine, fe, db, NewCompose(c.Compose)))
	svc.stageHook = func(stage string) {
		if stage == c.Stage {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	d, err := svc.Deploy(context.Background(), c.Project.Name, Actor{Name: "crash"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 600 {
		if got, err := svc.Deployment(context.Background(), d.ID); err == nil && got.Done() {
			t.Fatalf("deploy ended (%s) without being killed at %s", got.Status, c.Stage)
		}
		time.Sleep(100 * time.Millisecond) // the process is about to be killed; nothing to poll for
	}
}
