package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestEachCommandHasHelpAndRefusesUnknownFlags runs every command with -h, --help, an
// unknown flag and a stray argument: help prints the command's usage and exits 0
// without starting anything; the rest exit 2 and do nothing.
func TestEachCommandHasHelpAndRefusesUnknownFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int    // 0 for no error
		wantOut  string // in stdout
		wantErr  string // in stderr and the error
	}{
		{[]string{"serve", "-h"}, 0, "usage: scar serve", ""},
		{[]string{"serve", "--help"}, 0, "usage: scar serve", ""},
		{[]string{"check", "-h"}, 0, "usage: scar check", ""},
		{[]string{"check", "-help"}, 0, "usage: scar check", ""},
		{[]string{"version", "-h"}, 0, "usage: scar version", ""},
		{[]string{"--help"}, 0, "usage: scar [serve | check | version]", ""},
		{[]string{"serve", "--bogus"}, 2, "", "-bogus"},
		{[]string{"check", "--bogus"}, 2, "", "-bogus"},
		{[]string{"version", "-x"}, 2, "", "-x"},
		{[]string{"serve", "now"}, 2, "", `serve takes no arguments, got "now"`},
		{[]string{"frobnicate"}, 2, "", "frobnicate"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stateDir := filepath.Join(t.TempDir(), "state")
			env := []string{"SCAR_LISTEN_ADDR=127.0.0.1:0", "SCAR_STATE_DIR=" + stateDir,
				"SCAR_PROJECTS_FILE=" + projectsFile(t, ""), "DOCKER_HOST=unix:///nonexistent/docker.sock"}
			// A serve that started would run until the context ends.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			start := time.Now()
			err := run(ctx, tc.args, env, &out, &errOut)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("scar %v took %s: it started something", tc.args, took)
			}
			code := 0
			if err != nil {
				code = exitCode(err)
			}
			if code != tc.wantCode {
				t.Fatalf("scar %v: exit %d (%v), want %d\nstdout: %s\nstderr: %s", tc.args, code, err, tc.wantCode, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.wantOut)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q lacks %q", err, tc.wantErr)
			}
			if tc.wantCode != 0 && !strings.Contains(errOut.String(), "usage: scar") {
				t.Errorf("stderr lacks the usage:\n%s", errOut.String())
			}
			if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
				t.Errorf("scar %v made the state directory (%v): it started something", tc.args, err)
			}
		})
	}
}

// TestVersionFromBuildInfo derives the version from what the toolchain stamps.
func TestVersionFromBuildInfo(t *testing.T) {
	vcs := func(main string, modified bool) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: main}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "c26a3f0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"},
			{Key: "vcs.time", Value: "2026-11-27T18:04:05Z"},
			{Key: "vcs.modified", Value: map[bool]string{true: "true", false: "false"}[modified]},
		}}
	}
	tests := []struct {
		name        string
		override    string
		info        *debug.BuildInfo
		want, tail  string
		wantNoParen bool
	}{
		{"no build info", "dev", nil, "dev", "", true},
		{"no VCS stamp", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", "", true},
		{"commit, devel main", "dev", vcs("(devel)", false), "c26a3f0d1e2f", "commit c26a3f0d1e2f, 2026-11-27T18:04:05Z, go1.26.8", false},
		{"modified tree", "dev", vcs("(devel)", true), "c26a3f0d1e2f+dirty", "commit c26a3f0d1e2f, 2026-11-27T18:04:05Z, modified, go1.26.8", false},
		{"pseudo-version", "dev", vcs("v0.0.0-20261127180405-c26a3f0d1e2f", false), "v0.0.0-20261127180405-c26a3f0d1e2f", "commit c26a3f0d1e2f", false},
		{"tag from go install", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0", "", true},
		{"-X override wins", "1.5.0", vcs("(devel)", true), "1.5.0", "modified", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, detail := versionOf(tc.override, tc.info)
			if v != tc.want {
				t.Errorf("version %q, want %q", v, tc.want)
			}
			if !strings.Contains(detail, tc.tail) || (tc.wantNoParen && detail != "") {
				t.Errorf("detail %q, want it to contain %q", detail, tc.tail)
			}
		})
	}
}

// TestVersionCommandPrintsTheCommit builds scar from a git checkout of this source
// with VCS stamping on, as `go build` does by default, and runs `scar version`: it
// prints the commit, not "dev". -X main.version still wins. The checkout is a fresh
// repository holding this tree, because Go stamps only a .git directory, not a
// worktree's .git file.
func TestVersionCommandPrintsTheCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds scar")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	files, err := exec.Command("git", "-C", "../..", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	repo := t.TempDir()
	for _, f := range strings.Fields(string(files)) {
		data, err := os.ReadFile(filepath.Join("../..", f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "snapshot")
	commit := git("rev-parse", "HEAD")[:12]

	bin := filepath.Join(t.TempDir(), "scar")
	for _, tc := range []struct {
		ldflags, want string
	}{{"", "(commit " + commit + ", "}, {"-X main.version=9.9.9", "scar 9.9.9 (commit " + commit}} {
		build := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-ldflags", tc.ldflags, "-o", bin, "./cmd/scar")
		build.Dir = repo
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("scar version: %v", err)
		}
		if got := string(out); !strings.Contains(got, tc.want) || strings.HasPrefix(got, "scar dev") {
			t.Errorf("scar version (ldflags %q) printed %q, want %q", tc.ldflags, got, tc.want)
		} else {
			t.Logf("scar version (ldflags %q): %s", tc.ldflags, strings.TrimSpace(got))
		}
	}
}
