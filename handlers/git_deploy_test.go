package handlers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/store"
)

// gitProjects are production (shop, the default) and staging of one remote, and a
// project that deploys from its workspace.
const gitProjects = `{
  "shop": {"git": {"remote": "file:///srv/git/shop.git", "branch": "main"}, "production": "/srv/shop",
           "containers": ["shop-web"], "default": true, "allowed_users": [42]},
  "shop-staging": {"git": {"remote": "file:///srv/git/shop.git", "branch": "develop"}, "production": "/srv/shop-staging",
           "containers": ["staging-web"]},
  "plain": {"workspace": "/workspace/plain", "production": "/srv/plain", "containers": ["plain-web"]}
}`

// testCommit is a commit whose subject and author need escaping.
var testCommit = gitsource.Commit{SHA: "0123456789abcdef0123456789abcdef01234567", Subject: "Fix <cart> & tax", Author: "Ann Lee <ann@example.com>", Branch: "main"}

// deployCall is what a fake Deployer was asked.
type deployCall struct {
	project, ref, promotion, confirmed string
}

func callOf(ctx context.Context, project string) deployCall {
	return deployCall{project: project, ref: dockerops.RefOf(ctx), promotion: dockerops.PromotionOf(ctx),
		confirmed: dockerops.ConfirmedPlanOf(ctx)}
}

// recorder records the plans and deploys asked of h's fake Deployer. Plans have
// testCommit; a deploy succeeds at once.
type recorder struct {
	mu      sync.Mutex
	plans   []deployCall
	deploys []deployCall
}

func (r *recorder) planned() []deployCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deployCall(nil), r.plans...)
}

func (r *recorder) deployed() []deployCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deployCall(nil), r.deploys...)
}

func newGitHarness(t *testing.T) (*harness, *recorder) {
	t.Helper()
	h := newHarness(t, func(_ *Config, d *Deps) { d.Projects = writeProjects(t, gitProjects) })
	rec := &recorder{}
	plan := func(ctx context.Context, project string) dockerops.DeployPlan {
		c := testCommit
		if ref := dockerops.RefOf(ctx); ref == "develop" {
			c.Branch = "develop"
		}
		return dockerops.DeployPlan{Project: project, Changed: []string{"app.py"}, Bytes: 100, Services: []string{"web"},
			Fingerprint: "fp-" + project, Commit: &c, PromotedFrom: dockerops.PromotionOf(ctx)}
	}
	h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
		rec.mu.Lock()
		rec.plans = append(rec.plans, callOf(ctx, project))
		rec.mu.Unlock()
		p := plan(ctx, project)
		return &p, nil
	}
	var mu sync.Mutex
	records := map[string]*dockerops.Deployment{}
	h.deploys.DeployFn = func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
		rec.mu.Lock()
		rec.deploys = append(rec.deploys, callOf(ctx, project))
		rec.mu.Unlock()
		started := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		d := &dockerops.Deployment{ID: "d-" + project, Project: project, Kind: dockerops.KindDeploy, Status: dockerops.DeploySuccess,
			StartedAt: started, FinishedAt: started.Add(9 * time.Second), Plan: plan(ctx, project)}
		mu.Lock()
		records[d.ID] = d
		mu.Unlock()
		progress(dockerops.Event{Stage: stageDone, Message: "deployed"})
		return d, nil
	}
	h.deploys.DeploymentFn = func(ctx context.Context, id string) (*dockerops.Deployment, error) {
		mu.Lock()
		defer mu.Unlock()
		return records[id], nil
	}
	h.deploys.PromoteFn = func(ctx context.Context, from, to string) (*gitsource.Commit, error) {
		c := testCommit
		c.Branch = "develop"
		return &c, nil
	}
	return h, rec
}

// TestDeployRefRunsTheConfirmedCommit: a ref (alone for the default git project, or
// after the project) plans that ref; the confirmed deploy runs the plan's resolved
// sha under the confirmed plan, and the messages name the commit.
func TestDeployRefRunsTheConfirmedCommit(t *testing.T) {
	for _, tc := range []struct {
		name, command, project, ref string
	}{
		{"lone ref for the default project", "/docker_deploy v1.2", "shop", "v1.2"},
		{"project and branch", "/docker_deploy shop-staging develop", "shop-staging", "develop"},
		{"branch head", "/docker_deploy shop", "shop", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := newGitHarness(t)
			h.send(admin.ID, admin, tc.command)
			c := h.waitSent(admin.ID, "Deploy Commit → Production")
			text := rendered(t, c)
			for _, want := range []string{"Source: file:///srv/git/shop.git", "📌 commit 0123456789 Fix <cart> & tax — Ann Lee"} {
				if !strings.Contains(text, want) {
					t.Errorf("plan lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "ann@example.com") {
				t.Errorf("plan shows the author's address:\n%s", text)
			}
			if got := rec.planned(); len(got) != 1 || got[0] != (deployCall{project: tc.project, ref: tc.ref}) {
				t.Errorf("plans %+v, want one of %s with ref %q", got, tc.project, tc.ref)
			}
			h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
			done := rendered(t, h.waitSent(admin.ID, "Deployment complete!"))
			if !strings.Contains(done, "📌 0123456789 Fix <cart> & tax — Ann Lee") {
				t.Errorf("final message does not name the commit:\n%s", done)
			}
			want := deployCall{project: tc.project, ref: testCommit.SHA, confirmed: "fp-" + tc.project}
			if got := rec.deployed(); len(got) != 1 || got[0] != want {
				t.Errorf("deploys %+v, want %+v", got, want)
			}
		})
	}
}

// TestDeployRefRefusals: a ref for a workspace project is refused before any plan;
// a ref the remote lacks and a remote that cannot be fetched are told plainly.
func TestDeployRefRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, command string
		planErr       error
		want          []string
	}{
		{"workspace project", "/docker_deploy plain abc123", nil, []string{"plain deploys from its workspace; a ref is for git projects"}},
		{"unknown ref", "/docker_deploy shop nope", fmt.Errorf("checkout shop: ref %q: %w", "nope", dockerops.ErrUnknownRef),
			[]string{"no commit or branch nope on file:///srv/git/shop.git: nothing was deployed."}},
		{"remote down", "/docker_deploy shop", fmt.Errorf("fetch shop: connection refused: %w", dockerops.ErrGitRemote),
			[]string{"Could not fetch file:///srv/git/shop.git for shop: fetch shop: connection refused", "production is untouched"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := newGitHarness(t)
			if tc.planErr != nil {
				h.deploys.PlanDeployFn = func(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
					rec.mu.Lock()
					rec.plans = append(rec.plans, callOf(ctx, project))
					rec.mu.Unlock()
					return nil, tc.planErr
				}
			}
			h.send(admin.ID, admin, tc.command)
			text := rendered(t, h.waitSent(admin.ID, tc.want[0]))
			for _, want := range tc.want[1:] {
				if !strings.Contains(text, want) {
					t.Errorf("answer lacks %q:\n%s", want, text)
				}
			}
			if tc.planErr == nil && len(rec.planned()) != 0 {
				t.Errorf("planned %+v for a refused ref", rec.planned())
			}
			h.marker(admin.ID)
			if len(rec.deployed()) != 0 {
				t.Errorf("deployed %+v", rec.deployed())
			}
			entries, err := h.db.Audit(context.Background(), "", time.Time{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 || entries[0].Action != dockerops.OpDeploy || entries[0].Outcome != "refused" {
				t.Errorf("audit %+v, want a refused deploy first", entries)
			}
		})
	}
}

// TestPromoteConfirmFlow: /docker_promote shows the plan of staging's commit on
// production, confirmed like a deploy; the deploy runs that commit as a promotion and
// is audited.
func TestPromoteConfirmFlow(t *testing.T) {
	h, rec := newGitHarness(t)
	var asked []string
	h.deploys.PromoteFn = func(ctx context.Context, from, to string) (*gitsource.Commit, error) {
		asked = append(asked, from+"→"+to)
		c := testCommit
		c.Branch = "develop"
		return &c, nil
	}
	h.send(admin.ID, admin, "/docker_promote shop-staging shop")
	c := h.waitSent(admin.ID, "promote shop-staging → shop: commit 0123456789 Fix <cart> & tax — Ann Lee")
	text := rendered(t, c)
	for _, want := range []string{"Target: /srv/shop", "✏️ app.py"} {
		if !strings.Contains(text, want) {
			t.Errorf("promote plan lacks %q:\n%s", want, text)
		}
	}
	if len(asked) != 1 || asked[0] != "shop-staging→shop" {
		t.Errorf("PromoteCommit asked %v", asked)
	}
	want := deployCall{project: "shop", ref: testCommit.SHA, promotion: "shop-staging"}
	if got := rec.planned(); len(got) != 1 || got[0] != want {
		t.Errorf("plans %+v, want %+v", got, want)
	}
	h.press(admin.ID, admin, c.MessageID, buttons(t, c)[0])
	done := rendered(t, h.waitSent(admin.ID, "Deployment complete! — shop"))
	if !strings.Contains(done, "📌 0123456789 Fix <cart> & tax — Ann Lee · promoted from shop-staging") {
		t.Errorf("final message:\n%s", done)
	}
	want.confirmed = "fp-shop"
	if got := rec.deployed(); len(got) != 1 || got[0] != want {
		t.Errorf("deploys %+v, want %+v", got, want)
	}
	h.api.WaitFor(t, 10*time.Second, "the promotion's audit", func([]telegramfake.Call) bool {
		entries, err := h.db.Audit(context.Background(), "shop", time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Action == opPromote && e.DeploymentID == "d-shop" {
				return true
			}
		}
		return false
	})
}

// TestPromoteRefusals: each refusal is answered plainly and nothing is deployed.
func TestPromoteRefusals(t *testing.T) {
	busy := &dockerops.BusyError{Project: "shop", Operation: "deploy", Who: "api:ci", Since: time.Date(2026, 11, 28, 15, 30, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name    string
		user    telegramfake.User
		command string
		err     error
		want    string
	}{
		{"one argument", admin, "/docker_promote shop", nil, "usage: /docker_promote <from> <to>"},
		{"same project", admin, "/docker_promote shop shop", nil, "shop would be promoted to itself"},
		{"workspace project", admin, "/docker_promote plain shop", nil, "plain deploys from its workspace: only git projects are promoted"},
		{"unknown project", admin, "/docker_promote nowhere shop", nil, "Unknown project nowhere."},
		{"no successful deploy", admin, "/docker_promote shop-staging shop", fmt.Errorf("promote: shop-staging has no successful deploy: %w", dockerops.ErrNotFound),
			"Nothing to promote: shop-staging has no successful deploy"},
		{"other remote", admin, "/docker_promote shop-staging shop", fmt.Errorf("promote: shop-staging and shop do not share a remote: %w", dockerops.ErrBadInput),
			"Cannot promote: promote: shop-staging and shop do not share a remote"},
		{"busy", admin, "/docker_promote shop-staging shop", busy, "shop is busy: deploy by api:ci since 15:30:00 UTC"},
		{"read-only user", reader, "/docker_promote shop-staging shop", nil, "Your access is read-only: /docker_promote needs full access."},
		{"not in allowed_users of to", admin2, "/docker_promote shop-staging shop", nil, "You are not allowed to act on shop."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := newGitHarness(t)
			h.deploys.PromoteFn = func(ctx context.Context, from, to string) (*gitsource.Commit, error) {
				if tc.err != nil {
					return nil, tc.err
				}
				c := testCommit
				return &c, nil
			}
			h.send(tc.user.ID, tc.user, tc.command)
			h.waitSent(tc.user.ID, tc.want)
			h.marker(admin.ID)
			if len(rec.planned())+len(rec.deployed()) != 0 {
				t.Errorf("planned %+v, deployed %+v", rec.planned(), rec.deployed())
			}
		})
	}
}

// TestHistoryShowsCommits: deploys of a git project name their commit and what they
// were promoted from; a rollback names the commit it put back.
func TestHistoryShowsCommits(t *testing.T) {
	h, _ := newGitHarness(t)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	put := gitsource.Commit{SHA: "fedcba9876543210", Subject: "Older", Author: "Bo <bo@example.com>"}
	h.deploys.HistoryFn = func(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) {
		return []dockerops.Deployment{
			{ID: "r-2", Project: project, Kind: dockerops.KindRollback, Status: dockerops.DeploySuccess, StartedAt: at, Undoes: "d-1", Plan: dockerops.DeployPlan{Commit: &put}},
			{ID: "d-1", Project: project, Kind: dockerops.KindDeploy, Status: dockerops.DeploySuccess, StartedAt: at, Plan: dockerops.DeployPlan{Commit: &testCommit, PromotedFrom: "shop-staging"}},
			{ID: "d-0", Project: project, Kind: dockerops.KindDeploy, Status: dockerops.DeploySuccess, StartedAt: at},
		}, nil
	}
	h.send(admin.ID, admin, "/docker_history shop")
	text := rendered(t, h.waitSent(admin.ID, "Deploy history"))
	for _, want := range []string{
		"rollback r-2 by  (undid d-1)\n   📌 put back fedcba9876 Older — Bo\n",
		"deploy d-1 by \n   📌 0123456789 Fix <cart> & tax — Ann Lee · promoted from shop-staging\n",
		"deploy d-0 by \n👉",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("history lacks %q:\n%s", want, text)
		}
	}
}

// TestPushNoticeHeadline: a push's start and success are one-shot notices with their
// own marks, the commit as dockerops summarized it.
func TestPushNoticeHeadline(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 3, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   store.Incident
		want string
	}{
		{store.Incident{Project: "shop", Kind: store.KindPushStarted, State: store.IncidentResolved, EventAt: at, ResolvedAt: at,
			Summary: "0123456789 Fix <cart> — Ann Lee", DeploymentID: "d1"}, "🚀 shop — push deploy started: 0123456789 Fix <cart> — Ann Lee"},
		{store.Incident{Project: "shop", Kind: store.KindPushDeployed, State: store.IncidentResolved, EventAt: at, ResolvedAt: at.Add(time.Minute),
			Summary: "0123456789 Fix <cart> — Ann Lee", DeploymentID: "d1"}, "✅ shop — deployed: 0123456789 Fix <cart> — Ann Lee"},
	} {
		t.Run(tc.in.Kind, func(t *testing.T) {
			if !notice(tc.in) {
				t.Error("not a notice")
			}
			got, err := telegramfake.Rendered(alertHeadline(tc.in), "HTML")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("headline %q, want %q", got, tc.want)
			}
			if kb := alertKeyboard([]store.Incident{tc.in}); kb == nil || len(kb.InlineKeyboard[0]) != 1 {
				t.Errorf("buttons %+v, want Mute only", kb)
			}
		})
	}
}
