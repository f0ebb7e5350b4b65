package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// The git hosts' webhook senders are faked: requests built as each host's published
// format describes them, signed with the project's secret.

const (
	hookSecret  = "s3cret-of-the-shop-hook"
	hookSecretE = "SHOP_HOOK_SECRET"
	pushedSHA   = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
)

// recordingPushes is Pushes that records each push and answers started with a
// deployment, or err.
type recordingPushes struct {
	mu    sync.Mutex
	calls []dockerops.Push
	err   error
}

var _ Pushes = (*recordingPushes)(nil)

func (p *recordingPushes) Push(ctx context.Context, project string, push dockerops.Push) (*dockerops.PushOutcome, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	p.calls = append(p.calls, push)
	d := &dockerops.Deployment{ID: "d-" + push.SHA[:7], Project: project, Kind: "deploy", Status: dockerops.DeployRunning, StartedAt: time.Now(),
		Plan: emptyPlan(project)}
	return &dockerops.PushOutcome{Status: dockerops.PushStarted, Deployment: d, Message: "deploying " + push.SHA[:10]}, nil
}

// emptyPlan is a plan that changes nothing, as the API encodes one.
func emptyPlan(project string) dockerops.DeployPlan {
	none := []string{}
	return dockerops.DeployPlan{Project: project, Added: none, Changed: none, Deleted: none, Services: none,
		Recreate: none, Restart: none, ServiceActions: []dockerops.ServiceAction{}}
}

func (p *recordingPushes) pushes() []dockerops.Push {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]dockerops.Push(nil), p.calls...)
}

// sameRepoDouble stands in for gitsource.SameRepository (built elsewhere): two URLs
// name one repository when their last two path elements agree, ".git" aside.
func sameRepoDouble(a, b string) bool {
	key := func(u string) string {
		u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
		parts := strings.FieldsFunc(u, func(r rune) bool { return r == '/' || r == ':' })
		if len(parts) < 2 {
			return u
		}
		return strings.ToLower(parts[len(parts)-2] + "/" + parts[len(parts)-1])
	}
	return key(a) == key(b)
}

// hookDeps serves two git projects on one remote (shop deploys main, shop-staging
// develop; only shop has its secret set), one without a secret_env, and one that
// is not a git project (demo).
func hookDeps(tb testing.TB, pushes *recordingPushes) Deps {
	tb.Helper()
	d := testDeps(tb, nil)
	dir := tb.TempDir()
	for _, sub := range []string{"ws", "prod", "prod-shop", "prod-staging", "prod-nosecret"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	body := `{
		"demo": {"workspace": "` + dir + `/ws", "production": "` + dir + `/prod", "compose_project": "demo"},
		"shop": {"git": {"remote": "git@github.com:acme/shop.git", "branch": "main", "secret_env": "` + hookSecretE + `"},
			"production": "` + dir + `/prod-shop", "compose_project": "shop"},
		"shop-staging": {"git": {"remote": "https://github.com/acme/shop.git", "branch": "develop", "secret_env": "STAGING_HOOK_SECRET"},
			"production": "` + dir + `/prod-staging", "compose_project": "shop-staging"},
		"nosecret": {"git": {"remote": "https://github.com/acme/shop.git"},
			"production": "` + dir + `/prod-nosecret", "compose_project": "nosecret"}
	}`
	file := filepath.Join(dir, "projects.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	ps, err := projects.NewStore(file, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	d.Projects = ps
	d.Pushes = pushes
	d.Getenv = func(name string) string {
		if name == hookSecretE {
			return hookSecret
		}
		return ""
	}
	d.SameRepository = sameRepoDouble
	return d
}

func hmacHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Push payloads as the hosts publish them (trimmed of fields scar does not read).
func githubPush(ref, after, cloneURL string) string {
	return `{
  "ref": "` + ref + `",
  "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
  "after": "` + after + `",
  "created": false, "deleted": false, "forced": false,
  "base_ref": null,
  "compare": "https://github.com/acme/shop/compare/9049f1265b7d...6113728f27ae",
  "commits": [{"id": "` + after + `", "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433", "distinct": true,
    "message": "Fix the basket total", "timestamp": "2026-11-28T10:12:39+01:00",
    "url": "https://github.com/acme/shop/commit/` + after + `",
    "author": {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
    "committer": {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
    "added": [], "removed": [], "modified": ["app/basket.go"]}],
  "head_commit": {"id": "` + after + `", "message": "Fix the basket total"},
  "repository": {"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": "shop", "full_name": "acme/shop",
    "private": true, "owner": {"name": "acme", "login": "acme"},
    "html_url": "https://github.com/acme/shop", "url": "https://github.com/acme/shop",
    "git_url": "git://github.com/acme/shop.git", "ssh_url": "git@github.com:acme/shop.git",
    "clone_url": "` + cloneURL + `", "svn_url": "https://github.com/acme/shop",
    "default_branch": "main", "master_branch": "main"},
  "pusher": {"name": "ada", "email": "ada@example.com"},
  "sender": {"login": "ada", "id": 21031067, "type": "User"}
}`
}

func giteaPush(ref, after, cloneURL string) string {
	return `{
  "ref": "` + ref + `",
  "before": "28e1879d029cb852e4844d9c718537df08844e03",
  "after": "` + after + `",
  "compare_url": "https://git.example.com/acme/shop/compare/28e1879d029c...` + after + `",
  "commits": [{"id": "` + after + `", "message": "Fix the basket total\n",
    "url": "https://git.example.com/acme/shop/commit/` + after + `",
    "author": {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
    "committer": {"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
    "timestamp": "2026-11-28T10:12:39+01:00"}],
  "repository": {"id": 140, "owner": {"id": 1, "login": "acme", "full_name": "", "username": "acme"},
    "name": "shop", "full_name": "acme/shop", "private": true, "fork": false,
    "html_url": "https://git.example.com/acme/shop", "ssh_url": "git@git.example.com:acme/shop.git",
    "clone_url": "` + cloneURL + `", "default_branch": "main"},
  "pusher": {"id": 1, "login": "ada", "full_name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"},
  "sender": {"id": 1, "login": "ada", "username": "ada"}
}`
}

func gitlabPush(ref, after, httpURL string) string {
	return `{
  "object_kind": "push", "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "` + after + `",
  "ref": "` + ref + `",
  "ref_protected": true,
  "checkout_sha": "` + after + `",
  "user_id": 4, "user_name": "Ada Lovelace", "user_username": "ada", "user_email": "",
  "project_id": 15,
  "project": {"id": 15, "name": "shop", "web_url": "https://gitlab.example.com/acme/shop",
    "git_ssh_url": "git@gitlab.example.com:acme/shop.git", "git_http_url": "` + httpURL + `",
    "namespace": "acme", "path_with_namespace": "acme/shop", "default_branch": "main"},
  "commits": [{"id": "` + after + `", "message": "Fix the basket total\n", "title": "Fix the basket total",
    "timestamp": "2026-11-28T10:12:39+01:00", "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "added": [], "modified": ["app/basket.go"], "removed": []}],
  "total_commits_count": 1,
  "repository": {"name": "shop", "url": "git@gitlab.example.com:acme/shop.git", "homepage": "https://gitlab.example.com/acme/shop",
    "git_http_url": "` + httpURL + `", "git_ssh_url": "git@gitlab.example.com:acme/shop.git"}
}`
}

// hookSenderFake builds one provider's request: its headers, signed or with its token.
type hookSenderFake struct {
	name    string
	payload func(ref, after, url string) string
	url     string
	// sign sets the provider's headers; secret "" leaves the signature out.
	sign func(h http.Header, body []byte, secret, event, delivery string)
	// ping is the provider's event that is not a push ("" when it has none).
	ping string
}

var hookProviders = []hookSenderFake{
	{name: "github", payload: githubPush, url: "https://github.com/acme/shop.git", ping: "ping",
		sign: func(h http.Header, body []byte, secret, event, delivery string) {
			h.Set("X-GitHub-Event", event)
			h.Set("X-GitHub-Delivery", delivery)
			h.Set("X-GitHub-Hook-ID", "292430182")
			if secret != "" {
				h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
			}
		}},
	{name: "gitea", payload: giteaPush, url: "https://git.example.com/acme/shop.git", ping: "create",
		sign: func(h http.Header, body []byte, secret, event, delivery string) {
			// Gitea sends GitHub's and Gogs' headers beside its own.
			for _, p := range []string{"X-GitHub", "X-Gogs", "X-Gitea"} {
				h.Set(p+"-Event", event)
				h.Set(p+"-Delivery", delivery)
			}
			if secret != "" {
				h.Set("X-Gitea-Signature", hmacHex(secret, body))
				h.Set("X-Gogs-Signature", hmacHex(secret, body))
			}
		}},
	{name: "forgejo", payload: giteaPush, url: "https://codeberg.org/acme/shop.git", ping: "issues",
		sign: func(h http.Header, body []byte, secret, event, delivery string) {
			for _, p := range []string{"X-GitHub", "X-Gogs", "X-Gitea", "X-Forgejo"} {
				h.Set(p+"-Event", event)
				h.Set(p+"-Delivery", delivery)
			}
			if secret != "" {
				h.Set("X-Forgejo-Signature", hmacHex(secret, body))
				h.Set("X-Gitea-Signature", hmacHex(secret, body))
			}
		}},
	{name: "gitlab", payload: gitlabPush, url: "https://gitlab.example.com/acme/shop.git", ping: "Tag Push Hook",
		sign: func(h http.Header, body []byte, secret, event, delivery string) {
			if event == "push" {
				event = "Push Hook"
			}
			h.Set("X-Gitlab-Event", event)
			h.Set("X-Gitlab-Event-UUID", delivery)
			h.Set("X-Gitlab-Instance", "https://gitlab.example.com")
			if secret != "" {
				h.Set("X-Gitlab-Token", secret)
			}
		}},
	{name: "signed", payload: func(ref, after, _ string) string { return `{"ref": "` + ref + `", "after": "` + after + `"}` },
		sign: func(h http.Header, body []byte, secret, _, delivery string) {
			h.Set("X-Scar-Delivery", delivery)
			if secret != "" {
				h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
			}
		}},
}

func hookRequestFor(p hookSenderFake, project, body, secret, event, delivery string) *http.Request {
	req := httptest.NewRequest("POST", "/hooks/git/"+project, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	p.sign(req.Header, []byte(body), secret, event, delivery)
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func hookStatus(tb testing.TB, rec *httptest.ResponseRecorder) string {
	tb.Helper()
	var a hookAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		tb.Fatalf("answer %q is not JSON: %v", rec.Body.String(), err)
	}
	return a.Status
}

// TestGitHookProviders: per provider, from its published format: the right signature
// deploys the payload's branch and commit; a wrong or missing one is 401 and runs
// nothing; a replayed delivery runs once; another branch, a tag and a non-push event
// are ignored; a payload for another repository is refused.
func TestGitHookProviders(t *testing.T) {
	o := loadOpenAPI(t)
	for _, p := range hookProviders {
		t.Run(p.name, func(t *testing.T) {
			pushes := &recordingPushes{}
			d := hookDeps(t, pushes)
			h := NewServer(d)
			body := p.payload("refs/heads/main", pushedSHA, p.url)
			send := func(t *testing.T, req *http.Request, status int) *httptest.ResponseRecorder {
				t.Helper()
				rec := serve(h, req)
				if rec.Code != status {
					t.Fatalf("answered %d %s, want %d", rec.Code, rec.Body.String(), status)
				}
				o.check(t, httptest.NewRequest("POST", req.URL.Path, nil), rec.Code, rec.Header(), rec.Body.Bytes())
				return rec
			}

			t.Run("wrong signature", func(t *testing.T) {
				rec := send(t, hookRequestFor(p, "shop", body, "not-the-secret", "push", "wrong-1"), 401)
				if errorCode(t, rec) != "unauthorized" {
					t.Errorf("code %s, want unauthorized", errorCode(t, rec))
				}
			})
			t.Run("missing signature", func(t *testing.T) {
				send(t, hookRequestFor(p, "shop", body, "", "push", "missing-1"), 401)
			})
			t.Run("body changed after signing", func(t *testing.T) {
				if p.name == "gitlab" {
					return // GitLab's token signs nothing: a changed body is believed.
				}
				req := hookRequestFor(p, "shop", body, hookSecret, "push", "changed-1")
				tampered := strings.Replace(body, pushedSHA, strings.Repeat("a", 40), 1)
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader(tampered)), int64(len(tampered))
				send(t, req, 401)
			})
			if n := len(pushes.pushes()); n != 0 {
				t.Fatalf("%d pushes ran for refused webhooks", n)
			}

			rec := send(t, hookRequestFor(p, "shop", body, hookSecret, "push", "delivery-1"), 202)
			if hookStatus(t, rec) != dockerops.PushStarted || rec.Header().Get("Location") != "/api/v1/deployments/d-6113728" {
				t.Errorf("answered %s with Location %q", rec.Body.String(), rec.Header().Get("Location"))
			}
			got := pushes.pushes()
			want := dockerops.Push{Branch: "main", SHA: pushedSHA, Provider: p.name, Delivery: "delivery-1", Pusher: "ada"}
			if p.name == "signed" {
				want.Pusher = ""
			}
			if len(got) != 1 || got[0] != want {
				t.Fatalf("pushes %+v, want one %+v", got, want)
			}

			t.Run("replayed delivery", func(t *testing.T) {
				rec := send(t, hookRequestFor(p, "shop", body, hookSecret, "push", "delivery-1"), 200)
				if hookStatus(t, rec) != hookDuplicate {
					t.Errorf("answered %s, want duplicate", rec.Body.String())
				}
			})
			ignored := map[string]*http.Request{
				"other branch": hookRequestFor(p, "shop", p.payload("refs/heads/develop", pushedSHA, p.url), hookSecret, "push", "other-1"),
				"tag":          hookRequestFor(p, "shop", p.payload("refs/tags/v1.2.0", pushedSHA, p.url), hookSecret, "push", "tag-1"),
				"deleted":      hookRequestFor(p, "shop", p.payload("refs/heads/main", strings.Repeat("0", 40), p.url), hookSecret, "push", "del-1"),
			}
			if p.ping != "" {
				ignored["ping"] = hookRequestFor(p, "shop", `{"zen": "Keep it logically awesome.", "hook_id": 292430182}`, hookSecret, p.ping, "ping-1")
			}
			for name, req := range ignored {
				t.Run(name, func(t *testing.T) {
					rec := send(t, req, 200)
					if hookStatus(t, rec) != hookIgnored || !strings.Contains(rec.Body.String(), "ignored: ") {
						t.Errorf("answered %s, want ignored", rec.Body.String())
					}
				})
			}
			if p.name != "signed" {
				t.Run("another repository", func(t *testing.T) {
					other := p.payload("refs/heads/main", pushedSHA, strings.Replace(p.url, "acme/shop", "mallory/shop-fork", 1))
					other = strings.ReplaceAll(other, "acme/shop", "mallory/shop-fork")
					rec := send(t, hookRequestFor(p, "shop", other, hookSecret, "push", "repo-1"), 422)
					if errorCode(t, rec) != "misconfigured" || !strings.Contains(rec.Body.String(), "mallory/shop-fork") ||
						!strings.Contains(rec.Body.String(), "git@github.com:acme/shop.git") {
						t.Errorf("answered %s, want misconfigured naming both repositories", rec.Body.String())
					}
				})
			}
			if n := len(pushes.pushes()); n != 1 {
				t.Fatalf("%d pushes ran, want the one", n)
			}
		})
	}
}

// TestGitHookRefusals: refusals before the signature is looked at, and what is
// audited of them.
func TestGitHookRefusals(t *testing.T) {
	o := loadOpenAPI(t)
	github := hookProviders[0]
	body := githubPush("refs/heads/main", pushedSHA, "https://github.com/acme/shop.git")
	huge := `{"ref": "refs/heads/main", "after": "` + pushedSHA + `", "padding": "` + strings.Repeat("x", 25<<20) + `"}`
	cases := []struct {
		name    string
		who     string
		req     *http.Request
		status  int
		code    string
		message string
	}{
		{"25 MB payload", "git:github", hookRequestFor(github, "shop", huge, hookSecret, "push", "big-1"), 413, "body_too_large", "5 MiB"},
		{"unknown project", "git:github", hookRequestFor(github, "nosuch", body, hookSecret, "push", "u-1"), 404, "unknown_project", "nosuch"},
		{"not a git project", "git:github", hookRequestFor(github, "demo", body, hookSecret, "push", "n-1"), 404, "not_found", `"git" key`},
		{"secret variable unset", "git:github", hookRequestFor(github, "shop-staging", githubPush("refs/heads/develop", pushedSHA, "https://github.com/acme/shop.git"), hookSecret, "push", "s-1"),
			403, "forbidden", "STAGING_HOOK_SECRET"},
		{"no secret_env", "git:github", hookRequestFor(github, "nosecret", body, hookSecret, "push", "s-2"), 403, "forbidden", "set git.secret_env"},
		{"not JSON", "git:github", hookRequestFor(github, "shop", `{"ref": `, hookSecret, "push", "j-1"), 400, "bad_input", "not a JSON push event"},
		{"no ref", "git:github", hookRequestFor(github, "shop", `{"after": "`+pushedSHA+`"}`, hookSecret, "push", "j-2"), 400, "bad_input", `no "ref"`},
		{"short sha", "git:signed", hookRequestFor(hookProviders[4], "shop", `{"ref": "refs/heads/main", "after": "6113728"}`, hookSecret, "push", "j-3"), 400, "bad_input", "not a full commit id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pushes := &recordingPushes{}
			d := hookDeps(t, pushes)
			rec := serve(NewServer(d), tc.req)
			var answer errorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &answer)
			if rec.Code != tc.status || answer.Error.Code != tc.code || !strings.Contains(answer.Error.Message, tc.message) {
				t.Fatalf("answered %d %s, want %d %s saying %q", rec.Code, clip(rec.Body.Bytes()), tc.status, tc.code, tc.message)
			}
			o.check(t, httptest.NewRequest("POST", tc.req.URL.Path, nil), rec.Code, rec.Header(), rec.Body.Bytes())
			if n := len(pushes.pushes()); n != 0 {
				t.Errorf("%d pushes ran", n)
			}
			entries := auditEntries(t, d)
			if len(entries) != 1 || entries[0].Action != "git_push" || entries[0].Who != tc.who || entries[0].Outcome != tc.code {
				t.Errorf("audit %+v, want one git_push entry by %s with outcome %s", entries, tc.who, tc.code)
			}
		})
	}
}

// TestGitHookAudit: a bad signature is audited as refused with the sender and its
// address; an accepted push's entry names its deployment; a push that could not be
// handed on forgets its delivery id, so that the redelivery runs.
func TestGitHookAudit(t *testing.T) {
	github := hookProviders[0]
	body := githubPush("refs/heads/main", pushedSHA, "https://github.com/acme/shop.git")
	pushes := &recordingPushes{err: dockerops.ErrDockerUnavailable}
	d := hookDeps(t, pushes)
	h := NewServer(d)

	bad := hookRequestFor(github, "shop", body, "guess", "push", "a-1")
	bad.RemoteAddr = "203.0.113.9:40000"
	if rec := serve(h, bad); rec.Code != 401 {
		t.Fatalf("bad signature: %d", rec.Code)
	}
	if rec := serve(h, hookRequestFor(github, "shop", body, hookSecret, "push", "a-2")); rec.Code != 503 {
		t.Fatalf("push failing: %d %s, want 503", rec.Code, rec.Body.String())
	}
	pushes.mu.Lock()
	pushes.err = nil
	pushes.mu.Unlock()
	if rec := serve(h, hookRequestFor(github, "shop", body, hookSecret, "push", "a-2")); rec.Code != 202 {
		t.Fatalf("redelivery after a failure: %d %s, want 202 (run)", rec.Code, rec.Body.String())
	}
	entries := auditEntries(t, d)
	if len(entries) != 3 {
		t.Fatalf("audit %+v, want 3 entries", entries)
	}
	byOutcome := map[string]store.AuditEntry{}
	for _, e := range entries {
		if e.Action != "git_push" || e.Who != "git:github" || e.Project != "shop" {
			t.Errorf("entry %+v: want git_push of shop by git:github", e)
		}
		byOutcome[e.Outcome] = e
	}
	if e := byOutcome["refused"]; e.Source != "203.0.113.9" || !strings.Contains(e.Detail, "bad signature") {
		t.Errorf("bad signature entry %+v: want refused from 203.0.113.9 saying bad signature", e)
	}
	if e := byOutcome[dockerops.DeployRunning]; e.DeploymentID != "d-6113728" {
		t.Errorf("accepted entry %+v: want it to name deployment d-6113728", e)
	}
	if _, ok := byOutcome["docker_unavailable"]; !ok {
		t.Errorf("no entry for the failed push in %+v", entries)
	}
}

// TestGitHookFormEncoded: GitHub's application/x-www-form-urlencoded content type
// carries the JSON in a payload field, signed as sent.
func TestGitHookFormEncoded(t *testing.T) {
	pushes := &recordingPushes{}
	h := NewServer(hookDeps(t, pushes))
	form := "payload=" + strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D").Replace(githubPush("refs/heads/main", pushedSHA, "https://github.com/acme/shop.git"))
	req := hookRequestFor(hookProviders[0], "shop", form, hookSecret, "push", "f-1")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rec := serve(h, req); rec.Code != 202 || len(pushes.pushes()) != 1 {
		t.Fatalf("answered %d %s with %d pushes, want 202 and one", rec.Code, rec.Body.String(), len(pushes.pushes()))
	}
}
