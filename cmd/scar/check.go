package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"
	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/projects"
)

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

	report("state dir", checkWritable(cfg.StateDir), cfg.StateDir+" is writable")

	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dockerInfo, err := pingDocker(pingCtx, cfg.DockerHost)
	report("docker", err, dockerInfo)
	if cfgProjects != nil {
		checkProjects(pingCtx, cfgProjects, cfg.DockerHost, err == nil, out, &failed)
	}

	if cfg.TelegramToken != "" {
		name, err := telegramGetMe(pingCtx, cfg)
		report("telegram", err, "bot @"+name+" answers getMe ("+cfg.TelegramMode+" mode)")
	} else {
		fmt.Fprintf(out, "skip  %-13s SCAR_TELEGRAM_TOKEN is not set: Telegram is off\n", "telegram")
	}

	if failed > 0 {
		return fmt.Errorf("check failed: %d problem(s)", failed)
	}
	fmt.Fprintln(out, "all checks passed")
	return nil
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
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

func telegramGetMe(ctx context.Context, cfg *config) (string, error) {
	bot, err := telego.NewBot(cfg.TelegramToken, telego.WithAPIServer(cfg.TelegramAPIURL), telego.WithDiscardLogger())
	if err != nil {
		return "", err
	}
	me, err := bot.GetMe(ctx)
	if err != nil {
		return "", err
	}
	return me.Username, nil
}
