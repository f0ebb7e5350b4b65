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
	"github.com/scar-dev/scar/internal/dockertest"
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

// TestFaultSIGKILLAtEachDeployStage (issue 7: SIGKILL at each deploy stage) kills a
// deploying process with SIGKILL after each stage — production files written, image
// rebuilt, containers recreated — and checks that the next start puts production
// back: files byte for byte, the old image and container configuration serving, db
// untouched, the deploy recorded failed, nothing left journaled or locked; and that
// the project deploys right after.
func TestFaultSIGKILLAtEachDeployStage(t *testing.T) {
	e := newDeployEnv(t, nil)
	prodBefore := treeHash(t, e.p.Production)
	web, db := e.container("web"), e.container("db")
	webConfig := e.containerConfig("web")
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: v1", "VERSION: crash")
	// A Compose change alone no longer rebuilds (issue 12.1): a baked file makes the
	// deploy build, so that it has a build stage to be killed at.
	e.edit("baked.txt", "baked crash\n")
	// nextStart opens the state as a fresh scar process does.
	nextStart := func(t *testing.T) *Service {
		t.Helper()
		fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db})
		if err != nil {
			t.Fatal(err)
		}
		engine, err := NewClient("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { engine.Close() })
		return New(engine, projectMap{e.p.Name: e.p}, nil, nil, WithPollInterval(100*time.Millisecond), WithDeploys(engine, fe, e.db, e.compose))
	}

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

			svc := nextStart(t)
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
			if got := e.containerConfig("web"); got != webConfig {
				t.Errorf("web's configuration after recovery:\n%s\nwant as before the deploy:\n%s", got, webConfig)
			}
			if !sameContainer(e.container("db"), db) {
				t.Errorf("db was touched")
			}
			if got := e.get(); got != "content v1\n" {
				t.Errorf("web serves %q after recovery", got)
			}
			hist, err := svc.History(context.Background(), e.p.Name, 1)
			if err != nil || len(hist) != 1 || hist[0].Status != DeployFailedRolledBack {
				t.Errorf("history after recovery: %+v %v, want the killed deploy recorded failed", hist, err)
			}
			if js, err := e.db.Journals(context.Background()); err != nil || len(js) != 0 {
				t.Errorf("journals after recovery: %+v %v, want none", js, err)
			}
			if running, err := e.db.Running(context.Background()); err != nil || len(running) != 0 {
				t.Errorf("deploys still recorded running after recovery: %+v %v", running, err)
			}
			if h, held := svc.Locks().Holder(e.p.Name); held {
				t.Errorf("the project is locked after recovery: %v", &h)
			}
			if _, err := svc.PlanDeploy(context.Background(), e.p.Name); err != nil {
				t.Errorf("the project cannot be planned after recovery: %v", err)
			}
		})
	}
	t.Run("deploys after recovery", func(t *testing.T) {
		svc := nextStart(t)
		d, err := svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
		if err != nil {
			t.Fatalf("deploy right after recovery: %v", err)
		}
		var got *Deployment
		dockertest.WaitFor(t, 2*time.Minute, func() bool {
			got, err = svc.Deployment(context.Background(), d.ID)
			return err == nil && got.Done()
		})
		if got.Status != DeploySuccess {
			t.Fatalf("deploy right after recovery: %s at %s (%s)", got.Status, got.FailedStep, got.Error)
		}
		if env := e.container("web").Env; !slices.Contains(env, "VERSION=crash") {
			t.Errorf("web env %v after the deploy, want VERSION=crash", env)
		}
	})
}

// TestDeployCrashChild is the process TestFaultSIGKILLAtEachDeployStage kills; it
// does nothing unless that test started it.
func TestDeployCrashChild(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("run by TestFaultSIGKILLAtEachDeployStage")
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
