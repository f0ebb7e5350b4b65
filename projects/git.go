package projects

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultGitBranch is the branch a git project deploys when its "git" key names none.
const DefaultGitBranch = "main"

// GitSource is a project's "git" key: the project deploys commits of Remote's Branch
// from a checkout scar keeps (SCAR_STATE_DIR/checkouts/<project>), never from a
// directory a person edits. SecretEnv names the environment variable holding the
// push webhook's secret; "" turns the webhook off.
type GitSource struct {
	Remote    string `json:"remote"`
	Branch    string `json:"branch"`
	SecretEnv string `json:"secret_env,omitempty"`
}

// CheckoutsDir is where scar keeps git projects' checkouts, under its state directory.
func CheckoutsDir(stateDir string) string { return filepath.Join(stateDir, "checkouts") }

// IsGit reports whether the project deploys from a git source.
func (p *Project) IsGit() bool { return p.Git != nil }

// envNamePattern is what an environment variable's name may be.
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// branchPattern is a conservative git branch name: it never reads as an option or a
// revision expression.
var branchPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]*$`)

// ValidBranch reports whether name is a branch name scar passes to git: no option,
// no revision syntax (.., @{, ~, ^, :), no ".lock" or "/" at its end.
func ValidBranch(name string) bool {
	return len(name) <= 200 && branchPattern.MatchString(name) &&
		!strings.Contains(name, "..") && !strings.Contains(name, "//") &&
		!strings.HasSuffix(name, "/") && !strings.HasSuffix(name, ".") && !strings.HasSuffix(name, ".lock")
}

func asGitSource(raw json.RawMessage) (*GitSource, error) {
	members, ok := objectMembers(raw)
	if !ok {
		return nil, fmt.Errorf(`must be an object like {"remote": "git@host:me/app.git", "branch": "main", "secret_env": "APP_HOOK_SECRET"}, got %s`, kindOf(raw))
	}
	g := &GitSource{}
	for _, m := range members {
		var err error
		switch m.key {
		case "remote":
			g.Remote, err = asString(m.value)
		case "branch":
			g.Branch, err = asString(m.value)
		case "secret_env":
			g.SecretEnv, err = asString(m.value)
		default:
			err = fmt.Errorf("unknown key %q (keys: remote, branch, secret_env)", m.key)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
	}
	return g, nil
}

// checkGit validates the git key and that the project has no workspace of its own.
func checkGit(c *checker, p *Project, workspaceGiven bool) {
	if p.Git == nil {
		return
	}
	g := p.Git
	if workspaceGiven {
		c.addf("workspace", "not allowed with git: a git project deploys from scar's checkout of git.remote, never from a directory a person edits")
	}
	switch {
	case strings.TrimSpace(g.Remote) == "":
		c.addf("git", "remote: required (any URL git understands: https://…, git@host:me/app.git, ssh://…, file:///srv/git/app.git)")
	case strings.HasPrefix(g.Remote, "-") || strings.ContainsAny(g.Remote, " \t\r\n\x00"):
		c.addf("git", "remote: %q is not a repository URL", g.Remote)
	case strings.HasPrefix(strings.ToLower(g.Remote), "ext::"):
		c.addf("git", "remote: the ext:: transport runs a command; use an ssh, https or file URL")
	}
	if g.Branch == "" {
		g.Branch = DefaultGitBranch
	} else if !ValidBranch(g.Branch) {
		c.addf("git", "branch: %q is not a branch name", g.Branch)
	}
	if g.SecretEnv != "" && !envNamePattern.MatchString(g.SecretEnv) {
		c.addf("git", "secret_env: %q is not an environment variable name", g.SecretEnv)
	}
}

// withCheckouts returns a copy of the config whose git projects have their checkout
// under root as their workspace.
func (c *Config) withCheckouts(root string) *Config {
	if root == "" {
		return c
	}
	cp := *c
	cp.projects = make(map[string]*Project, len(c.projects))
	for name, p := range c.projects {
		if p.Git != nil {
			p = p.clone()
			p.Workspace = filepath.Join(root, name)
		}
		cp.projects[name] = p
	}
	return &cp
}

// WithCheckouts returns a copy of the config in which each git project's workspace is
// its checkout under root (CheckoutsDir of the state directory).
func (c *Config) WithCheckouts(root string) *Config { return c.withCheckouts(root) }
