package dockerops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/bench/files/gentree"
	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
)

// memoEnv is a Service with deploys configured over a plain project of files, for the
// file plan alone: no container is involved.
type memoEnv struct {
	t   testing.TB
	svc *Service
	p   *projects.Project
}

func newMemoEnv(t testing.TB, fill func(root string), opts ...Option) *memoEnv {
	t.Helper()
	ws, prod, stateDir := t.TempDir(), t.TempDir(), t.TempDir()
	fill(ws)
	fill(prod)
	sameTimes(t, ws, prod)
	p := &projects.Project{Name: "memo", Workspace: ws, Production: prod, Rebuild: projects.RebuildAuto}
	db, fe, engine := deployParts(t, t.TempDir(), stateDir)
	svc := New(engine, projectMap{p.Name: p}, metrics.New(prometheus.NewRegistry(), "test"), nil,
		append([]Option{WithDeploys(engine, fe, db, NewCompose(""))}, opts...)...)
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	return &memoEnv{t: t, svc: svc, p: p}
}

// smallTree fills root with 200 files in 10 directories.
func smallTree(t testing.TB) func(root string) {
	return func(root string) {
		for i := range 200 {
			rel := fmt.Sprintf("d%d/f%d.txt", i%10, i)
			writeFile(t, filepath.Join(root, rel), "file "+rel+"\n")
		}
	}
}

func (e *memoEnv) plan() *deployments.Plan {
	e.t.Helper()
	pl, err := e.svc.filePlan(context.Background(), e.p)
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return pl
}

// waitReused plans until a plan is the one kept before it: the watch is in place.
func (e *memoEnv) waitReused() *deployments.Plan {
	e.t.Helper()
	var last *deployments.Plan
	dockertest.WaitFor(e.t, 10*time.Second, func() bool {
		pl := e.plan()
		reused := pl == last
		last = pl
		return reused
	})
	return last
}

func (e *memoEnv) ws(rel string) string   { return filepath.Join(e.p.Workspace, rel) }
func (e *memoEnv) prod(rel string) string { return filepath.Join(e.p.Production, rel) }

// TestFilePlanIsReusedOnlyWhileNothingChanged: once the trees are watched, a plan of
// unchanged trees is the plan kept, and every kind of change made just before a plan
// (no wait) is in that plan.
func TestFilePlanIsReusedOnlyWhileNothingChanged(t *testing.T) {
	e := newMemoEnv(t, smallTree(t))
	if kept := e.waitReused(); !kept.Empty() {
		t.Fatalf("unchanged trees: plan %+v, want empty", kept)
	}
	cases := []struct {
		name string
		edit func()
		want func(*deployments.Plan) bool
	}{
		{"a workspace file rewritten", func() { writeFile(t, e.ws("d1/f1.txt"), "new content\n") },
			func(p *deployments.Plan) bool { return slices.Contains(p.Changed, "d1/f1.txt") }},
		{"a file in a new directory", func() { writeFile(t, e.ws("new/deep/x.txt"), "x\n") },
			func(p *deployments.Plan) bool { return slices.Contains(p.Added, "new/deep/x.txt") }},
		{"a mode changed", func() {
			if err := os.Chmod(e.ws("d2/f2.txt"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, func(p *deployments.Plan) bool { return slices.Contains(p.Changed, "d2/f2.txt") }},
		{"an mtime changed", func() {
			if err := os.Chtimes(e.ws("d3/f3.txt"), time.Now(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(p *deployments.Plan) bool { return slices.Contains(p.Touched, "d3/f3.txt") }},
		{"a production file edited", func() { writeFile(t, e.prod("d4/f4.txt"), "hotfix on the server\n") },
			func(p *deployments.Plan) bool { return slices.Contains(p.Changed, "d4/f4.txt") }},
		{"a workspace file removed and made a directory", func() {
			if err := os.Remove(e.ws("d5/f5.txt")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, e.ws("d5/f5.txt/inner"), "inner\n")
		}, func(p *deployments.Plan) bool { return slices.Contains(p.Changed, "d5/f5.txt") }},
		{"a directory renamed", func() {
			if err := os.Rename(e.ws("d6"), e.ws("d6-renamed")); err != nil {
				t.Fatal(err)
			}
		}, func(p *deployments.Plan) bool { return slices.Contains(p.Added, "d6-renamed/f6.txt") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.plan()
			tc.edit()
			after := e.plan()
			if after == before || !tc.want(after) {
				t.Fatalf("plan right after the edit (reused: %v): added %v changed %v touched %v",
					after == before, after.Added, after.Changed, after.Touched)
			}
			if again := e.plan(); again != after {
				t.Errorf("nothing changed since the last plan, but it was not reused")
			}
		})
	}

	t.Run("a write under .git changes no plan", func(t *testing.T) {
		before := e.plan()
		writeFile(t, e.ws(".git/FETCH_HEAD"), "abc\n")
		writeFile(t, e.ws("d8/__pycache__/m.cpython-311.pyc"), "bytecode")
		if e.plan() != before {
			t.Fatal("a plan was made afresh after writes only under .git and __pycache__")
		}
		writeFile(t, e.ws(".git/FETCH_HEAD"), "def\n") // under a directory made since
		writeFile(t, e.ws("d8/f8.txt"), "and a file a deploy reads\n")
		if after := e.plan(); after == before || !slices.Contains(after.Changed, "d8/f8.txt") {
			t.Fatalf("plan after a file a deploy reads was written (reused: %v): changed %v", after == before, after.Changed)
		}
	})

	t.Run("kept for a minute at most", func(t *testing.T) {
		clock := &stepClock{}
		e.svc.pendingNow = clock.now
		before := e.plan()
		clock.advance(planMemoMaxAge - time.Second)
		if e.plan() != before {
			t.Fatal("a plan younger than a minute was not reused")
		}
		clock.advance(time.Second)
		if e.plan() == before {
			t.Fatal("a plan a minute old was reused")
		}
	})

	t.Run("another exclude", func(t *testing.T) {
		before := e.plan()
		e.p.Exclude = []string{"new/"}
		after := e.plan()
		if after == before || slices.Contains(after.Added, "new/deep/x.txt") {
			t.Fatalf("plan after the project's excludes changed (reused: %v): added %v", after == before, after.Added)
		}
	})
}

// TestFilePlanSeesEveryEditMadeBeforeIt edits a file and plans at once, many times:
// the barrier makes sure the watch has counted the edit before a kept plan is judged.
func TestFilePlanSeesEveryEditMadeBeforeIt(t *testing.T) {
	e := newMemoEnv(t, smallTree(t))
	e.waitReused()
	prodBody := "file d7/f7.txt\n"
	fi, err := os.Stat(e.prod("d7/f7.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		writeFile(t, e.ws("d7/f7.txt"), fmt.Sprintf("edit %d: %s\n", i, strings.Repeat("x", i)))
		if p := e.plan(); !slices.Contains(p.Changed, "d7/f7.txt") {
			t.Fatalf("edit %d: the plan made right after it does not list the file (changed %v)", i, p.Changed)
		}
		writeFile(t, e.ws("d7/f7.txt"), prodBody)
		if err := os.Chtimes(e.ws("d7/f7.txt"), fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if p := e.plan(); !p.Empty() || len(p.Touched) > 0 {
			t.Fatalf("edit %d undone: plan changed %v touched %v, want empty", i, p.Changed, p.Touched)
		}
	}
}

// TestFilePlanIsNotReusedWithoutAWatch: when the trees cannot be watched, every plan
// reads them.
func TestFilePlanIsNotReusedWithoutAWatch(t *testing.T) {
	e := newMemoEnv(t, smallTree(t))
	e.svc.newWatcher = func() (*fsnotify.Watcher, error) { return nil, errors.New("no inotify here") }
	first := e.plan()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if e.plan() == first {
			t.Fatal("a plan was reused although the trees are not watched")
		}
	}
}

// BenchmarkFilePlanUnchanged10k plans a 10 000-file project whose trees are equal:
// read, every plan reads both trees (watching off); watched, a plan proves with the
// watch's barrier that nothing changed and reuses the one kept.
func BenchmarkFilePlanUnchanged10k(b *testing.B) {
	tree := func(root string) {
		if _, err := gentree.Generate(root, 10000, 1); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		opts []Option
	}{{"read", []Option{WithPendingMaxAge(0)}}, {"watched", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newMemoEnv(b, tree, bc.opts...)
			if bc.opts == nil {
				e.waitReused()
			}
			b.ReportAllocs()
			for b.Loop() {
				if p := e.plan(); !p.Empty() {
					b.Fatalf("plan of equal trees: %d added %d changed", len(p.Added), len(p.Changed))
				}
			}
		})
	}
}

// TestADeployPlansTheFilesAsTheyAreWhenItRuns edits a file between the plan a user
// confirmed and the deploy, while plans are being reused: the deploy says the plan
// changed and deploys nothing; the new plan, confirmed, deploys the edit; and a deploy
// started right after another edit deploys that one.
func TestADeployPlansTheFilesAsTheyAreWhenItRuns(t *testing.T) {
	e := newDeployEnv(t, nil)
	ctx := context.Background()
	planReused := func() {
		t.Helper()
		var kept *deployments.Plan
		dockertest.WaitFor(t, 10*time.Second, func() bool {
			pl, err := e.svc.filePlan(ctx, e.p)
			if err != nil {
				t.Fatal(err)
			}
			reused := pl == kept
			kept = pl
			return reused
		})
	}
	deploy := func(fingerprint string) (*Deployment, error) {
		d, err := e.svc.Deploy(WithConfirmedPlan(ctx, fingerprint), e.p.Name, Actor{Name: "test"}, nil)
		if err != nil {
			return nil, err
		}
		return e.wait(d.ID), nil
	}
	served := func() string { return mustRead(t, filepath.Join(e.p.Production, "content/index.txt")) }

	e.edit("content/index.txt", "content v2\n")
	planReused()
	shown := e.plan()
	prodBefore := treeHash(t, e.p.Production)
	// Another file than the plan's: only a plan made afresh knows of it.
	e.edit("README.md", "edited after the plan was confirmed\n")
	_, err := deploy(shown.Fingerprint)
	changed, ok := errors.AsType[*PlanChangedError](err)
	if !ok {
		t.Fatalf("deploy of a plan confirmed before the file was edited again: %v, want plan_changed", err)
	}
	if got := treeHash(t, e.p.Production); got != prodBefore {
		t.Fatal("production changed although the deploy was refused")
	}
	d, err := deploy(changed.Plan.Fingerprint)
	if err != nil {
		t.Fatalf("deploy of the new plan: %v", err)
	}
	e.mustSucceed(d)
	if !slices.Contains(changed.Plan.Changed, "README.md") {
		t.Errorf("the new plan changes %v, want README.md among them", changed.Plan.Changed)
	}
	if got := mustRead(t, filepath.Join(e.p.Production, "README.md")); got != "edited after the plan was confirmed\n" {
		t.Errorf("production's README.md is %q after the new plan was deployed", got)
	}

	planReused()
	e.edit("content/index.txt", "content v3\n")
	d, err = deploy("")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	e.mustSucceed(d)
	if got := served(); got != "content v3\n" {
		t.Errorf("production has %q, want what the workspace had when the deploy started", got)
	}
}
