package deployments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// The crash test runs a deploy in a child process (this test binary, re-executed)
// that kills itself with SIGKILL at its nth step (every step in turn), then starts over in the parent the
// way scar starts: open the state, Recover. Production must be byte for byte as
// before the deploy, or, once the deploy had committed, as after it.
const (
	envCrashRoot = "SCAR_TEST_CRASH_ROOT"
	envCrashNth  = "SCAR_TEST_CRASH_NTH"
	envCrashUndo = "SCAR_TEST_CRASH_UNDO"
)

func TestCrashAtEveryStepRecovers(t *testing.T) {
	for _, undo := range []bool{false, true} {
		steps := crashSteps(t, undo)
		for i, step := range steps {
			nth := i + 1
			// The deploy stands once its journal is dropped; before, it is undone.
			after := !undo && slices.Index(steps, "unjournaled") <= i
			name := fmt.Sprintf("commit/%02d-%s", nth, step)
			if undo {
				name = fmt.Sprintf("undo/%02d-%s", nth, step)
			}
			t.Run(name, func(t *testing.T) { crashAndRecover(t, nth, undo, after) })
		}
	}
}

// crashSteps runs the deploy of the crash test in-process and returns the steps it
// passes, in order: the places a crash is tried.
func crashSteps(t *testing.T, undo bool) []string {
	t.Helper()
	f := newFixture(t)
	changedTree(t, f)
	var steps []string
	var mu sync.Mutex
	f.e.hook = func(step, rel string) error {
		mu.Lock()
		steps = append(steps, step)
		mu.Unlock()
		return nil
	}
	runCrashDeploy(t, f, undo)
	return steps
}

func runCrashDeploy(t *testing.T, f *fixture, undo bool) {
	t.Helper()
	ctx := context.Background()
	d, err := f.e.Begin(ctx, "crash", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if undo {
		err = d.Undo(ctx)
	} else {
		err = d.Commit(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func crashAndRecover(t *testing.T, nth int, undo, after bool) {
	f := newFixture(t)
	changedTree(t, f)
	before := treeState(t, f.prod)
	f.db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashRoot+"="+f.root, envCrashNth+"="+strconv.Itoa(nth))
	if undo {
		cmd.Env = append(cmd.Env, envCrashUndo+"=1")
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL at step %d (err %v):\n%s", nth, err, out)
	}

	f.open()
	if _, err := f.e.Recover(context.Background()); err != nil {
		t.Fatalf("recover: %v", err)
	}
	want := before
	if after {
		want = treeState(t, f.ws)
		for _, rel := range []string{".env", "data", "data/db"} { // what the deploy leaves alone
			want[rel] = before[rel]
		}
	}
	if diff := diffStates(want, treeState(t, f.prod)); diff != "" {
		t.Errorf("production after recovery:\n%s", diff)
	}
	assertNoDeployLeft(t, f)
	if p := f.plan(); after != p.Empty() {
		t.Errorf("plan after recovery: empty %v, want %v", p.Empty(), after)
	}
}

// TestCrashChild is the child of TestCrashAtEveryStepRecovers; it does nothing on its own.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(envCrashRoot)
	if root == "" {
		t.Skip("runs only as the child of TestCrashAtEveryStepRecovers")
	}
	nth, _ := strconv.Atoi(os.Getenv(envCrashNth))
	f := &fixture{t: t, root: root, ws: filepath.Join(root, "ws"), prod: filepath.Join(root, "prod"), state: filepath.Join(root, "state")}
	f.project = newFixtureProject(f)
	f.project.DeleteRemoved = true
	f.open()
	var seen atomic.Int32
	f.e.hook = func(step, rel string) error {
		if int(seen.Add(1)) == nth {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
		return nil
	}
	runCrashDeploy(t, f, os.Getenv(envCrashUndo) != "")
	t.Fatalf("step %d never came", nth)
}
