package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
)

// checkGitTimeout bounds check's question to each git project's remote.
const checkGitTimeout = 30 * time.Second

// check validates what serve would use and prints one line per check. It returns an
// error, so the exit code is non-zero, when any check fails.
func check(ctx context.Context, environ []string, out io.Writer) error {
	failed := 0
	report := func(name string, err error, ok string) {
		if err != nil {
			failed++
			fmt.Fprintf(out, "FAIL  %-13s %v\n", name, err)
			return
		}
		fmt.Fprintf(out, "ok    %-13s %s\n", name, ok)
	}

	cfg, err := loadConfig(environ)
	report("environment", err, "all SCAR_* variables valid")
	if err != nil {
		return errors.New("check failed")
	}

	cfgProjects, err := projects.Load(cfg.ProjectsFile)
	if err == nil {
		cfgProjects, err = cfgProjects.WithDefault(cfg.DefaultProject)
	}
	if err == nil {
		cfgProjects = cfgProjects.WithCheckouts(projects.CheckoutsDir(cfg.StateDir))
	}
	if err != nil {
		report("projects file", err, "")
		cfgProjects = nil
	} else {
		def := cfgProjects.Default()
		if def == "" {
			def = "none (commands must name a project)"
		}
		report("projects file", nil, fmt.Sprintf("%s: %d project(s) %v, default %s", cfg.ProjectsFile, len(cfgProjects.Names()), cfgProjects.Names(), def))
	}

	stateDir, err := checkStateDir(cfg.StateDir)
	report("state dir", err, stateDir)

	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dockerInfo, err := pingDocker(pingCtx, cfg.DockerHost)
	report("docker", err, dockerInfo)
	if cfgProjects != nil {
		src := gitsource.New(gitsource.Config{Root: projects.CheckoutsDir(cfg.StateDir), Environ: environ, Timeout: checkGitTimeout})
		checkGit := func(g projects.GitSource) error { return src.Check(ctx, g) }
		checkProjects(pingCtx, cfgProjects, cfg.DockerHost, err == nil, checkGit, envLookup(environ), out, &failed)
	}

	failed += checkTelegram(pingCtx, cfg, out)

	if failed > 0 {
		return fmt.Errorf("check failed: %d problem(s)", failed)
	}
	fmt.Fprintln(out, "all checks passed")
	return nil
}

// checkStateDir checks that scar can write the state directory, or create it when it
// does not exist yet, and changes nothing: check leaves no directory behind.
func checkStateDir(dir string) (string, error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	case err == nil:
		if err := writableDir(dir); err != nil {
			return "", err
		}
		msg := dir + " is writable"
		if fi.Mode().Perm() != 0o700 {
			msg += fmt.Sprintf(" (mode %o: made 0700 at start)", fi.Mode().Perm())
		}
		return msg, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", err
	}
	// The nearest existing parent must let scar create the rest.
	parent := filepath.Dir(filepath.Clean(dir))
	for {
		fi, err := os.Stat(parent)
		if err == nil && fi.IsDir() {
			break
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) || parent == filepath.Dir(parent) {
			return "", fmt.Errorf("%s does not exist and cannot be created: %s is not a writable directory", dir, parent)
		}
		parent = filepath.Dir(parent)
	}
	if err := writableDir(parent); err != nil {
		return "", fmt.Errorf("%s does not exist and cannot be created: %w", dir, err)
	}
	return fmt.Sprintf("%s does not exist yet: it will be created at start (%s is writable)", dir, parent), nil
}

// writableDir creates and removes a temporary file in dir.
func writableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".scar-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(filepath.Clean(f.Name()))
}

func pingDocker(ctx context.Context, host string) (string, error) {
	docker, err := dockerops.NewClient(host)
	if err != nil {
		return "", err
	}
	defer docker.Close()
	v, err := docker.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", fmt.Errorf("%s does not answer: %w", docker.DaemonHost(), err)
	}
	return fmt.Sprintf("%s answers: Engine %s, API %s", docker.DaemonHost(), v.Version, v.APIVersion), nil
}
