// Package gittest makes real git repositories for tests: a bare repository on disk as
// a project's remote, and a clone of it in which a test commits and pushes with the
// git CLI, as a developer would.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Author is who the test commits are by, as gitsource reports it.
const Author = "Dev Eloper <dev@example.com>"

// Repo is a bare remote and a working clone of it.
type Repo struct {
	t testing.TB
	// Bare is the bare repository's path; URL is its file:// URL.
	Bare, URL string
	// Work is the clone a test edits, commits in and pushes from.
	Work string
	// clock makes each commit's time one second after the last, so that commits
	// made in a row order as they were made.
	clock time.Time
}

// New makes a bare repository and a clone of it with branch checked out (no commit
// yet). It skips the test when git is not installed.
func New(t testing.TB, branch string) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	r := &Repo{t: t, Bare: filepath.Join(root, "remote.git"), Work: filepath.Join(root, "work"),
		clock: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	r.URL = "file://" + r.Bare
	run(t, root, "init", "-q", "--bare", "-b", branch, r.Bare)
	run(t, root, "init", "-q", "-b", branch, r.Work)
	r.Git("remote", "add", "origin", r.URL)
	return r
}

// Git runs git in the clone and returns its trimmed output; a failure fails the test.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return run(r.t, r.Work, args...)
}

// Write writes files (path relative to the clone → content) without committing.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for rel, body := range files {
		path := filepath.Join(r.Work, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit writes files, commits everything with subject as its message and returns
// the commit's sha. It does not push.
func (r *Repo) Commit(subject string, files map[string]string) string {
	r.t.Helper()
	r.Write(files)
	r.Git("add", "-A")
	r.clock = r.clock.Add(time.Second)
	when := r.clock.Format(time.RFC3339)
	cmd := exec.Command("git", "commit", "-q", "--allow-empty", "-m", subject)
	cmd.Dir = r.Work
	cmd.Env = append(env(), "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git commit: %v: %s", err, out)
	}
	return r.Git("rev-parse", "HEAD")
}

// Push pushes the clone's HEAD to branch on the remote (forced with force).
func (r *Repo) Push(branch string, force bool) {
	r.t.Helper()
	args := []string{"push", "-q", "origin", "HEAD:refs/heads/" + branch}
	if force {
		args = append(args, "--force")
	}
	r.Git(args...)
}

// CommitAndPush commits files and pushes them to branch; it returns the sha.
func (r *Repo) CommitAndPush(branch, subject string, files map[string]string) string {
	r.t.Helper()
	sha := r.Commit(subject, files)
	r.Push(branch, false)
	return sha
}

// CopyTree writes every regular file under dir into the clone, at the same paths.
func (r *Repo) CopyTree(dir string) {
	r.t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.Write(files)
}

func env() []string {
	name, email, _ := strings.Cut(strings.TrimSuffix(Author, ">"), " <")
	return append(os.Environ(),
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email,
		"GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0")
}

func run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
