package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The push row: a one-file change pushed to a git project's file:// remote and its
// push webhook POSTed, until the deploy is done, against the same change deployed by
// the REST deploy (the deploy row's path) from a workspace project laid out alike.

const (
	// pushSecretEnv holds the push project's webhook secret in scar's environment.
	pushSecretEnv = "SCAR_BENCH_HOOK_SECRET"
	pushSecret    = "bench-push-hook-secret-0123456789"
)

// benchGit is a project's "git" key.
type benchGit struct {
	Remote    string `json:"remote"`
	Branch    string `json:"branch"`
	SecretEnv string `json:"secret_env"`
}

// pushFixtures are the push row's two projects: git deploys from a bare remote
// (pushed to from its workspace, a clone), ws from its workspace.
type pushFixtures struct {
	git, ws *composeProject
	remote  string // file:// URL of the bare repository
	version int
	head    string // the sha last pushed
}

// pushSetup lays out the push row's projects, each one web container beside a tree of
// treeFiles files, makes the git one's workspace a clone of a bare remote holding
// its files, and returns them as scar is given them.
func (f *fixtures) pushSetup(ctx context.Context, treeFiles int) (*pushFixtures, map[string]benchProject, error) {
	dp := map[string]string{"web": "    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    volumes:\n      - ./content:/srv/content:ro\n"}
	pf := &pushFixtures{}
	var err error
	if pf.git, err = f.newProject("pg", f.composeYAML(dp), []string{"web"}, treeFiles); err != nil {
		return nil, nil, err
	}
	if pf.ws, err = f.newProject("pw", f.composeYAML(dp), []string{"web"}, treeFiles); err != nil {
		return nil, nil, err
	}
	f.more = append(f.more, pf.git, pf.ws)
	bare := filepath.Join(f.dir, "pg", "remote.git")
	pf.remote = "file://" + bare
	if _, err := git(ctx, f.dir, "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return nil, nil, err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"remote", "add", "origin", pf.remote},
		{"add", "-A"}, {"commit", "-q", "-m", "bench: first version"}, {"push", "-q", "origin", "HEAD:refs/heads/main"},
	} {
		if _, err := git(ctx, pf.git.workspace, args...); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range []*composeProject{pf.git, pf.ws} {
		if _, err := sh(ctx, p.production, append(f.compose, "-p", p.name, "up", "-d", "--quiet-pull")...); err != nil {
			return nil, nil, err
		}
	}
	ps := map[string]benchProject{
		"push": {Git: &benchGit{Remote: pf.remote, Branch: "main", SecretEnv: pushSecretEnv}, Production: pf.git.production,
			ComposeProject: pf.git.name, PrimaryContainer: "web", AutoDetect: true, HealthTimeout: "60s"},
		"pushws": {Workspace: pf.ws.workspace, Production: pf.ws.production, ComposeProject: pf.ws.name,
			PrimaryContainer: "web", AutoDetect: true, HealthTimeout: "60s"},
	}
	return pf, ps, nil
}

// git runs the git CLI in dir as a developer would, with an identity of its own and
// no user or system configuration.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	return strings.TrimSpace(string(out)), nil
}

// changeFileIn writes a new version of content/index.txt (a new size each time) into
// workspace.
func (pf *pushFixtures) changeFileIn(workspace string) error {
	pf.version++
	text := fmt.Sprintf("version %d\n%s", pf.version, strings.Repeat("#", pf.version%13))
	return os.WriteFile(filepath.Join(workspace, "content", "index.txt"), []byte(text), 0o644)
}

// commitAndPush commits the one-file change in the git project's clone and pushes it.
func (pf *pushFixtures) commitAndPush(ctx context.Context) error {
	if err := pf.changeFileIn(pf.git.workspace); err != nil {
		return err
	}
	dir := pf.git.workspace
	if _, err := git(ctx, dir, "commit", "-q", "-am", "bench: version "+strconv.Itoa(pf.version)); err != nil {
		return err
	}
	sha, err := git(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	pf.head = sha
	_, err = git(ctx, dir, "push", "-q", "origin", "HEAD:refs/heads/main")
	return err
}

// pushHook POSTs a GitHub-signed push event of the last pushed commit and follows the
// deploy it starts (or, answered "queued", the one history shows for the commit) to
// its end; it must succeed.
func (s *suite) pushHook(pf *pushFixtures) (*deployment, error) {
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "after": pf.head,
		"repository": map[string]any{"full_name": "bench/push", "clone_url": pf.remote},
		"pusher":     map[string]any{"name": "bench"},
	})
	mac := hmac.New(sha256.New, []byte(pushSecret))
	mac.Write(body)
	req, err := http.NewRequest("POST", s.scar.base+"/hooks/git/push", strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d", pf.version, time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := s.scar.http.Do(req)
	if err != nil {
		return nil, err
	}
	var out struct {
		Status     string
		Message    string
		Deployment *deployment
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("push webhook: %s: %v %s", resp.Status, err, out.Message)
	}
	id := ""
	if out.Deployment != nil {
		id = out.Deployment.ID
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("push deploy of %s not done after 2m", pf.head[:10])
		}
		if id == "" {
			if id, err = s.deployOfCommit("push", pf.head); err != nil {
				return nil, err
			}
		}
		if id != "" {
			data, err := s.scar.do("GET", "/api/v1/deployments/"+id, "")
			if err != nil {
				return nil, err
			}
			var d deployment
			if err := json.Unmarshal(data, &d); err != nil {
				return nil, err
			}
			if d.Status != "running" && d.Status != "" {
				if d.Status != "success" {
					return &d, fmt.Errorf("push deploy %s: %s: %s", d.ID, d.Status, d.Error)
				}
				return &d, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deployOfCommit is the id of the project's newest deploy of sha; "" when none yet.
func (s *suite) deployOfCommit(project, sha string) (string, error) {
	data, err := s.scar.do("GET", "/api/v1/projects/"+project+"/deployments?limit=5", "")
	if err != nil {
		return "", err
	}
	var h struct {
		Deployments []struct {
			ID   string
			Plan struct{ Commit *struct{ SHA string } }
		}
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return "", err
	}
	for _, d := range h.Deployments {
		if d.Plan.Commit != nil && d.Plan.Commit.SHA == sha {
			return d.ID, nil
		}
	}
	return "", nil
}

// fetchSeconds reads the sum and count of the push project's fetches from /metrics.
func (s *suite) fetchSeconds() (sum float64, count float64, err error) {
	m, err := s.scar.do("GET", "/metrics", "")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(m), "\n") {
		name, rest, ok := strings.Cut(l, "{")
		labels, value, ok2 := strings.Cut(rest, "} ")
		if !ok || !ok2 || !strings.Contains(labels, `operation="fetch"`) || !strings.Contains(labels, `project="push"`) ||
			!strings.Contains(labels, `outcome="success"`) {
			continue
		}
		switch name {
		case "scar_operation_duration_seconds_sum":
			sum, _ = strconv.ParseFloat(value, 64)
		case "scar_operation_duration_seconds_count":
			count, _ = strconv.ParseFloat(value, 64)
		}
	}
	return sum, count, nil
}

func (s *suite) pushRows() error {
	pf := s.push
	var last *deployment
	cs := []contender{
		{name: "scar push webhook → deploy done (git)", prepare: func() error {
			if err := s.waitHealthy([]string{pf.git.container("web")}); err != nil {
				return err
			}
			return pf.commitAndPush(s.ctx)
		}, run: func() error {
			d, err := s.pushHook(pf)
			last = d
			return err
		}},
		{name: "scar POST /deploy, until done (REST)", prepare: func() error {
			if err := s.waitHealthy([]string{pf.ws.container("web")}); err != nil {
				return err
			}
			return pf.changeFileIn(pf.ws.workspace)
		}, run: func() error {
			_, err := s.deployScarOf("pushws")
			return err
		}},
	}
	// The first push deploy clones the remote into scar's checkout: warm-up, untimed.
	if err := warm(cs...); err != nil {
		return err
	}
	sum0, n0, err := s.fetchSeconds()
	if err != nil {
		return err
	}
	res, err := s.alternate(fmt.Sprintf("one changed file (%d-file tree): push webhook against REST deploy", s.opts.treeFiles), s.opts.restartRuns+1, cs...)
	if err != nil {
		return err
	}
	sum1, n1, err := s.fetchSeconds()
	if err != nil {
		return err
	}
	fetch := time.Duration(0)
	if n1 > n0 {
		fetch = time.Duration((sum1 - sum0) / (n1 - n0) * float64(time.Second))
	}
	push, rest := median(res[0]), median(res[1])
	added := push - rest
	fmt.Fprintf(s.out, "  fetch and checkout of the pushed commit (scar_operation_duration_seconds, mean of %d): %s; push − REST medians: %s\n",
		int(n1-n0), fmtDur(fetch), fmtDur(added))
	s.t.timeRow(fmt.Sprintf("push webhook → deploy done, 1 changed file (%d-file tree), file:// remote", s.opts.treeFiles), push,
		cs[1].name+", same change from a workspace", rest, "fetch adds < 0.5 s", func(float64) bool { return n1 > n0 && fetch < 500*time.Millisecond && added < 500*time.Millisecond })
	s.t.add(row{name: "", scar: fmtDur(fetch), peerName: "of which fetch + checkout (mean)"})
	if last != nil {
		fmt.Fprintf(s.out, "  stages of the last push deploy (%s, plan: changed %v, restart %v):\n", fmtDur(last.FinishedAt.Sub(last.StartedAt)), last.Plan.Changed, last.Plan.Restart)
		prev := last.StartedAt
		for _, e := range last.Events {
			fmt.Fprintf(s.out, "    +%-9s %-8s %s\n", fmtDur(e.Time.Sub(prev)), e.Stage, e.Message)
			prev = e.Time
		}
	}
	return nil
}
