// Command scar runs a developer's production Docker from Telegram and from curl:
// status, logs, restart, and deploys of a workspace with health checks and rollback.
//
// Start here: run parses the command line (this file) and reads the environment
// (config.go), then serve (serve.go) builds every dependency — projects file, state
// store, Docker client, operations, Telegram bot, HTTP server — and runs until SIGINT
// or SIGTERM. check (check.go) validates the same configuration without serving. The
// client commands (status, logs, restart, stop, start, deploy, rollback, history, in
// client*.go) talk to a running scar through its REST API with the apiclient package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scar:", err)
		stop()
		os.Exit(exitCode(err))
	}
}

const usage = `usage: scar [serve | check | version] [-h]
       scar status|logs|restart|stop|start|deploy|rollback|history [project] [flags]

  serve    run the HTTP server, REST API and Telegram bot (the default)
  check    validate the environment and projects file, ping Docker and Telegram
  version  print the version and the commit it was built from

The client, talking to a running scar at SCAR_URL (http://127.0.0.1:8080) with
SCAR_TOKEN (or --url, --token):

  status    containers, health, uptime, ports, restarts
  logs      a container's last lines; -f follows them
  restart   restart containers and wait for their health (stop, start alike)
  deploy    show the plan, confirm, deploy and show each stage
  rollback  undo the last deploy
  history   the deploys and rollbacks

Configuration comes from SCAR_* environment variables; see the README.
Each command takes -h for its own help.
`

// subcommands are scar's commands with their help text.
var subcommands = map[string]string{
	"serve": `usage: scar serve

Runs the HTTP server, the REST API and the Telegram bot until SIGINT or SIGTERM.
Configuration comes from SCAR_* environment variables; see the README.
`,
	"check": `usage: scar check

Validates the environment, the projects file and the state directory, pings Docker
and, when SCAR_TELEGRAM_TOKEN is set, the Bot API (getMe, getWebhookInfo). Changes
nothing. Exits 1 when a check fails.
`,
	"version": `usage: scar version

Prints scar's version and the commit it was built from.
`,
}

// usageError is a command line scar does not understand; it exits 2, as the flag
// package's own programs do.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode is the process's exit status for run's error: 2 for a usage error, the
// client's own codes (client.go), else 1.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// run is the whole program; main only hands it the process's context and streams.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "-version", "--version":
		cmd = "version"
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if c, ok := clientCommands[cmd]; ok {
		return runClient(ctx, cmd, c, args, environ, processIO(stdout, stderr))
	}
	help, known := subcommands[cmd]
	if !known {
		fmt.Fprint(stderr, usage)
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	if done, err := parseFlags(cmd, help, args, stdout, stderr); done || err != nil {
		return err
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(environ)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "check":
		return check(ctx, environ, stdout)
	default:
		fmt.Fprintf(stdout, "scar %s\n", describeVersion())
		return nil
	}
}

// parseFlags parses a command's arguments with the flag package. -h prints the
// command's help and reports done; an unknown flag or an argument is a usageError.
// No command takes flags yet: the flag set is there so that -h works and a mistyped
// option is refused rather than ignored.
func parseFlags(cmd, help string, args []string, stdout, stderr io.Writer) (done bool, err error) {
	fs := flag.NewFlagSet("scar "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the messages below say it once, in scar's words
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, help)
		return true, nil
	case err != nil:
		fmt.Fprint(stderr, help)
		return true, &usageError{fmt.Sprintf("%s: %v", cmd, err)}
	case fs.NArg() > 0:
		fmt.Fprint(stderr, help)
		return true, &usageError{fmt.Sprintf("%s takes no arguments, got %q", cmd, fs.Arg(0))}
	}
	return false, nil
}
