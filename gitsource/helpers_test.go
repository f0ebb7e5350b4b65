package gitsource_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
)

// testRemote is a bare repository on disk, the remote, and a clone of it where the
// test commits and pushes, with the git CLI, as a person would.
type testRemote struct {
	t          testing.TB
	bare, work string
}

// gitEnv gives the test's own git calls an author and keeps the host's git
// configuration out of them.
var gitEnv = []string{
	"GIT_AUTHOR_NAME=Ann Dev", "GIT_AUTHOR_EMAIL=ann@example.com",
	"GIT_COMMITTER_NAME=Ann Dev", "GIT_COMMITTER_EMAIL=ann@example.com",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
}

func mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newRemote(t testing.TB) *testRemote {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("these tests run the git CLI: %v", err)
	}
	dir := t.TempDir()
	r := &testRemote{t: t, bare: filepath.Join(dir, "app.git"), work: filepath.Join(dir, "work")}
	mustGit(t, dir, "init", "--quiet", "--bare", "--initial-branch=main", r.bare)
	mustGit(t, dir, "init", "--quiet", "--initial-branch=main", r.work)
	mustGit(t, r.work, "remote", "add", "origin", r.bare)
	return r
}

// url is the remote as a projects file would name it.
func (r *testRemote) url() string { return "file://" + r.bare }

func (r *testRemote) git() projects.GitSource {
	return projects.GitSource{Remote: r.url(), Branch: "main"}
}

// commit writes files (a value starting with -> is a symlink to the rest), commits
// everything with the message and returns the commit's sha.
func (r *testRemote) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		os.Remove(p)
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	mustGit(r.t, r.work, "add", "--all")
	mustGit(r.t, r.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	return mustGit(r.t, r.work, "rev-parse", "HEAD")
}

func (r *testRemote) push(args ...string) {
	r.t.Helper()
	mustGit(r.t, r.work, append([]string{"push", "--quiet", "origin"}, args...)...)
}

func newSource(t testing.TB) *gitsource.Source {
	return gitsource.New(gitsource.Config{Root: filepath.Join(t.TempDir(), "checkouts"), Environ: os.Environ(), Timeout: time.Minute})
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
