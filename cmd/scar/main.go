// Command scar runs a developer's production Docker from Telegram and from curl:
// status, logs, restart, and deploys of a workspace with health checks and rollback.
//
// Start here: run reads the environment (config.go), then serve (serve.go) builds every
// dependency — projects file, state store, Docker client, operations, Telegram bot,
// HTTP server — and runs until SIGINT or SIGTERM. check (check.go) validates the same
// configuration without serving.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scar:", err)
		os.Exit(1)
	}
}

const usage = `usage: scar [serve | check | version]

  serve    run the HTTP server, REST API and Telegram bot (the default)
  check    validate the environment and projects file, ping Docker and Telegram
  version  print the version

Configuration comes from SCAR_* environment variables; see the README.
`

// run is the whole program; main only hands it the process's context and streams.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
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
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "scar %s\n", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
