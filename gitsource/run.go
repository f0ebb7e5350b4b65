package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scar-dev/scar/internal/childproc"
)

// maxStderr bounds how much of git's error output goes into an error message.
const maxStderr = 1024

// passedNames are the variables git gets from scar's environment on top of what
// childproc keeps for every child: the ones that make the user's ssh keys and ssh
// configuration work for scar's git as they do for the user.
var passedNames = []string{"SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND"}

// gitConfig is set for every git scar runs, through GIT_CONFIG_COUNT (it overrides
// the user's and the system's configuration): the ext:: transport runs a command of
// the remote URL's choosing, so it is off whatever the URL; scar's checkouts run no
// hooks (a hooksPath in the user's ~/.gitconfig included); and an automatic gc runs
// in the foreground, inside the call's process group and deadline, instead of
// detaching into a session of its own that would outlive the call.
var gitConfig = [][2]string{
	{"protocol.ext.allow", "never"},
	{"core.hooksPath", "/dev/null"},
	{"gc.autoDetach", "false"},
	{"advice.detachedHead", "false"},
}

// env is the environment of every git scar runs, besides childproc's own filter
// (which drops SCAR_* and everything not named): git never waits on a prompt — no
// terminal prompt, no askpass program (an empty GIT_ASKPASS wins over core.askPass
// and SSH_ASKPASS), and ssh in batch mode unless the user chose their own ssh command.
func (s *Source) env(extra ...string) []string {
	var out []string
	userSSH := false
	for _, kv := range s.cfg.Environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		for _, n := range passedNames {
			if name == n {
				out = append(out, kv)
				userSSH = userSSH || n != "SSH_AUTH_SOCK"
			}
		}
	}
	if !userSSH {
		out = append(out, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	out = append(out, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "LC_ALL=C", "LANGUAGE=",
		fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(gitConfig)))
	for i, kv := range gitConfig {
		out = append(out, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return append(out, extra...)
}

func (s *Source) timeout() time.Duration {
	if s.cfg.Timeout > 0 {
		return s.cfg.Timeout
	}
	return DefaultTimeout
}

func (s *Source) gitBinary() string {
	if s.cfg.Git != "" {
		return s.cfg.Git
	}
	return "git"
}

// gitError is a git command that failed: its arguments and what it wrote to stderr.
type gitError struct {
	args   []string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", e.args[0], e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// git runs git with args in dir (for a checkout, with GIT_DIR and GIT_WORK_TREE set so
// that git never takes a repository around the state directory for scar's) and
// returns its standard output.
func (s *Source) git(ctx context.Context, dir string, repo bool, args ...string) (string, error) {
	var extra []string
	if repo {
		extra = []string{"GIT_DIR=" + dir + "/.git", "GIT_WORK_TREE=" + dir}
	} else {
		extra = []string{"GIT_CEILING_DIRECTORIES=/"}
	}
	cmd := childproc.Command(ctx, dir, s.cfg.Environ, s.env(extra...), s.gitBinary(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := childproc.Run(cmd); err != nil {
		return stdout.String(), &gitError{args: args, stderr: boundedStderr(stderr.String()), err: err}
	}
	return stdout.String(), nil
}

// remoteCall runs a git command that talks to the remote, bounded by the timeout; a
// failure wraps ErrRemote and says what git said, or that the deadline passed.
func (s *Source) remoteCall(ctx context.Context, dir string, repo bool, what, remote string, args ...string) (string, error) {
	tctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	out, err := s.git(tctx, dir, repo, args...)
	if err == nil {
		return out, nil
	}
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("gitsource: %s %s: %w", what, redact(remote), ctx.Err())
	case tctx.Err() != nil:
		return "", fmt.Errorf("gitsource: %s %s: %w: no answer, timed out after %s", what, redact(remote), ErrRemote, s.timeout())
	}
	var ge *gitError
	if errors.As(err, &ge) && ge.stderr != "" {
		return "", fmt.Errorf("gitsource: %s %s: %w: %s", what, redact(remote), ErrRemote, ge.stderr)
	}
	return "", fmt.Errorf("gitsource: %s %s: %w: %v", what, redact(remote), ErrRemote, err)
}

// boundedStderr is git's error output on one line, without credentials, cut to
// maxStderr bytes (keeping the end, where git says what failed).
func boundedStderr(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s = redact(strings.Join(lines, "; "))
	if len(s) > maxStderr {
		cut := len(s) - maxStderr
		for cut < len(s) && s[cut]&0xC0 == 0x80 { // not in the middle of a rune
			cut++
		}
		s = "…" + s[cut:]
	}
	return s
}
