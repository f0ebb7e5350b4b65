package dockerops

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/gittest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// gitEnv is a deployEnv whose project deploys from a git remote: the workspace's
// files are the remote's first commit, and the Service checks commits out under
// its state directory.
type gitEnv struct {
	*deployEnv
	repo *gittest.Repo
	// first is the commit production runs at the start.
	first string
	// personal is another project's workspace with a person's uncommitted work.
	personal string
}

func newGitEnv(t *testing.T) *gitEnv {
	t.Helper()
	ps := projectMap{}
	e := newDeployEnv(t, ps)
	repo := gittest.New(t, "main")
	repo.CopyTree(e.p.Workspace)
	first := repo.CommitAndPush("main", "first version", nil)

	// A plain project beside it, whose workspace holds work nobody committed.
	personal := t.TempDir()
	writeFile(t, filepath.Join(personal, "draft.txt"), "half done\n")
	ps["plain"] = &projects.Project{Name: "plain", Workspace: personal, Production: t.TempDir(), Containers: []string{"none"}}

	checkouts := filepath.Join(e.stateDir, "checkouts")
	e.p.Git = &projects.GitSource{Remote: repo.URL, Branch: "main"}
	e.p.Workspace = filepath.Join(checkouts, e.p.Name)

	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry(), "test")
	logger := slog.New(slog.DiscardHandler)
	// Not run: it only records the push notices, which is all Notice needs.
	w := NewWatcher(WatcherConfig{Engine: engine, Projects: bakeProjects{ps}, Incidents: e.db, Metrics: m, Logger: logger})
	src := gitsource.New(gitsource.Config{Root: checkouts, Environ: os.Environ(), Timeout: 30 * time.Second})
	e.svc = New(engine, ps, m, logger, WithPollInterval(100*time.Millisecond),
		WithDeploys(engine, fe, e.db, e.compose), WithWatcher(w), WithGitSource(src))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e.svc.Shutdown(ctx)
	})
	return &gitEnv{deployEnv: e, repo: repo, first: first, personal: personal}
}

func (g *gitEnv) deployRef(ref string) *Deployment {
	g.t.Helper()
	d, err := g.svc.Deploy(WithRef(context.Background(), ref), g.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		g.t.Fatalf("deploy of %q: %v", ref, err)
	}
	if d.Done() {
		return d
	}
	return g.wait(d.ID)
}

func (g *gitEnv) notices(kind string) []store.Incident {
	g.t.Helper()
	all, err := g.db.Incidents(context.Background(), store.IncidentQuery{Project: g.p.Name, Limit: 100})
	if err != nil {
		g.t.Fatal(err)
	}
	var out []store.Incident
	for _, in := range all {
		if in.Kind == kind {
			out = append(out, in)
		}
	}
	return out
}

func TestGitDeployFromTheCheckout(t *testing.T) {
	g := newGitEnv(t)
	sha := g.repo.CommitAndPush("main", "content v2", map[string]string{"content/index.txt": "content v2\n"})

	plan, err := g.svc.PlanDeploy(context.Background(), g.p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Commit == nil || plan.Commit.SHA != sha || plan.Commit.Subject != "content v2" || plan.Commit.Author != gittest.Author {
		t.Fatalf("plan commit = %+v, want %s \"content v2\" by %s", plan.Commit, sha, gittest.Author)
	}
	if strings.Join(plan.Changed, ",") != "content/index.txt" {
		t.Fatalf("plan changes %v, want content/index.txt only", plan.Changed)
	}

	d := g.deployRef("")
	if d.Status != DeploySuccess {
		t.Fatalf("deploy = %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	if d.Plan.Commit == nil || d.Plan.Commit.SHA != sha {
		t.Fatalf("record's commit = %+v, want %s", d.Plan.Commit, sha)
	}
	if got := g.get(); !strings.Contains(got, "content v2") {
		t.Fatalf("web serves %q after the deploy", got)
	}
	hist, err := g.svc.History(context.Background(), g.p.Name, 5)
	if err != nil || len(hist) == 0 || hist[0].Plan.Commit == nil || hist[0].Plan.Commit.SHA != sha {
		t.Fatalf("history = %+v, %v; want the commit %s named", hist, err, sha)
	}

	// An older commit by its short sha: production goes back to its files.
	d = g.deployRef(g.first[:8])
	if d.Status != DeploySuccess || d.Plan.Commit.SHA != g.first {
		t.Fatalf("deploy of %s = %s, commit %+v", g.first[:8], d.Status, d.Plan.Commit)
	}
	if got := g.get(); !strings.Contains(got, "content v1") {
		t.Fatalf("web serves %q after deploying the first commit", got)
	}

	// Rolling that back names the commit it puts back.
	rb := g.rollback()
	if rb.Status != DeploySuccess || rb.Plan.Commit == nil || rb.Plan.Commit.SHA != sha {
		t.Fatalf("rollback = %s, commit %+v; want %s put back", rb.Status, rb.Plan.Commit, sha)
	}

	// The person's work in the other project is as they left it.
	if b, err := os.ReadFile(filepath.Join(g.personal, "draft.txt")); err != nil || string(b) != "half done\n" {
		t.Fatalf("draft.txt = %q, %v", b, err)
	}
}

func TestGitDeployRefusesBadRefsAndLeavesProductionAlone(t *testing.T) {
	g := newGitEnv(t)
	before := treeHash(t, g.p.Production)
	web := g.container("web")

	for _, ref := range []string{"no-such-branch", "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef", "--upload-pack=touch /tmp/scar-pwned"} {
		_, err := g.svc.Deploy(WithRef(context.Background(), ref), g.p.Name, Actor{Name: "test"}, nil)
		if !errors.Is(err, ErrUnknownRef) {
			t.Errorf("deploy of %q: err = %v, want ErrUnknownRef", ref, err)
		}
	}
	if _, err := os.Stat("/tmp/scar-pwned"); err == nil {
		t.Fatal("a ref was run as a git option")
	}

	// A remote that is gone.
	g.p.Git.Remote = "file://" + filepath.Join(t.TempDir(), "gone.git")
	if _, err := g.svc.Deploy(context.Background(), g.p.Name, Actor{Name: "test"}, nil); !errors.Is(err, ErrGitRemote) {
		t.Errorf("deploy from a missing remote: err = %v, want ErrGitRemote", err)
	}

	// A ref for a project that deploys its workspace.
	if _, err := g.svc.PlanDeploy(WithRef(context.Background(), "main"), "plain"); !errors.Is(err, ErrBadInput) {
		t.Errorf("plan of plain with a ref: err = %v, want ErrBadInput", err)
	}

	if after := treeHash(t, g.p.Production); after != before {
		t.Fatal("a refused deploy changed production's files")
	}
	if !sameContainer(web, g.container("web")) {
		t.Fatal("a refused deploy touched web")
	}
	if hist, _ := g.svc.History(context.Background(), g.p.Name, 5); len(hist) != 0 {
		t.Fatalf("refused deploys were recorded: %+v", hist)
	}
}

func TestGitPushesDuringADeployAreCoalesced(t *testing.T) {
	g := newGitEnv(t)
	sha1 := g.repo.CommitAndPush("main", "push one", map[string]string{"content/index.txt": "push one\n"})
	push := func(sha string) *PushOutcome {
		t.Helper()
		out, err := g.svc.Push(context.Background(), g.p.Name, Push{Branch: "main", SHA: sha, Provider: "github", Pusher: "dev"})
		if err != nil {
			t.Fatalf("push of %s: %v", sha, err)
		}
		return out
	}
	first := push(sha1)
	if first.Status != PushStarted || first.Deployment == nil {
		t.Fatalf("first push = %+v, want started", first)
	}
	// Three more while it runs: only the newest is deployed after it.
	var last string
	for i, body := range []string{"push two\n", "push three\n", "push four\n"} {
		last = g.repo.CommitAndPush("main", "push "+[]string{"two", "three", "four"}[i], map[string]string{"content/index.txt": body})
		if out := push(last); out.Status != PushQueued {
			t.Fatalf("push %d during the deploy = %+v, want queued", i+2, out)
		}
	}
	if d := g.wait(first.Deployment.ID); d.Status != DeploySuccess {
		t.Fatalf("first deploy = %s: %s", d.Status, d.Error)
	}
	var hist []Deployment
	dockertest.WaitFor(t, 2*time.Minute, func() bool {
		hist, _ = g.svc.History(context.Background(), g.p.Name, 10)
		return len(hist) >= 2 && hist[0].Done()
	})
	dockertest.WaitFor(t, 10*time.Second, func() bool { return len(g.notices(store.KindPushDeployed)) == 2 })
	hist, _ = g.svc.History(context.Background(), g.p.Name, 10)
	if len(hist) != 2 {
		t.Fatalf("%d deploys after 4 pushes, want 2: %+v", len(hist), hist)
	}
	if hist[0].Status != DeploySuccess || hist[0].Plan.Commit.SHA != last || !strings.HasPrefix(hist[0].Who, "git:github dev") {
		t.Fatalf("second deploy = %s of %+v by %q, want success of %s", hist[0].Status, hist[0].Plan.Commit, hist[0].Who, last)
	}
	if got := g.get(); !strings.Contains(got, "push four") {
		t.Fatalf("web serves %q, want the newest push", got)
	}
	started := g.notices(store.KindPushStarted)
	if len(started) != 2 || !strings.Contains(started[0].Summary, "by "+gittest.Author) || !strings.Contains(started[0].Summary, `"push four"`) {
		t.Fatalf("start notices = %+v", started)
	}
}

func TestPromoteCommitIsWhatTheSourceRuns(t *testing.T) {
	g := newGitEnv(t)
	ps := g.svc.projects.(projectMap)
	ps["shop"] = &projects.Project{Name: "shop", Production: t.TempDir(), ComposeProject: "shop",
		Git: &projects.GitSource{Remote: g.repo.Bare + "/", Branch: "main"}}
	ps["other"] = &projects.Project{Name: "other", Production: t.TempDir(), ComposeProject: "other",
		Git: &projects.GitSource{Remote: "file:///srv/git/other.git", Branch: "main"}}
	ctx := context.Background()

	if _, err := g.svc.PromoteCommit(ctx, g.p.Name, "shop"); !errors.Is(err, ErrNotDeployed) {
		t.Fatalf("promote before any deploy: err = %v, want ErrNotDeployed", err)
	}
	sha := g.repo.CommitAndPush("main", "content v2", map[string]string{"content/index.txt": "content v2\n"})
	if d := g.deployRef(""); d.Status != DeploySuccess {
		t.Fatalf("deploy = %s: %s", d.Status, d.Error)
	}
	c, err := g.svc.PromoteCommit(ctx, g.p.Name, "shop")
	if err != nil || c.SHA != sha {
		t.Fatalf("promote = %+v, %v; want %s", c, err, sha)
	}
	for _, tc := range []struct{ from, to string }{{g.p.Name, "other"}, {g.p.Name, "plain"}, {"plain", "shop"}, {g.p.Name, g.p.Name}} {
		if _, err := g.svc.PromoteCommit(ctx, tc.from, tc.to); !errors.Is(err, ErrBadInput) {
			t.Errorf("promote %s → %s: err = %v, want ErrBadInput", tc.from, tc.to, err)
		}
	}
	if _, err := g.svc.PromoteCommit(ctx, "nope", "shop"); !errors.Is(err, ErrUnknownProject) {
		t.Errorf("promote from an unknown project: err = %v", err)
	}
	// After a rollback the source runs the commit before again.
	if rb := g.rollback(); rb.Status != DeploySuccess {
		t.Fatalf("rollback = %s: %s", rb.Status, rb.Error)
	}
	// It put back files from before any git deploy: no commit scar knows of.
	if c, err := g.svc.PromoteCommit(ctx, g.p.Name, "shop"); !errors.Is(err, ErrNotDeployed) {
		t.Fatalf("promote after the rollback = %+v, %v; want ErrNotDeployed", c, err)
	}
}
