package dockertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ComposeCommandEnv names the variable that picks the Compose tool ("docker compose"
// or "docker-compose"); CI runs the Docker tests once per tool.
const ComposeCommandEnv = "SCAR_COMPOSE_COMMAND"

var compose struct {
	once    sync.Once
	command []string
	flavour string
}

func detectCompose() {
	compose.once.Do(func() {
		if v := strings.Fields(os.Getenv(ComposeCommandEnv)); len(v) > 0 {
			compose.command = v
		} else if exec.Command("docker", "compose", "version").Run() == nil {
			compose.command = []string{"docker", "compose"}
		} else if _, err := exec.LookPath("docker-compose"); err == nil {
			compose.command = []string{"docker-compose"}
		}
		compose.flavour = "nc"
		if len(compose.command) == 0 {
			return
		}
		args := append(append([]string{}, compose.command[1:]...), "version", "--short")
		out, err := exec.Command(compose.command[0], args...).Output()
		if err != nil {
			return
		}
		if strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "1.") {
			compose.flavour = "v1"
		} else {
			compose.flavour = "v2"
		}
	})
}

// ComposeCommand is the Compose tool the tests use: $SCAR_COMPOSE_COMMAND, else the
// v2 plugin when `docker compose` works, else docker-compose; nil when there is none.
func ComposeCommand() []string {
	detectCompose()
	return compose.command
}

// ComposeFlavour is "v1" or "v2" by the tool's version, or "nc" without a tool.
func ComposeFlavour() string {
	detectCompose()
	return compose.flavour
}

// ComposeProject is a Compose project brought up for one test.
type ComposeProject struct {
	// Name is the unique project name (the -p argument).
	Name string
	// Dir holds the compose file.
	Dir string
	// File is the compose file's path.
	File string
}

// NewComposeProject writes composeYAML to a temporary directory, brings it up with
// `<compose> -p <unique name> up -d` and takes it down with volumes and orphans when
// the test ends, force-removing whatever still carries the project's label, then
// removing the images it built or tagged (RemoveImagesWhenDone). The
// project name is UniqueName(tb, prefix). It skips like Client without a Compose tool.
func NewComposeProject(tb testing.TB, prefix, composeYAML string) *ComposeProject {
	tb.Helper()
	cli := Client(tb)
	if len(ComposeCommand()) == 0 {
		unavailable(tb, "no Compose tool: neither `docker compose` nor docker-compose works and %s is unset", ComposeCommandEnv)
	}
	p := &ComposeProject{Name: UniqueName(tb, prefix), Dir: tb.TempDir()}
	RemoveImagesWhenDone(tb, cli, p.Name)
	p.File = filepath.Join(p.Dir, "docker-compose.yml")
	if err := os.WriteFile(p.File, []byte(composeYAML), 0o644); err != nil {
		tb.Fatalf("write compose file: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if out, err := p.run(ctx, "down", "-v", "--remove-orphans", "-t", "1"); err != nil {
			tb.Logf("compose down %s: %v: %s", p.Name, err, out)
		}
		removeProjectContainers(ctx, tb, cli, p.Name)
	})
	p.Run(tb, "up", "-d")
	return p
}

// Run runs the Compose tool on the project with args, failing the test on error,
// and returns its combined output.
func (p *ComposeProject) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := p.run(ctx, args...)
	if err != nil {
		tb.Fatalf("compose %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *ComposeProject) run(ctx context.Context, args ...string) (string, error) {
	command := ComposeCommand()
	full := append(append([]string{}, command[1:]...), "-p", p.Name, "-f", p.File)
	cmd := exec.CommandContext(ctx, command[0], append(full, args...)...)
	cmd.Dir = p.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
