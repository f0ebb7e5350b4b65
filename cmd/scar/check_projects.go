package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/projects"
)

// checkProjects prints one line per project: ok, or FAIL with each problem in the
// words status and the operations use, saying what to fix. A Compose project not
// deployed yet, with a Compose file to deploy from, is a note, not a failure: its
// first deploy is how it gets containers. Without the engine only the directories
// are checked.
func checkProjects(ctx context.Context, cfg *projects.Config, dockerHost string, engineUp bool, out io.Writer, failed *int) {
	var ops *dockerops.Service
	if engineUp {
		docker, err := dockerops.NewClient(dockerHost)
		if err == nil {
			defer docker.Close()
			ops = dockerops.New(docker, cfg, nil, nil)
		}
	}
	for _, p := range cfg.All() {
		name := "project " + p.Name
		var problems []*dockerops.ProblemError
		var err error
		if ops != nil {
			problems, err = ops.Diagnose(ctx, p.Name)
		} else {
			problems = dockerops.DirProblems(p)
		}
		bad := 0
		for _, pe := range problems {
			if pe.NotDeployed() {
				fmt.Fprintf(out, "note  %-13s %s\n", name, pe.Text)
				continue
			}
			bad++
			fmt.Fprintf(out, "FAIL  %-13s %s\n", name, pe.Text)
		}
		if err != nil {
			bad++
			fmt.Fprintf(out, "FAIL  %-13s containers not checked: %v\n", name, err)
		}
		*failed += bad
		if bad == 0 {
			what := fmt.Sprintf("workspace %s, production %s", p.Workspace, p.Production)
			if ops == nil && p.ComposeProject != "" {
				what += " (containers not checked: Docker does not answer)"
			}
			fmt.Fprintf(out, "ok    %-13s %s\n", name, what)
		}
	}
}

// warnMisconfigured logs, once at start, each project's configuration problem in the
// words check uses, so that a missing workspace or a wrong compose_project does not
// start silently. It asks the engine, so it runs beside the start, not before it.
func warnMisconfigured(ctx context.Context, ops *dockerops.Service, names []string, logger *slog.Logger) {
	for _, name := range names {
		problems, err := ops.Diagnose(ctx, name)
		for _, pe := range problems {
			level, msg := slog.LevelWarn, "project misconfigured: "
			if pe.NotDeployed() {
				level, msg = slog.LevelInfo, "project not deployed yet: "
			}
			logger.Log(ctx, level, msg+pe.Text, slog.String("project", name))
		}
		if err != nil {
			logger.Warn("project containers not checked at start", slog.String("project", name), slog.Any("error", err))
		}
	}
}
