package dockerops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Compose runs the Compose tool for deploys: `docker compose` (v2) or the older
// `docker-compose` (v1). scar never re-implements Compose; it runs the tool in the
// project's production directory so that edits to the Compose file are honoured.
type Compose struct {
	// argv is the command before its arguments: ["docker", "compose"] or ["docker-compose"].
	argv []string
	// dockerHost is the engine of projects that name none (see ComposeDockerHost).
	dockerHost string

	once     sync.Once
	detected []string
	err      error
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

// NewCompose returns a runner for command ("docker compose", "docker-compose"); an
// empty command is detected at first use: v2 when `docker compose version` works,
// else v1.
func NewCompose(command string, opts ...ComposeOption) *Compose {
	c := &Compose{argv: strings.Fields(command)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Command returns the tool's command line, detecting it if needed.
func (c *Compose) Command(ctx context.Context) ([]string, error) {
	if len(c.argv) > 0 {
		return c.argv, nil
	}
	c.once.Do(func() {
		for _, argv := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
			cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "version")...)
			if cmd.Run() == nil {
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
// error carries its last lines.
func (c *Compose) Run(ctx context.Context, dir, project, dockerHost string, args ...string) (string, error) {
	argv, err := c.Command(ctx)
	if err != nil {
		return "", err
	}
	full := append(append(append([]string{}, argv[1:]...), "-p", project), args...)
	cmd := exec.CommandContext(ctx, argv[0], full...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if dockerHost == "" {
		dockerHost = c.dockerHost
	}
	if dockerHost != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+dockerHost)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Let the tool stop its containers' operations cleanly when the deploy is cancelled.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", strings.Join(argv, " "), strings.Join(args, " "), err, lastLines(out.String(), 15))
	}
	return out.String(), nil
}

// lastLines returns the last n lines of s, joined by " | " for a one-line error.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
