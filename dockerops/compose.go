package dockerops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/scar-dev/scar/internal/childproc"
)

// Compose runs the Compose tool for deploys: `docker compose` (v2) or the older
// `docker-compose` (v1). scar never re-implements Compose; it runs the tool in the
// project's production directory so that edits to the Compose file are honoured.
type Compose struct {
	// argv is the command before its arguments: ["docker", "compose"] or ["docker-compose"].
	argv []string
	// dockerHost is the engine of projects that name none (see ComposeDockerHost).
	dockerHost string
	// environ is what the tool's environment is filtered from (see ComposeEnviron).
	environ []string

	once     sync.Once
	detected []string
	err      error

	// views keeps what View read, while nothing it read changed (compose_view_cache.go).
	views composeViews
}

// ComposeOption configures a Compose runner.
type ComposeOption func(*Compose)

// ComposeDockerHost makes host ("unix:///var/run/docker.sock", "tcp://...") the
// DOCKER_HOST of the tool for projects without a docker_host of their own, so that it
// talks to the engine scar's own client talks to even when scar's DOCKER_HOST came
// from its configuration rather than the process environment. Empty changes nothing.
func ComposeDockerHost(host string) ComposeOption {
	return func(c *Compose) { c.dockerHost = host }
}

// ComposeEnviron sets the environment (KEY=value entries) the tool's own is taken
// from: scar's, as run was given it. Only what childproc.Env keeps reaches the tool —
// never a SCAR_* variable, which a Compose file could otherwise put into a container
// with ${SCAR_API_TOKENS}. Without it, the process environment is filtered.
func ComposeEnviron(environ []string) ComposeOption {
	return func(c *Compose) { c.environ = environ }
}

// NewCompose returns a runner for command ("docker compose", "docker-compose"); an
// empty command is detected at first use: v2 when `docker compose version` works,
// else v1.
func NewCompose(command string, opts ...ComposeOption) *Compose {
	c := &Compose{argv: strings.Fields(command)}
	for _, o := range opts {
		o(c)
	}
	if c.environ == nil {
		c.environ = os.Environ()
	}
	return c
}

// composeDetectTimeout bounds the detection (its `version` runs).
const composeDetectTimeout = 30 * time.Second

// Command returns the tool's command line, detecting it if needed.
func (c *Compose) Command(ctx context.Context) ([]string, error) {
	if len(c.argv) > 0 {
		return c.argv, nil
	}
	c.once.Do(func() {
		// The answer is kept for every later call, so it must not depend on the first
		// caller: a plan that finds nothing to deploy cancels its Compose context while
		// the detection runs, and a cancelled `version` would say "neither works" until
		// scar restarts.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), composeDetectTimeout)
		defer cancel()
		for _, argv := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
			cmd := childproc.Command(dctx, "", c.environ, nil, argv[0], append(argv[1:], "version")...)
			if childproc.Run(cmd) == nil {
				c.detected = argv
				return
			}
		}
		c.err = errors.New("compose: neither `docker compose` nor `docker-compose` works; install one or set SCAR_COMPOSE_COMMAND")
	})
	return c.detected, c.err
}

// Run runs the tool with args for the Compose project name in dir. dockerHost, when
// set, is the project's Docker host. The combined output is returned; on failure the
// error carries its last lines. The tool runs as every child of scar does (see
// childproc): an explicit environment without scar's secrets, a process group of its
// own killed whole when ctx ends (a stage's deadline, a cancel), and death with scar.
func (c *Compose) Run(ctx context.Context, dir, project, dockerHost string, args ...string) (string, error) {
	var out bytes.Buffer
	err := c.run(ctx, dir, project, dockerHost, &out, &out, args...)
	return out.String(), err
}

// Output runs the tool like Run and returns its standard output alone: what it
// prints for a program to read (`config`), without the warnings it writes to standard
// error (such as one for each variable a Compose file names and the tool does not
// have, which a file written for scar's old environment may do). On failure the
// error carries the last lines of both.
func (c *Compose) Output(ctx context.Context, dir, project, dockerHost string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := c.run(ctx, dir, project, dockerHost, &stdout, &stderr, args...)
	return stdout.String(), err
}

func (c *Compose) run(ctx context.Context, dir, project, dockerHost string, stdout, stderr *bytes.Buffer, args ...string) error {
	argv, err := c.Command(ctx)
	if err != nil {
		return err
	}
	full := append(append(append([]string{}, argv[1:]...), "-p", project), args...)
	if dockerHost == "" {
		dockerHost = c.dockerHost
	}
	var extra []string
	if dockerHost != "" {
		extra = append(extra, "DOCKER_HOST="+dockerHost)
	}
	cmd := childproc.Command(ctx, dir, c.environ, extra, argv[0], full...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := childproc.Run(cmd); err != nil {
		out := stdout.String()
		if stderr != stdout {
			out += stderr.String()
		}
		return fmt.Errorf("%s %s: %w: %s", strings.Join(argv, " "), strings.Join(args, " "), err, lastLines(out, 15))
	}
	return nil
}

// lastLines returns the last n lines of s, joined by " | " for a one-line error.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
