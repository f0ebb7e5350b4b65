package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/scar-dev/scar/bench/files/gentree"
)

// benchLabel marks everything the suite creates on the engine, so that run.sh's trap
// can remove what a killed run left behind.
const benchLabel = "scar.bench"

// fixtures are the suite's Compose projects and their directories.
type fixtures struct {
	root    string   // the repository
	dir     string   // the run's working directory
	runID   string   // unique per run; prefixes every project name
	compose []string // the Compose tool that brings projects up ("docker compose")
	image   string

	status, restart, deploy *composeProject
	// more are the projects of sections that lay out their own (push), torn down
	// with these.
	more []*composeProject
}

// composeProject is one Compose project of the suite, with a workspace and the
// production directory it runs from.
type composeProject struct {
	name       string
	workspace  string
	production string
	services   []string
}

func (p *composeProject) container(service string) string { return p.name + "-" + service + "-1" }

func (p *composeProject) containers() []string {
	out := make([]string, len(p.services))
	for i, s := range p.services {
		out[i] = p.container(s)
	}
	return out
}

// sh runs a command and returns its combined output, failing with that output.
func sh(ctx context.Context, dir string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLines(out.String(), 10))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// buildImage compiles the demo app static and builds examples/demo/Dockerfile around
// it, as internal/dockertest does for the tests: no registry is involved.
func (f *fixtures) buildImage(ctx context.Context) error {
	bctx := filepath.Join(f.dir, "image")
	if err := os.MkdirAll(bctx, 0o755); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(bctx, "app"), "./examples/demo/app")
	build.Dir = f.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("compile the demo app: %w: %s", err, out)
	}
	index, err := os.ReadFile(filepath.Join(f.root, "examples", "demo", "index.txt"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bctx, "index.txt"), index, 0o644); err != nil {
		return err
	}
	f.image = "scar-bench-app:" + f.runID
	_, err = sh(ctx, bctx, "docker", "build", "-q", "--label", benchLabel+"="+f.runID,
		"-f", filepath.Join(f.root, "examples", "demo", "Dockerfile"), "-t", f.image, ".")
	return err
}

// composeYAML writes a Compose file: every service from the bench image, labelled.
func (f *fixtures) composeYAML(services map[string]string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, name := range sortedKeys(services) {
		fmt.Fprintf(&b, "  %s:\n    image: %s\n    labels:\n      %s: %q\n%s", name, f.image, benchLabel, f.runID, services[name])
	}
	return b.String()
}

// newProject lays out a workspace and an identical production directory (mtimes
// kept, as after a deploy) holding compose and, with treeFiles > 0, a generated tree
// under content/tree.
func (f *fixtures) newProject(suffix, compose string, services []string, treeFiles int) (*composeProject, error) {
	p := &composeProject{
		name:       f.runID + suffix,
		workspace:  filepath.Join(f.dir, suffix, "workspace"),
		production: filepath.Join(f.dir, suffix, "production"),
		services:   services,
	}
	content := filepath.Join(p.production, "content")
	if err := os.MkdirAll(content, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.production, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(content, "index.txt"), []byte("version 0\n"), 0o644); err != nil {
		return nil, err
	}
	if treeFiles > 0 {
		if _, err := gentree.Generate(filepath.Join(content, "tree"), treeFiles, 1); err != nil {
			return nil, fmt.Errorf("generate tree: %w", err)
		}
	}
	if _, err := sh(context.Background(), "", "cp", "-a", p.production, p.workspace); err != nil {
		return nil, err
	}
	return p, nil
}

// setup builds the image, lays out the three projects and brings them up healthy:
// status (10 containers, one with 1000 log lines, ports published), restart (5) and
// deploy (one web container reading a bind-mounted file, beside a 10k-file tree).
func (f *fixtures) setup(ctx context.Context, treeFiles int) error {
	if err := f.buildImage(ctx); err != nil {
		return err
	}
	st := map[string]string{}
	var stNames []string
	for i := range 10 {
		lines := "5"
		if i == 0 {
			lines = "500" // 500 to stdout and 500 to stderr
		}
		name := fmt.Sprintf("svc%d", i)
		stNames = append(stNames, name)
		tick := ""
		if i == 1 {
			tick = "      TICK_EVERY: 20ms\n" // the follow row's lines
		}
		st[name] = fmt.Sprintf("    environment:\n      LOG_LINES: %q\n%s    ports:\n      - \"127.0.0.1::8000\"\n", lines, tick)
	}
	rs := map[string]string{}
	var rsNames []string
	for i := range 5 {
		name := fmt.Sprintf("r%d", i)
		rsNames = append(rsNames, name)
		rs[name] = ""
	}
	dp := map[string]string{"web": "    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    volumes:\n      - ./content:/srv/content:ro\n"}

	var err error
	if f.status, err = f.newProject("st", f.composeYAML(st), stNames, 0); err != nil {
		return err
	}
	if f.restart, err = f.newProject("rs", f.composeYAML(rs), rsNames, 0); err != nil {
		return err
	}
	if f.deploy, err = f.newProject("dp", f.composeYAML(dp), []string{"web"}, treeFiles); err != nil {
		return err
	}
	for _, p := range []*composeProject{f.status, f.restart, f.deploy} {
		if _, err := sh(ctx, p.production, append(f.compose, "-p", p.name, "up", "-d", "--quiet-pull")...); err != nil {
			return err
		}
	}
	return f.waitHealthy(ctx, 90*time.Second)
}

// waitHealthy polls until every container of the run is healthy.
func (f *fixtures) waitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	want := len(f.status.services) + len(f.restart.services) + len(f.deploy.services)
	for {
		out, err := sh(ctx, "", "docker", "ps", "--filter", "label="+benchLabel+"="+f.runID, "--filter", "health=healthy", "-q")
		if err != nil {
			return err
		}
		if n := len(strings.Fields(out)); n == want {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d containers healthy after %s", n, want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// teardown removes the projects, their containers and networks, and the image.
func (f *fixtures) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range append([]*composeProject{f.status, f.restart, f.deploy}, f.more...) {
		if p != nil {
			sh(ctx, p.production, append(f.compose, "-p", p.name, "down", "-t", "1", "--remove-orphans")...)
		}
	}
	if ids, _ := sh(ctx, "", "docker", "ps", "-aq", "--filter", "label="+benchLabel+"="+f.runID); strings.TrimSpace(ids) != "" {
		sh(ctx, "", append([]string{"docker", "rm", "-f"}, strings.Fields(ids)...)...)
	}
	if f.image != "" {
		sh(ctx, "", "docker", "rmi", "-f", f.image)
	}
}
