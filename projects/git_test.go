package projects

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGitKey(t *testing.T) {
	cfg, err := Parse([]byte(`{"shop": {"git": {"remote": "file:///srv/git/shop.git", "secret_env": "SHOP_HOOK"},
		"production": "/srv/shop", "compose_project": "shop"}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cfg.Get("shop")
	if !p.IsGit() || p.Git.Remote != "file:///srv/git/shop.git" || p.Git.Branch != DefaultGitBranch || p.Git.SecretEnv != "SHOP_HOOK" {
		t.Fatalf("git = %+v", p.Git)
	}
	if p.Workspace != "" {
		t.Fatalf("workspace before WithCheckouts = %q", p.Workspace)
	}
	p, _ = cfg.WithCheckouts("/var/lib/scar/checkouts").Get("shop")
	if want := filepath.Join("/var/lib/scar/checkouts", "shop"); p.Workspace != want {
		t.Fatalf("workspace = %q, want %q", p.Workspace, want)
	}
	// The copy handed out is the caller's own.
	p.Git.Branch = "changed"
	if again, _ := cfg.Get("shop"); again.Git.Branch != DefaultGitBranch {
		t.Fatal("Get handed out the shared git source")
	}
}

func TestParseRejectsBadGitKeys(t *testing.T) {
	const rest = `"production": "/srv/shop", "compose_project": "shop"`
	cases := []struct{ name, file, want string }{
		{"with workspace", `{"shop": {"git": {"remote": "file:///r.git"}, "workspace": "/ws", ` + rest + `}}`, `project "shop": workspace: not allowed with git`},
		{"no remote", `{"shop": {"git": {"branch": "main"}, ` + rest + `}}`, `git: remote: required`},
		{"option remote", `{"shop": {"git": {"remote": "--upload-pack=touch /tmp/x"}, ` + rest + `}}`, `is not a repository URL`},
		{"ext remote", `{"shop": {"git": {"remote": "ext::sh -c touch% /tmp/x"}, ` + rest + `}}`, `is not a repository URL`},
		{"ext remote no space", `{"shop": {"git": {"remote": "ext::true"}, ` + rest + `}}`, `ext:: transport runs a command`},
		{"bad branch", `{"shop": {"git": {"remote": "file:///r.git", "branch": "main..dev"}, ` + rest + `}}`, `branch: "main..dev" is not a branch name`},
		{"option branch", `{"shop": {"git": {"remote": "file:///r.git", "branch": "-f"}, ` + rest + `}}`, `is not a branch name`},
		{"bad secret_env", `{"shop": {"git": {"remote": "file:///r.git", "secret_env": "A-B"}, ` + rest + `}}`, `secret_env: "A-B" is not an environment variable name`},
		{"unknown key", `{"shop": {"git": {"remote": "file:///r.git", "url": "x"}, ` + rest + `}}`, `git: url: unknown key "url"`},
		{"not an object", `{"shop": {"git": "file:///r.git", ` + rest + `}}`, `git: must be an object`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidBranch(t *testing.T) {
	for _, ok := range []string{"main", "develop", "release/1.2", "feature_x-y"} {
		if !ValidBranch(ok) {
			t.Errorf("ValidBranch(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "-x", "a..b", "a/", "a.lock", "a@{1}", "a~1", "a^", "a:b", "a b", "/a"} {
		if ValidBranch(bad) {
			t.Errorf("ValidBranch(%q) = true", bad)
		}
	}
}
