package main

// Acceptance of issue 16 end to end: a commit pushed with the git CLI to a bare remote
// on disk → a push webhook signed as GitHub signs it → a running `scar serve` fetches
// it into its own checkout and deploys it with the real Engine and Compose → history,
// the alert chats (fake Bot API) and production tell of it. Promotion from a staging
// project to a production one on the same remote is the second half. The package
// tests (gitsource, dockerops/git_*_test.go, api/git_hooks_test.go, handlers) hold
// each part; these hold the path.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/gittest"
	"github.com/scar-dev/scar/internal/telegramfake"
)

// hookSecretEnv names the variable holding the git projects' webhook secret.
const (
	hookSecretEnv = "E2E_HOOK_SECRET"
	hookSecret    = "e2e-hook-secret-3f9a1c0b7d2e4f68"
)

// gitCompose is one built service, so that a project costs one container. %[1]s is
// the image's name: the project's own for a built one, the app image for one that
// is not built (gitComposeImage).
const gitCompose = `services:
  web:
    build: .
    image: %[1]s
    environment:
      VERSION: v1
      CONTENT_FILE: /srv/content/index.txt
    ports:
      - "127.0.0.1::8000"
    volumes:
      - ./content:/srv/content:ro
`

// gitProject is a Compose project whose production was brought up once by Compose
// from the files of the remote's first commit; scar deploys it from git.
type gitProject struct {
	name, prod, branch string
	repo               *gittest.Repo
	cli                *client.Client
	compose            []string
}

// gitComposeImage is gitCompose without the build: two projects on one remote share
// its compose file, and a built image's name would be theirs alike.
var gitComposeImage = strings.Replace(gitCompose, "    build: .\n", "", 1)

// gitFiles are the project's files at its first commit; built, web's image is the
// project's own, else the app image.
func gitFiles(name, image string, built bool) map[string]string {
	compose := fmt.Sprintf(gitCompose, name+"-web:latest")
	if !built {
		compose = fmt.Sprintf(gitComposeImage, image)
	}
	return map[string]string{
		"docker-compose.yml": compose,
		"Dockerfile":         "FROM " + image + "\nCOPY baked.txt /srv/baked.txt\n",
		"baked.txt":          "baked v1\n",
		"content/index.txt":  "content v1\n",
	}
}

// newGitProject writes the first commit's files to production (committing and
// pushing them to branch first when commit is set, else taking them from the clone),
// brings production up with Compose and waits until web is healthy. built says
// whether web is built from the Dockerfile (a project of its own remote) or runs the
// app image (projects that share a remote).
func newGitProject(t *testing.T, prefix string, repo *gittest.Repo, branch string, commit, built bool) *gitProject {
	t.Helper()
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	g := &gitProject{name: dockertest.UniqueName(t, prefix), prod: t.TempDir(), branch: branch, repo: repo, cli: cli, compose: compose}
	dockertest.RemoveImagesWhenDone(t, cli, g.name)
	files := gitFiles(g.name, image, built)
	if commit {
		repo.CommitAndPush(branch, "first version", files)
	} else {
		files = map[string]string{}
		for _, rel := range []string{"docker-compose.yml", "Dockerfile", "baked.txt", "content/index.txt"} {
			b, err := os.ReadFile(filepath.Join(repo.Work, rel))
			if err != nil {
				t.Fatal(err)
			}
			files[rel] = string(b)
		}
	}
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	for rel, body := range files {
		writeAt(t, filepath.Join(g.prod, rel), body, mtime)
	}
	t.Cleanup(func() {
		g.run(context.Background(), "down", "-v", "--remove-orphans", "--rmi", "local", "-t", "1")
		removeImages(cli, "scar-rollback/"+g.name+"/")
	})
	if out, err := g.run(context.Background(), "up", "-d", "--build"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	dockertest.WaitFor(t, 60*time.Second, func() bool {
		res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
			Filters: client.Filters{}.Add("label", "com.docker.compose.project="+g.name).Add("health", "healthy"),
		})
		return err == nil && len(res.Items) == 1
	})
	return g
}

func (g *gitProject) run(ctx context.Context, args ...string) (string, error) {
	return runCompose(ctx, g.compose, g.name, g.prod, args...)
}

// entry is the project's entry in a projects file: git, no workspace.
func (g *gitProject) entry(project string) string {
	return fmt.Sprintf(`%q: {"git": {"remote": %q, "branch": %q, "secret_env": %q}, "production": %q, "compose_project": %q, "auto_detect": true, "primary_container": "web", "health_timeout": "8s"}`,
		project, g.repo.URL, g.branch, hookSecretEnv, g.prod, g.name)
}

// web inspects the project's web container.
func (g *gitProject) web(t *testing.T) string {
	t.Helper()
	_, name := serviceContainer(t, g.cli, g.name, "web")
	return name
}

// serves is what web serves on /.
func (g *gitProject) serves(t *testing.T) string {
	t.Helper()
	return httpBody(t, dockertest.Inspect(t, g.cli, g.web(t)), "8000/tcp")
}

// githubPush is a push event as GitHub sends it (the fields scar reads and a few
// around them), for repository cloneURL.
func githubPush(cloneURL, branch, before, after, subject string) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": before, "after": after,
		"created": false, "deleted": false, "forced": false,
		"repository": map[string]any{"id": 4242, "name": "shop", "full_name": "acme/shop", "private": true,
			"html_url": "https://github.com/acme/shop", "clone_url": cloneURL, "default_branch": "main"},
		"pusher":      map[string]any{"name": "dev", "email": "dev@example.com"},
		"sender":      map[string]any{"login": "dev", "id": 7},
		"head_commit": map[string]any{"id": after, "message": subject, "author": map[string]any{"name": "Dev Eloper", "email": "dev@example.com"}},
		"commits":     []any{map[string]any{"id": after, "message": subject}},
	})
	return b
}

// hookReply is a webhook's answer: its status code, decoded body and Location.
type hookReply struct {
	code     int
	body     map[string]any
	location string
}

// postGitHub POSTs body to the project's webhook as GitHub does: the event and
// delivery headers and X-Hub-Signature-256, the HMAC-SHA256 of the body under secret.
func postGitHub(t *testing.T, s *server, project, event, delivery, secret string, body []byte) hookReply {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", s.url+"/hooks/git/"+project, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("webhook of %s: %v", project, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := hookReply{code: resp.StatusCode, location: resp.Header.Get("Location")}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("webhook answer %d is not JSON: %s", resp.StatusCode, raw)
	}
	return r
}

// newDelivery is a delivery id as GitHub makes them (a random GUID).
func newDelivery() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// history is the project's deployments, newest first.
func history(t *testing.T, s *server, project string) []map[string]any {
	t.Helper()
	resp, v := s.call(t, "GET", "/api/v1/projects/"+project+"/deployments", "")
	if resp.StatusCode != 200 {
		t.Fatalf("history of %s: %d %v", project, resp.StatusCode, v)
	}
	var out []map[string]any
	for _, d := range v["deployments"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// commitOf is a deployment record's plan.commit.sha.
func commitOf(d map[string]any) string {
	plan, _ := d["plan"].(map[string]any)
	c, _ := plan["commit"].(map[string]any)
	sha, _ := c["sha"].(string)
	return sha
}

// pushDeployed waits for the deploy of sha the webhook answered with to end and
// returns its record: through the answer's Location when it started at once, else
// through history when it was queued.
func pushDeployed(t *testing.T, s *server, project, sha string, r hookReply) map[string]any {
	t.Helper()
	if r.code != http.StatusAccepted {
		t.Fatalf("webhook of %s's push of %s: %d %v, want 202", project, sha[:10], r.code, r.body)
	}
	if r.location != "" {
		return s.finish(t, r.location)
	}
	var found map[string]any
	dockertest.WaitFor(t, 3*time.Minute, func() bool {
		for _, d := range history(t, s, project) {
			if commitOf(d) == sha && d["status"] != "running" {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

// alertTexts is every text the fake Bot API accepted for the alert chat, sent or
// edited, in order.
func alertTexts(api *telegramfake.Server) string {
	var sb strings.Builder
	for _, c := range api.Calls("sendMessage", "editMessageText") {
		if c.OK() && c.Int64("chat_id") == alertChat {
			sb.WriteString(c.String("text") + "\n")
		}
	}
	return sb.String()
}

// waitAlertText waits until the alert chat has been told every one of wants on one
// line.
func waitAlertText(t *testing.T, api *telegramfake.Server, what string, wants ...string) {
	t.Helper()
	has := func() bool {
		for _, l := range strings.Split(alertTexts(api), "\n") {
			all := true
			for _, w := range wants {
				all = all && strings.Contains(l, w)
			}
			if all {
				return true
			}
		}
		return false
	}
	api.WaitFor(t, 60*time.Second, what+" in the alert chat: "+strings.Join(wants, " · "), func([]telegramfake.Call) bool { return has() })
}

// TestPushWebhookDeploysTheCommit: GitHub-signed push webhooks deploy pushed commits
// through the whole pipeline of a running scar; a Dockerfile change rebuilds; a
// commit whose container fails its health check is rolled back with production as it
// was, and the alert chat told; a redelivery, a wrong signature and another branch
// deploy nothing; another project's workspace, with a person's uncommitted files in
// it, is left byte for byte.
func TestPushWebhookDeploysTheCommit(t *testing.T) {
	repo := gittest.New(t, "main")
	g := newGitProject(t, "gitpush", repo, "main", true, true)
	first := repo.Git("rev-parse", "HEAD")

	// A plain project whose workspace holds what a person is working on.
	personal, personalProd := t.TempDir(), t.TempDir()
	writeAt(t, filepath.Join(personal, "content/index.txt"), "my draft, not committed\n", time.Now())
	writeAt(t, filepath.Join(personal, "docker-compose.yml"), fmt.Sprintf(gitCompose, "draft-web:latest"), time.Now())
	personalHash := treeHash(t, personal)
	plain := fmt.Sprintf(`"draft": {"workspace": %q, "production": %q, "containers": [%q]}`, personal, personalProd, dockertest.UniqueName(t, "draft"))

	pf := projectsFileOf(t, g.entry("shop"), plain)
	api := telegramfake.New(t)
	s := startAlertServe(t, api, pf, "SCAR_COMPOSE_COMMAND="+strings.Join(g.compose, " "), hookSecretEnv+"="+hookSecret)

	// 1. A one-file change.
	v2 := repo.CommitAndPush("main", "content v2", map[string]string{"content/index.txt": "content v2\n"})
	delivery := newDelivery()
	body := githubPush(repo.URL, "main", first, v2, "content v2")
	d := pushDeployed(t, s, "shop", v2, postGitHub(t, s, "shop", "push", delivery, hookSecret, body))
	if d["status"] != "success" || commitOf(d) != v2 {
		t.Fatalf("push deploy of %s: %v at %v (%v), commit %s", v2[:10], d["status"], d["failed_step"], d["error"], commitOf(d))
	}
	if got := g.serves(t); !strings.Contains(got, "content v2") {
		t.Fatalf("web serves %q after the push deploy", got)
	}
	if h := history(t, s, "shop"); len(h) != 1 || commitOf(h[0]) != v2 {
		t.Fatalf("history after the first push: %d records, newest commit %q; want 1 naming %s", len(h), commitOf(h[0]), v2)
	}
	waitAlertText(t, api, "the push deploy's start", "push deploy started", v2[:10], "content v2", "Dev Eloper")
	waitAlertText(t, api, "the push deploy's result", "deployed", v2[:10], "content v2", "Dev Eloper", d["id"].(string))

	// The same delivery again: answered, not run.
	if r := postGitHub(t, s, "shop", "push", delivery, hookSecret, body); r.code != 200 || r.body["status"] != "duplicate" {
		t.Errorf("redelivery of %s: %d %v, want 200 duplicate", delivery, r.code, r.body)
	}

	// 2. A Dockerfile change rebuilds: a new image for web.
	imageBefore := dockertest.Inspect(t, g.cli, g.web(t)).Image
	v3 := repo.CommitAndPush("main", "bake v2", map[string]string{
		"Dockerfile": "FROM " + dockertest.BuildAppImage(t) + "\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.version=2\n"})
	d = pushDeployed(t, s, "shop", v3, postGitHub(t, s, "shop", "push", newDelivery(), hookSecret, githubPush(repo.URL, "main", v2, v3, "bake v2")))
	if d["status"] != "success" || commitOf(d) != v3 {
		t.Fatalf("push deploy of the Dockerfile change: %v at %v (%v)", d["status"], d["failed_step"], d["error"])
	}
	if plan := d["plan"].(map[string]any); plan["rebuild"] != true {
		t.Errorf("a Dockerfile change planned rebuild=%v (%v), want true", plan["rebuild"], plan["rebuild_reason"])
	}
	if after := dockertest.Inspect(t, g.cli, g.web(t)).Image; after == imageBefore {
		t.Errorf("web runs image %s after the Dockerfile change, as before", after)
	}

	// 3. A commit whose container fails its health check; first sent with a wrong
	// signature, which deploys nothing.
	prodBefore := treeHash(t, g.prod)
	compose, _ := os.ReadFile(filepath.Join(repo.Work, "docker-compose.yml"))
	v4 := repo.CommitAndPush("main", "turn on the new cache", map[string]string{
		"docker-compose.yml": strings.Replace(string(compose), "VERSION: v1", "VERSION: v4\n      UNHEALTHY: \"1\"", 1)})
	body = githubPush(repo.URL, "main", v3, v4, "turn on the new cache")
	if r := postGitHub(t, s, "shop", "push", newDelivery(), "not-the-secret", body); r.code != 401 {
		t.Errorf("wrong signature: %d %v, want 401", r.code, r.body)
	}
	if h := history(t, s, "shop"); len(h) != 2 {
		t.Errorf("%d deploys after a wrongly signed push, want the 2 before it", len(h))
	}
	d = pushDeployed(t, s, "shop", v4, postGitHub(t, s, "shop", "push", newDelivery(), hookSecret, body))
	if d["status"] != "failed_rolled_back" || commitOf(d) != v4 {
		t.Fatalf("push of an unhealthy commit: %v at %v (%v), want failed_rolled_back", d["status"], d["failed_step"], d["error"])
	}
	if after := treeHash(t, g.prod); after != prodBefore {
		t.Errorf("production's files differ after the rolled back push deploy")
	}
	if got := g.serves(t); !strings.Contains(got, "content v2") {
		t.Errorf("web serves %q after the rollback, want content v2", got)
	}
	if env := strings.Join(dockertest.Inspect(t, g.cli, g.web(t)).Config.Env, " "); !strings.Contains(env, "VERSION=v1") || strings.Contains(env, "UNHEALTHY") {
		t.Errorf("web runs with %s after the rollback, want VERSION=v1 and no UNHEALTHY", env)
	}
	waitAlertText(t, api, "the failed push deploy", "deploy failed", d["id"].(string), v4[:10], "turn on the new cache", "Dev Eloper")

	// 4. A push to another branch is ignored.
	v5 := repo.CommitAndPush("feature", "work in progress", map[string]string{"content/index.txt": "wip\n"})
	if r := postGitHub(t, s, "shop", "push", newDelivery(), hookSecret, githubPush(repo.URL, "feature", v4, v5, "work in progress")); r.code != 200 || r.body["status"] != "ignored" {
		t.Errorf("push to another branch: %d %v, want 200 ignored", r.code, r.body)
	}

	h := history(t, s, "shop")
	var commits []string
	for _, d := range h {
		commits = append(commits, commitOf(d))
	}
	if want := []string{v4, v3, v2}; strings.Join(commits, ",") != strings.Join(want, ",") {
		t.Errorf("history's commits %v, want %v (each push once, the redelivery, the wrong signature and the other branch never)", commits, want)
	}
	if after := treeHash(t, personal); after != personalHash {
		t.Errorf("the plain project's workspace changed: a git project deployed from it or wrote to it")
	}
}

// TestPromoteStagingToProduction: two git projects on one remote, staging on
// develop and production on main, each its own Compose project; a push to develop
// deployed to staging is promoted to production as that very commit; promotion from
// a project with no deploy, from another remote and from an unknown project is
// refused.
func TestPromoteStagingToProduction(t *testing.T) {
	repo := gittest.New(t, "main")
	prod := newGitProject(t, "gitprod", repo, "main", true, false)
	repo.Push("develop", false)
	staging := newGitProject(t, "gitstage", repo, "develop", false, false)

	other := gittest.New(t, "main")
	other.CommitAndPush("main", "elsewhere", map[string]string{"README": "another repository\n"})
	elsewhere := fmt.Sprintf(`"elsewhere": {"git": {"remote": %q, "branch": "main"}, "production": %q, "compose_project": %q}`,
		other.URL, t.TempDir(), dockertest.UniqueName(t, "gitelse"))

	pf := projectsFileOf(t, prod.entry("shop"), staging.entry("shop-staging"), elsewhere)
	s := startServe(t, "SCAR_PROJECTS_FILE="+pf, "SCAR_API_TOKENS="+e2eToken, "SCAR_COMPOSE_COMMAND="+strings.Join(prod.compose, " "),
		hookSecretEnv+"="+hookSecret)

	promote := func(from, to string) (*http.Response, map[string]any) {
		t.Helper()
		return s.call(t, "POST", "/api/v1/projects/"+to+"/promote", fmt.Sprintf(`{"from": %q}`, from))
	}
	code := func(v map[string]any) any {
		e, _ := v["error"].(map[string]any)
		return e["code"]
	}

	// Staging has not deployed anything yet.
	if resp, v := promote("shop-staging", "shop"); resp.StatusCode != 409 || code(v) != "not_deployed" {
		t.Errorf("promote from a project with no deploy: %d %v, want 409 not_deployed", resp.StatusCode, v)
	}

	v2 := repo.CommitAndPush("develop", "content v2", map[string]string{"content/index.txt": "content v2\n"})
	first := repo.Git("rev-parse", "HEAD~1")
	d := pushDeployed(t, s, "shop-staging", v2, postGitHub(t, s, "shop-staging", "push", newDelivery(), hookSecret,
		githubPush(repo.URL, "develop", first, v2, "content v2")))
	if d["status"] != "success" || commitOf(d) != v2 {
		t.Fatalf("staging's push deploy: %v at %v (%v), commit %s", d["status"], d["failed_step"], d["error"], commitOf(d))
	}
	// main has moved on meanwhile: production gets staging's commit, not main's head.
	repo.Git("checkout", "-q", "-b", "hotfix", first)
	mainHead := repo.CommitAndPush("main", "not ready yet", map[string]string{"baked.txt": "baked, unready\n"})

	resp, v := promote("shop-staging", "shop")
	if resp.StatusCode != 202 {
		t.Fatalf("promote: %d %v", resp.StatusCode, v)
	}
	d = s.finish(t, resp.Header.Get("Location"))
	plan := d["plan"].(map[string]any)
	if d["status"] != "success" || commitOf(d) != v2 || plan["promoted_from"] != "shop-staging" {
		t.Fatalf("promotion: %v at %v (%v), commit %s (main's head %s), promoted_from %v; want success of staging's %s from shop-staging",
			d["status"], d["failed_step"], d["error"], commitOf(d), mainHead[:10], plan["promoted_from"], v2[:10])
	}
	if got := prod.serves(t); !strings.Contains(got, "content v2") {
		t.Errorf("production serves %q after the promotion", got)
	}
	if h := history(t, s, "shop"); len(h) != 1 || commitOf(h[0]) != v2 {
		t.Errorf("production's history: %d records, want the promotion of %s", len(h), v2[:10])
	}

	refusals := []struct {
		name, from, to string
		status         int
		code           string
	}{
		{"another remote", "elsewhere", "shop", 400, "bad_input"},
		{"unknown from", "nosuch", "shop", 404, "unknown_project"},
		{"unknown to", "shop-staging", "nosuch", 404, "unknown_project"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if resp, v := promote(tc.from, tc.to); resp.StatusCode != tc.status || code(v) != tc.code {
				t.Errorf("promote %s → %s: %d %v, want %d %s", tc.from, tc.to, resp.StatusCode, v, tc.status, tc.code)
			}
		})
	}
	if h := history(t, s, "shop"); len(h) != 1 {
		t.Errorf("production has %d deploys after the refusals, want the 1 promotion", len(h))
	}
}
