package main

// The engine rows of issue 7's fault matrix that need the whole process, and the
// Engine API allowlist of the README's Hardening section:
//
//	row                                                  test
//	Docker daemon stopped mid-operation, and at start    TestFaultDockerDaemonStopped
//	SIGTERM during a deploy                              TestFaultSIGTERMDuringDeploy
//	workspace symlink to /etc, through REST (HTTP 400)   TestFaultHostileWorkspaceOverREST
//	README endpoint allowlist, whole operation set       TestFaultEndpointAllowlist
//
// The other engine rows are in dockerops/faults_test.go and deployments.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
	"github.com/scar-dev/scar/store"
)

// TestFaultDockerDaemonStopped starts scar while the daemon is away, then stops the
// daemon under a restart and under a log read. Every answer comes in seconds with the
// typed error (503 docker_unavailable, or a restart result naming it), /readyz says
// 503, and the same scar process works again as soon as the daemon is back.
func TestFaultDockerDaemonStopped(t *testing.T) {
	f := newFaultProject(t, "down")
	var hold atomic.Pointer[engineproxy.Rule]
	held := make(chan struct{}, 1)
	proxy := engineproxy.New(t, engineproxy.WithHook(func(ctx context.Context, r engineproxy.Request) {
		if h := hold.Load(); h != nil && h.Matches(r.Method, r.Path) && hold.CompareAndSwap(h, nil) {
			held <- struct{}{}
			<-ctx.Done() // the daemon goes away with this request in flight
		}
	}))
	proxy.Stop()
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "60s"`)),
		"SCAR_API_TOKENS="+e2eToken, "DOCKER_HOST="+proxy.Host(), "SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))
	api := "/api/v1/projects/" + f.name

	unavailable := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		if code, body := s.get(t, "/readyz", ""); code != 503 || !strings.Contains(body, "docker unavailable") {
			t.Errorf("readyz %d %s, want 503 naming Docker", code, body)
		}
		for _, c := range []struct{ method, path string }{{"GET", api + "/status"}, {"GET", api + "/logs"}, {"POST", api + "/restart"}} {
			resp, body := s.call(t, c.method, c.path, "")
			if resp.StatusCode != 503 || errorCode(body) != "docker_unavailable" {
				t.Errorf("%s %s with the daemon away: %d %v, want 503 docker_unavailable", c.method, c.path, resp.StatusCode, body)
			}
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("answers with the daemon away took %s; want seconds", took)
		}
	}
	back := func(t *testing.T) {
		t.Helper()
		if err := proxy.Start(); err != nil {
			t.Fatal(err)
		}
		dockertest.WaitFor(t, 10*time.Second, func() bool {
			resp, _ := s.call(t, "GET", api+"/status", "")
			return resp.StatusCode == 200
		})
		if code, body := s.get(t, "/readyz", ""); code != 200 {
			t.Errorf("readyz %d %s after the daemon came back", code, body)
		}
	}
	// cut stops the daemon once a request matching rule is in flight and returns how
	// long the operation took to answer after that.
	cut := func(t *testing.T, rule engineproxy.Rule, op func() (int, map[string]any)) (int, map[string]any) {
		t.Helper()
		hold.Store(&rule)
		type answer struct {
			code int
			body map[string]any
		}
		answered := make(chan answer, 1)
		go func() {
			code, body := op()
			answered <- answer{code, body}
		}()
		select {
		case <-held:
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s %s reached the daemon", rule.Method, rule.Path)
		}
		stopped := time.Now()
		proxy.Stop()
		select {
		case a := <-answered:
			if took := time.Since(stopped); took > 10*time.Second {
				t.Errorf("the answer came %s after the daemon stopped; want seconds", took)
			}
			return a.code, a.body
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer 30s after the daemon stopped: the operation hangs")
		}
		return 0, nil
	}

	t.Run("away at start", unavailable)
	t.Run("back without a restart of scar", back)
	t.Run("stops during a restart", func(t *testing.T) {
		// Held: the restart call itself, which the client cannot retry.
		code, body := cut(t, engineproxy.Rule{Method: "POST", Path: "/containers/{id}/restart"}, func() (int, map[string]any) {
			resp, body := s.call(t, "POST", api+"/restart", `{"containers": ["web"]}`)
			return resp.StatusCode, body
		})
		results, _ := body["containers"].([]any)
		if code != 500 || errorCode(body) != "restart_failed" || body["ok"] != false || len(results) != 1 {
			t.Fatalf("restart cut by the daemon stopping: %d %v, want 500 restart_failed with ok false and web's result", code, body)
		}
		if msg, _ := results[0].(map[string]any)["error"].(string); !strings.Contains(msg, "docker unavailable") {
			t.Errorf("web's result %v, want an error naming Docker unavailable", results[0])
		}
		unavailable(t)
		back(t)
		f.waitHealthy(t)
	})
	t.Run("stops during a log read", func(t *testing.T) {
		code, body := cut(t, engineproxy.Rule{Method: "GET", Path: "/containers/{id}/logs"}, func() (int, map[string]any) {
			resp, body := s.call(t, "GET", api+"/logs?lines=20", "")
			return resp.StatusCode, body
		})
		if code != 503 || errorCode(body) != "docker_unavailable" {
			t.Errorf("log read cut by the daemon stopping: %d %v, want 503 docker_unavailable", code, body)
		}
		back(t)
		if resp, body := s.call(t, "GET", api+"/logs?lines=3", ""); resp.StatusCode != 200 {
			t.Errorf("logs after the daemon came back: %d %v", resp.StatusCode, body)
		}
	})
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// TestFaultSIGTERMDuringDeploy cancels serve's context — what SIGTERM does — while a
// deploy runs. scar stops taking requests at once; a deploy that can finish within
// the grace period does, one that cannot is rolled back: production files byte for
// byte as before, the old container serving, the deploy recorded.
func TestFaultSIGTERMDuringDeploy(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		// change edits the workspace; waitStage is the stage the deploy must have
		// reached when the signal comes.
		change     func(t *testing.T, f *faultProject)
		waitStage  string
		wantStatus string
	}{
		{
			name:  "a deploy that finishes within the grace period",
			grace: 30 * time.Second,
			change: func(t *testing.T, f *faultProject) {
				f.edit(t, "content/index.txt", "content v2\n")
			},
			waitStage:  dockerops.StageBackup,
			wantStatus: dockerops.DeploySuccess,
		},
		{
			// The new web's first health check is a minute away: it stays "starting"
			// past the grace period.
			name:  "a deploy still waiting for health when the grace period ends",
			grace: 3 * time.Second,
			change: func(t *testing.T, f *faultProject) {
				f.editCompose(t, "    ports:", "    healthcheck:\n      test: [\"CMD\", \"/app\", \"-healthcheck\"]\n      interval: 1m\n    ports:")
			},
			waitStage:  dockerops.StageHealth,
			wantStatus: dockerops.DeployFailedRolledBack,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultProject(t, "term")
			prodBefore := treeHash(t, f.prod)
			webBefore := f.container(t, "web")
			stateDir := t.TempDir()
			defer func(g time.Duration) { shutdownGrace = g }(shutdownGrace)
			shutdownGrace = tc.grace
			s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"rebuild": "never", "health_timeout": "60s"`)),
				"SCAR_API_TOKENS="+e2eToken, "SCAR_STATE_DIR="+stateDir, "SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))
			tc.change(t, f)
			location := s.start(t, f.name, "deploy")
			dockertest.WaitFor(t, 60*time.Second, func() bool {
				_, d := s.call(t, "GET", location, "")
				return hasStage(d, tc.waitStage)
			})

			signalled := time.Now()
			s.cancel()
			dockertest.WaitFor(t, 5*time.Second, func() bool {
				resp, err := http.Get(s.url + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err != nil
			})
			select {
			case err := <-s.done:
				if err != nil {
					t.Errorf("serve returned %v after SIGTERM", err)
				}
			case <-time.After(tc.grace + 35*time.Second):
				t.Fatal("scar did not stop")
			}
			s.done <- nil // for startServe's cleanup
			t.Logf("stopped %s after the signal (grace %s)", time.Since(signalled).Round(100*time.Millisecond), tc.grace)

			db, err := store.Open(context.Background(), stateDir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rec, err := db.Deployment(context.Background(), filepath.Base(location))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != tc.wantStatus {
				t.Fatalf("deploy recorded %s at %q (%s), want %s", rec.Status, rec.FailedStep, rec.Error, tc.wantStatus)
			}
			if !rec.FinishedAt.After(signalled) {
				t.Errorf("the deploy had finished before the signal: nothing was tested")
			}
			if tc.wantStatus == dockerops.DeployFailedRolledBack && rec.FailedStep != tc.waitStage {
				t.Errorf("deploy failed at %q (%s), want at %s, where the signal found it", rec.FailedStep, rec.Error, tc.waitStage)
			}
			webAfter := f.container(t, "web")
			if tc.wantStatus == dockerops.DeploySuccess {
				if got := f.get(t); got != "content v2\n" {
					t.Errorf("web serves %q after a deploy that finished in the grace period", got)
				}
				return
			}
			if got := treeHash(t, f.prod); got != prodBefore {
				t.Errorf("production files differ after the rollback")
			}
			if got := f.get(t); got != "content v1\n" {
				t.Errorf("web serves %q after the rollback, want the old content", got)
			}
			if webAfter.Image != webBefore.Image || !reflect.DeepEqual(webAfter.Config.Healthcheck, webBefore.Config.Healthcheck) {
				t.Errorf("web after the rollback: image %s, health check %+v; want the old image and check %+v",
					webAfter.Image, webAfter.Config.Healthcheck, webBefore.Config.Healthcheck)
			}
		})
	}
}

func hasStage(d map[string]any, stage string) bool {
	events, _ := d["events"].([]any)
	for _, e := range events {
		if ev, _ := e.(map[string]any); ev["stage"] == stage {
			return true
		}
	}
	return false
}

// TestFaultHostileWorkspaceOverREST: a workspace symlink to /etc is refused by the
// plan, whether dry run or deploy, as bad input naming the path; nothing is read from
// /etc and production stays empty. No engine call is made before the refusal.
func TestFaultHostileWorkspaceOverREST(t *testing.T) {
	dir := t.TempDir()
	ws, prod := filepath.Join(dir, "ws"), filepath.Join(dir, "prod")
	for _, d := range []string{ws, prod} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc", filepath.Join(ws, "config")); err != nil {
		t.Fatal(err)
	}
	writeAt(t, filepath.Join(ws, "app.txt"), "app", time.Now())
	path := projectsFile(t, `{"hostile": {"workspace": "`+ws+`", "production": "`+prod+`", "compose_project": "hostile", "auto_detect": true}}`)
	s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken, "DOCKER_HOST=unix:///nonexistent/docker.sock")
	for _, body := range []string{`{"dry_run": true}`, ""} {
		resp, v := s.call(t, "POST", "/api/v1/projects/hostile/deploy", body)
		msg, _ := v["error"].(map[string]any)["message"].(string)
		if resp.StatusCode != 400 || errorCode(v) != "bad_input" || !strings.Contains(msg, "config") || !strings.Contains(msg, "/etc") {
			t.Errorf("deploy %q of a workspace linking to /etc: %d %v, want 400 bad_input naming config -> /etc", body, resp.StatusCode, v)
		}
	}
	entries, err := os.ReadDir(prod)
	if err != nil || len(entries) != 0 {
		t.Errorf("production after refused deploys: %v %v, want it empty", entries, err)
	}
}

// TestFaultEndpointAllowlist runs scar's whole operation set — readyz, scar check,
// status, logs, the overview, restart, stop and start of a Compose project and a plain container, deploys that
// restart, rebuild and change the Compose file, rollbacks, and a failing deploy of
// each with its automatic rollback — through a proxy that enforces the allowlists of
// README.md's Hardening section: scar's own calls (User-Agent scar) against scar's
// table, the Compose tool's against the Compose table for the tool under test. A
// request outside its table is answered 403 and fails the test, and so does a row of
// scar's table that no operation used: the README lists exactly what scar calls.
func TestFaultEndpointAllowlist(t *testing.T) {
	scarList, composeList := readmeAllowlists(t)
	flavour := dockertest.ComposeFlavour()
	proxy := engineproxy.New(t, engineproxy.WithPolicy(func(r engineproxy.Request) bool {
		if r.UserAgent == dockerops.UserAgent {
			return scarList.Allows(r.Method, r.Path)
		}
		return composeList[flavour].Allows(r.Method, r.Path)
	}))
	t.Cleanup(func() {
		for _, r := range proxy.Denied() {
			t.Errorf("outside the README's allowlist: %s", r)
		}
	})
	f := newFaultProject(t, "allow")
	p := newPlainProject(t)
	s := startServe(t, "SCAR_PROJECTS_FILE="+projectsFileOf(t, f.entry(`"health_timeout": "30s"`), p.entry()),
		"SCAR_API_TOKENS="+e2eToken, "DOCKER_HOST="+proxy.Host(), "SCAR_COMPOSE_COMMAND="+strings.Join(f.compose, " "))

	if code, body := s.get(t, "/readyz", ""); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	err := run(context.Background(), []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + projectsFileOf(t, f.entry("")),
		"SCAR_STATE_DIR=" + t.TempDir(), "DOCKER_HOST=" + proxy.Host()}, io.Discard, io.Discard)
	if err != nil {
		t.Errorf("scar check through the proxy: %v", err)
	}
	for _, name := range []string{f.name, p.name} {
		api := "/api/v1/projects/" + name
		if resp, v := s.call(t, "GET", api+"/status", ""); resp.StatusCode != 200 {
			t.Fatalf("status of %s: %d %v", name, resp.StatusCode, v)
		}
		if resp, v := s.call(t, "GET", api+"/logs?lines=5", ""); resp.StatusCode != 200 {
			t.Fatalf("logs of %s: %d %v", name, resp.StatusCode, v)
		}
		if resp, v := s.call(t, "GET", api+"/stats", ""); resp.StatusCode != 200 {
			t.Fatalf("stats of %s: %d %v", name, resp.StatusCode, v)
		}
		s.followFirstLine(t, api+"/logs?follow=true&lines=5")
		if resp, v := s.call(t, "POST", api+"/restart", ""); resp.StatusCode != 200 || v["ok"] != true {
			t.Fatalf("restart of %s: %d %v", name, resp.StatusCode, v)
		}
		for _, op := range []string{"stop", "start"} {
			if resp, v := s.call(t, "POST", api+"/"+op, ""); resp.StatusCode != 200 || v["ok"] != true {
				t.Fatalf("%s of %s: %d %v", op, name, resp.StatusCode, v)
			}
		}
	}

	resp, ov := s.call(t, "GET", "/api/v1/overview", "")
	projectsOf, _ := ov["projects"].([]any)
	if resp.StatusCode != 200 || len(projectsOf) != 2 {
		t.Fatalf("overview: %d %v", resp.StatusCode, ov)
	}
	for _, po := range projectsOf {
		po, _ := po.(map[string]any)
		if po["error"] != nil || po["expected"] == float64(0) || po["running"] != po["expected"] {
			t.Errorf("overview of %v: %v, want every container running", po["project"], po)
		}
	}

	f.edit(t, "content/index.txt", "content v2\n") // bind-mounted: a restart
	s.deploy(t, f.name, "deploy", dockerops.DeploySuccess)
	f.edit(t, "baked.txt", "baked v2\n") // baked into the image: a rebuild
	s.deploy(t, f.name, "deploy", dockerops.DeploySuccess)
	s.deploy(t, f.name, "rollback", dockerops.DeploySuccess)
	f.editCompose(t, "VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	s.deploy(t, f.name, "deploy", dockerops.DeployFailedRolledBack)
	if got := f.get(t); got != "content v2\n" {
		t.Errorf("compose web serves %q after the failed deploy", got)
	}

	p.edit(t, "Dockerfile", "FROM "+f.image+"\nLABEL scar.test.version=2\n")
	s.deploy(t, p.name, "deploy", dockerops.DeploySuccess)
	s.deploy(t, p.name, "rollback", dockerops.DeploySuccess)
	p.edit(t, "Dockerfile", "FROM "+f.image+"\nENV UNHEALTHY=1\n")
	s.deploy(t, p.name, "deploy", dockerops.DeployFailedRolledBack)
	if got := p.get(t); got != "plain v1\n" {
		t.Errorf("plain container serves %q after the failed deploy", got)
	}

	used := map[engineproxy.Rule]bool{}
	for _, r := range proxy.Requests() {
		if r.UserAgent != dockerops.UserAgent {
			continue
		}
		for _, rule := range scarList {
			if rule.Matches(r.Method, r.Path) {
				used[rule] = true
			}
		}
	}
	for _, rule := range scarList {
		if !used[rule] {
			t.Errorf("the README lists %s %s for scar, but no operation used it", rule.Method, rule.Path)
		}
	}
	for _, rule := range composeList[flavour] {
		if !proxy.Seen(rule.Method, rule.Path) {
			t.Logf("Compose %s did not use %s %s in this run", flavour, rule.Method, rule.Path)
		}
	}
}

// followFirstLine starts a log follow, reads its first line and hangs up.
func (s *server) followFirstLine(t *testing.T, path string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("follow %s: %v", path, err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); resp.StatusCode != 200 || err != nil {
		t.Fatalf("follow %s: %d, first line %q (%v)", path, resp.StatusCode, line, err)
	}
}

var allowlistRow = regexp.MustCompile("^\\| `([A-Z]+)` \\| `(/[^`]*)` \\| (.*) \\|$")

// readmeAllowlists reads the two endpoint tables of README.md: scar's own calls, and
// the Compose tool's by flavour ("v1", "v2", as their third column says).
func readmeAllowlists(t *testing.T) (scar engineproxy.Allowlist, compose map[string]engineproxy.Allowlist) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dockertest.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	compose = map[string]engineproxy.Allowlist{}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "<!-- allowlist:scar -->", "<!-- allowlist:compose -->":
			table = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- allowlist:"), " -->")
			continue
		case "<!-- /allowlist -->":
			table = ""
			continue
		}
		m := allowlistRow.FindStringSubmatch(line)
		if table == "" || m == nil {
			continue
		}
		rule := engineproxy.Rule{Method: m[1], Path: m[2]}
		if table == "scar" {
			scar = append(scar, rule)
			continue
		}
		for _, v := range []string{"v1", "v2"} {
			if strings.Contains(m[3], v) {
				compose[v] = append(compose[v], rule)
			}
		}
	}
	if len(scar) == 0 || len(compose["v1"]) == 0 || len(compose["v2"]) == 0 {
		t.Fatal(errors.New("README.md lacks the allowlist tables of its Hardening section"))
	}
	return scar, compose
}
