// Package childproc starts the programs scar runs (the Compose tool now, git later)
// the one way that is safe for a process holding root on the host: with an explicit
// environment that carries none of scar's secrets, in a process group of their own
// that is killed whole when the work they do is cancelled, and tied to scar's life so
// that none outlives it.
package childproc

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// WaitDelay is how long Run waits, after the child's group was killed, for the pipes
// it shared with its own children to close before giving up on their output.
const WaitDelay = 5 * time.Second

// keptNames are the variables a child keeps by exact name; keptPrefixes those it
// keeps by prefix. Everything else — and anything named SCAR_*, whatever the lists
// say — is left out: Compose interpolates ${VAR} in a Compose file from its
// environment, so a variable it can see is a variable a deployed container can get.
var (
	keptNames    = []string{"PATH", "HOME", "LANG", "LANGUAGE"}
	keptPrefixes = []string{"DOCKER_", "COMPOSE_", "LC_"}
)

// Env returns the environment of a child of scar: from environ (KEY=value entries,
// as os.Environ returns them) only PATH, HOME, DOCKER_*, COMPOSE_* and the locale
// (LANG, LANGUAGE, LC_*), never anything named SCAR_*; then extra, which overrides
// what environ gave (a later entry wins for exec.Cmd, as for the shell). extra is for
// what scar itself decides, such as a project's DOCKER_HOST.
func Env(environ []string, extra ...string) []string {
	out := make([]string, 0, len(keptNames)+len(extra)+4)
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && Kept(name) {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// Kept reports whether a child of scar gets the variable called name.
func Kept(name string) bool {
	if strings.HasPrefix(name, "SCAR_") {
		return false
	}
	for _, n := range keptNames {
		if name == n {
			return true
		}
	}
	for _, p := range keptPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// Command returns the command to run name with args in dir, with Env(environ, extra...)
// as its environment and the process attributes of SysProcAttr. When ctx ends before
// the command does, its whole process group is killed (the Compose v2 plugin, a build's
// helpers), not only the process scar started.
func Command(ctx context.Context, dir string, environ, extra []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = Env(environ, extra...)
	cmd.SysProcAttr = SysProcAttr()
	cmd.Cancel = func() error { return KillGroup(cmd) }
	cmd.WaitDelay = WaitDelay
	return cmd
}

// SysProcAttr returns the attributes every child of scar starts with: a process group
// of its own (Setpgid), so that a cancelled stage kills all of it and a signal meant
// for scar's terminal is not delivered to it; and Pdeathsig SIGKILL, so that it dies
// when scar does, even when scar is killed with SIGKILL and runs no clean-up. The
// kernel sends Pdeathsig when the *thread* that forked the child exits, not the
// process: Run keeps that thread for the child's whole life (see Run).
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// KillGroup kills the started command's whole process group. A group already gone
// is not an error.
func KillGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Run starts cmd and waits for it on an OS thread locked to this goroutine. Go ends
// an OS thread only when a goroutine locked to it returns without unlocking; a
// thread that had forked a child and then went back to the pool could be taken by
// such a goroutine (a library's LockOSThread) and end, and the kernel would then
// deliver the child's Pdeathsig although scar still runs. Holding the thread until
// the child is reaped rules that out, at the cost of one thread per running child
// (a deploy runs one at a time).
func Run(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Wait()
}
