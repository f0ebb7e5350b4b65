package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/projects"
)

// checkProjects prints one line per project: ok, or FAIL with each problem in the
// words status and the operations use, saying what to fix. A Compose project not
// deployed yet, with a Compose file to deploy from, is a note, not a failure: its
// first deploy is how it gets containers. Without the engine only the directories
// are checked. A git project's remote is asked for its branch with checkGit; its
// checkout is made by its first deploy, so a missing one is no problem.
func checkProjects(ctx context.Context, cfg *projects.Config, dockerHost string, engineUp bool, checkGit func(projects.GitSource) error, getenv func(string) string, out io.Writer, failed *int) {
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
		if p.IsGit() {
			if gerr := checkGit(*p.Git); gerr != nil {
				bad++
				fmt.Fprintf(out, "FAIL  %-13s git branch %s: %s\n", name, p.Git.Branch, strings.TrimPrefix(gerr.Error(), "gitsource: "))
			}
			switch {
			case p.Git.SecretEnv == "":
				fmt.Fprintf(out, "note  %-13s no git.secret_env: its push webhook is off (deploys from Telegram and the API only)\n", name)
			case getenv(p.Git.SecretEnv) == "":
				fmt.Fprintf(out, "note  %-13s git.secret_env names %s, which is not set or empty: its push webhook answers 403 until it is\n", name, p.Git.SecretEnv)
			}
		}
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
			if p.IsGit() {
				what = fmt.Sprintf("git branch %s found on the remote, production %s", p.Git.Branch, p.Production)
			}
			if ops == nil && p.ComposeProject != "" {
				what += " (containers not checked: Docker does not answer)"
			}
			fmt.Fprintf(out, "ok    %-13s %s\n", name, what)
		}
	}
}

// warnMisconfigured logs, at start, each project whose workspace or production
// directory is missing, in the words check uses, so that it does not start silently.
// It asks no engine (the start stays quick and makes no Engine request); a Compose
// project without containers is reported by check, status and the operations.
func warnMisconfigured(ctx context.Context, all []*projects.Project, logger *slog.Logger) {
	for _, p := range all {
		for _, pe := range dockerops.DirProblems(p) {
			logger.WarnContext(ctx, "project misconfigured: "+pe.Text, slog.String("project", p.Name))
		}
	}
}
