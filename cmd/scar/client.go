package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/scar-dev/scar/apiclient"
)

// The scar client: commands that talk to a running scar over its REST API
// (apiclient), for a terminal or a script. Each command lives in client_*.go; this
// file holds what they share: flags, the server's address and token, the project,
// and the exit codes.

// defaultServerURL is where a scar serve with the default SCAR_LISTEN_ADDR (:8080)
// answers on the same machine.
const defaultServerURL = "http://127.0.0.1:8080"

// Exit codes of the client commands (README: "The scar client"). 2 is the usage error
// of every command; the others say what a script can act on.
const (
	exitFailed       = 1  // the server answered another error, or the operation failed (a restart)
	exitUsage        = 2  // a command line scar does not understand
	exitUnreachable  = 3  // no answer from the server: wrong SCAR_URL, scar down
	exitUnauthorized = 4  // 401: no or a wrong token
	exitForbidden    = 5  // 403: a read-only token asked for a change
	exitNotFound     = 6  // 404: no such project, container or deployment
	exitBusy         = 7  // 409 busy: another deploy, rollback or restart holds the project
	exitDeployFailed = 8  // the deploy (or rollback) failed its checks and was rolled back
	exitRollbackFail = 9  // the rollback after a failed deploy failed too: production needs a person
	exitNotConfirmed = 10 // a deploy or rollback not confirmed: no --yes off a terminal, or "no" at the prompt
)

// exitError is an error with the process's exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// clientIO is what a client command reads and writes. interactive is set when both
// stdin and stdout are terminals: then deploys ask before they run, and progress
// updates one line in place.
type clientIO struct {
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	interactive bool
}

// processIO is clientIO for run's streams: interactive when they are the process's own
// terminal.
func processIO(stdout, stderr io.Writer) clientIO {
	return clientIO{stdin: os.Stdin, stdout: stdout, stderr: stderr,
		interactive: isTerminal(stdout) && isTerminal(os.Stdin)}
}

// isTerminal reports whether v is a character device (a terminal), without a
// dependency: a pipe or a file is not.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// clientCommand is one client command: its help and what it does once its flags are
// parsed.
type clientCommand struct {
	help string
	// flags adds the command's own flags to fs; the returned function runs it.
	flags func(fs *flag.FlagSet) func(ctx context.Context, cc *clientContext) error
}

// clientContext is what every client command has once its command line is read.
type clientContext struct {
	api     *apiclient.Client
	args    []string // the arguments after the flags: the project, then containers
	json    bool
	io      clientIO
	project string // resolved by needProject
}

// runClient runs a client command: its flags (anywhere among its arguments), the
// server's address and token (flags win over SCAR_URL and SCAR_TOKEN), then the
// command, with its error given the exit code it deserves.
func runClient(ctx context.Context, name string, cmd clientCommand, args, environ []string, cio clientIO) error {
	fs := flag.NewFlagSet("scar "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := envOf(environ)
	serverURL := fs.String("url", "", "")
	token := fs.String("token", "", "")
	asJSON := fs.Bool("json", false, "")
	do := cmd.flags(fs)
	rest, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(cio.stdout, cmd.help)
		return nil
	case err != nil:
		fmt.Fprint(cio.stderr, cmd.help)
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	base := firstOf(*serverURL, env["SCAR_URL"], defaultServerURL)
	api, err := apiclient.New(base, firstOf(*token, env["SCAR_TOKEN"]))
	if err != nil {
		return &usageError{fmt.Sprintf("%s: SCAR_URL or --url %q: want http://host:port or https://host:port", name, base)}
	}
	cc := &clientContext{api: api, args: rest, json: *asJSON, io: cio}
	return withExitCode(do(ctx, cc))
}

// parseInterleaved parses flags that may come before, between or after the
// arguments (`scar logs demo -n 20`), which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func envOf(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// needProject sets cc.project from the first argument, or, when there is none, to the
// server's default project.
func (cc *clientContext) needProject(ctx context.Context) error {
	if len(cc.args) > 0 {
		cc.project, cc.args = cc.args[0], cc.args[1:]
		return nil
	}
	list, err := cc.api.Projects(ctx)
	if err != nil {
		return err
	}
	for _, p := range list {
		if p.Default {
			cc.project = p.Name
			return nil
		}
	}
	names := make([]string, 0, len(list))
	for _, p := range list {
		names = append(names, p.Name)
	}
	return &usageError{fmt.Sprintf("name a project: the server has no default (its projects: %s)", strings.Join(names, ", "))}
}

// noMoreArgs refuses arguments a command does not take.
func (cc *clientContext) noMoreArgs(name string) error {
	if len(cc.args) > 0 {
		return &usageError{fmt.Sprintf("%s takes one project, got also %q", name, cc.args[0])}
	}
	return nil
}

// withExitCode gives a command's error the exit code it deserves and the words a
// person needs to act on it. A usage error keeps its own.
func withExitCode(err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	var ee *exitError
	if errors.As(err, &ue) || errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{exitFailed, errors.New("interrupted")}
	}
	if errors.Is(err, apiclient.ErrUnreachable) {
		return &exitError{exitUnreachable, fmt.Errorf("%w (set SCAR_URL or --url to scar's address)", err)}
	}
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) {
		return &exitError{exitFailed, err}
	}
	switch {
	case apiErr.Status == 401:
		return &exitError{exitUnauthorized, fmt.Errorf("%w (set SCAR_TOKEN or --token to one of scar's API tokens)", err)}
	case apiErr.Status == 403:
		return &exitError{exitForbidden, err}
	case apiErr.Status == 404:
		return &exitError{exitNotFound, err}
	case apiErr.Code == "busy":
		return &exitError{exitBusy, err}
	default:
		return &exitError{exitFailed, err}
	}
}
