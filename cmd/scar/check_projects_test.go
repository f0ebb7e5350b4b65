package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

// TestMisconfiguredProjectsFailCheckAndAnswer4xx: a compose_project without
// containers and a missing workspace fail `scar check` with a line saying what to
// fix, and the REST operations on them answer 4xx with the same words (a dry run
// answered 500 before); status says so under problems. A project never deployed,
// with a Compose file in its workspace, is only a note for check, and its dry run works.
func TestMisconfiguredProjectsFailCheckAndAnswer4xx(t *testing.T) {
	dockertest.Client(t)
	dir := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	typo, first := dockertest.UniqueName(t, "typo"), dockertest.UniqueName(t, "first")
	firstWS := mk("first-ws")
	if err := os.WriteFile(filepath.Join(firstWS, "docker-compose.yml"), []byte("services:\n  web:\n    image: "+dockertest.BuildAppImage(t)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nowhere")
	path := projectsFile(t, fmt.Sprintf(`{
		"typo": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true},
		"nows": {"workspace": %q, "production": %q, "containers": ["nows-app"]},
		"first": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true}}`,
		mk("typo-ws"), mk("typo-prod"), typo, missing, mk("nows-prod"), firstWS, mk("first-prod"), first))
	typoWords := fmt.Sprintf(`compose project %q has no containers on this engine`, typo)
	nowsWords := "workspace " + missing + " does not exist: create it"
	firstWords := fmt.Sprintf(`compose project %q has no containers yet: deploy it`, first)

	var out strings.Builder
	env := []string{"SCAR_PROJECTS_FILE=" + path, "SCAR_STATE_DIR=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GOOD_HOOK=s3cret"}
	err := run(context.Background(), []string{"check"}, env, &out, &out)
	if err == nil {
		t.Errorf("check passed:\n%s", out.String())
	}
	for _, want := range []string{"FAIL  project typo  " + typoWords, "FAIL  project nows  " + nowsWords, "note  project first " + firstWords} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}

	s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken, "SCAR_COMPOSE_COMMAND="+strings.Join(dockertest.ComposeCommand(), " "))
	tests := []struct {
		method, path, body string
		status             int
		code, words        string
	}{
		{"POST", "/api/v1/projects/typo/restart", "", 422, "misconfigured", typoWords},
		{"GET", "/api/v1/projects/typo/logs", "", 422, "misconfigured", typoWords},
		{"POST", "/api/v1/projects/typo/deploy", `{"dry_run": true}`, 422, "misconfigured", typoWords},
		{"POST", "/api/v1/projects/nows/deploy", `{"dry_run": true}`, 422, "misconfigured", nowsWords},
		{"POST", "/api/v1/projects/nows/deploy", "", 422, "misconfigured", nowsWords},
		{"POST", "/api/v1/projects/first/restart", "", 409, "not_deployed", firstWords},
	}
	for _, tc := range tests {
		resp, body := s.call(t, tc.method, tc.path, tc.body)
		e, _ := body["error"].(map[string]any)
		if resp.StatusCode != tc.status || e["code"] != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.words) {
			t.Errorf("%s %s: %d %v; want %d %s saying %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.code, tc.words)
		}
	}
	if resp, plan := s.call(t, "POST", "/api/v1/projects/first/deploy", `{"dry_run": true}`); resp.StatusCode != 200 {
		t.Errorf("dry run of a first deploy: %d %v; want its plan", resp.StatusCode, plan)
	}
	dockertest.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(s.logs.String(), "project misconfigured: "+nowsWords) })
	for project, words := range map[string]string{"typo": typoWords, "nows": nowsWords, "first": firstWords} {
		resp, st := s.call(t, "GET", "/api/v1/projects/"+project+"/status", "")
		if resp.StatusCode != 200 || !strings.Contains(fmt.Sprint(st["problems"]), words) {
			t.Errorf("status of %s: %d %v; want problems saying %q", project, resp.StatusCode, st, words)
		}
	}
}

// TestCheckAsksGitRemotes: `scar check` asks a git project's remote for its branch:
// a file:// bare repository that has it is ok, one without the branch and a remote
// that is not there fail with a line naming what is wrong.
func TestCheckAsksGitRemotes(t *testing.T) {
	dir := t.TempDir()
	bare, work := filepath.Join(dir, "app.git"), filepath.Join(dir, "work")
	gitEnv := append(os.Environ(), "GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@example.com", "GIT_COMMITTER_NAME=A", "GIT_COMMITTER_EMAIL=a@example.com")
	for _, args := range [][]string{
		{"init", "-q", "--bare", "--initial-branch=main", bare},
		{"init", "-q", "--initial-branch=main", work},
		{"-C", work, "commit", "-q", "--allow-empty", "-m", "one"},
		{"-C", work, "push", "-q", bare, "main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = gitEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	prod := func(name string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	path := projectsFile(t, fmt.Sprintf(`{
		"good": {"git": {"remote": %q, "branch": "main", "secret_env": "GOOD_HOOK"}, "production": %q, "containers": ["good-app"]},
		"unset": {"git": {"remote": %q, "branch": "main", "secret_env": "UNSET_HOOK"}, "production": %q, "containers": ["unset-app"]},
		"nobranch": {"git": {"remote": %q, "branch": "develop"}, "production": %q, "containers": ["nobranch-app"]},
		"noremote": {"git": {"remote": "file:///nonexistent/app.git"}, "production": %q, "containers": ["noremote-app"]}}`,
		"file://"+bare, prod("good-prod"), "file://"+bare, prod("unset-prod"), "file://"+bare, prod("nobranch-prod"), prod("noremote-prod")))
	var out strings.Builder
	env := []string{"SCAR_PROJECTS_FILE=" + path, "SCAR_STATE_DIR=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := run(context.Background(), []string{"check"}, env, &out, &out); err == nil {
		t.Errorf("check passed:\n%s", out.String())
	}
	for _, want := range []string{
		"ok    project good  git branch main found on the remote",
		"note  project unset git.secret_env names UNSET_HOOK, which is not set or empty: its push webhook answers 403 until it is",
		"note  project nobranch no git.secret_env: its push webhook is off",
		`FAIL  project nobranch git branch develop: unknown ref "develop": no such branch on file://` + bare,
		"FAIL  project noremote git branch main: asking file:///nonexistent/app.git: git remote unavailable: fatal:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "workspace") && strings.Contains(out.String(), "does not exist") {
		t.Errorf("check reports a git project's checkout, made by its first deploy, as missing:\n%s", out.String())
	}
}
