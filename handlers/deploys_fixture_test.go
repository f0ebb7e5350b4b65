package handlers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/store"
)

// deploysOptions change harnessWithDeploys's project and Service.
type deploysOptions struct {
	// keys are more keys of the project, each followed by a comma.
	keys string
	// watch runs an event watcher on the engine for the Service (dockerops.WithWatcher).
	watch bool
}

// harnessWithDeploys is a bot whose operations are the real dockerops Service with
// deploys on the real engine, for the one project name whose trees are ws and prod;
// compose is the Compose command deploys run. The Service is shut down with the test.
func harnessWithDeploys(t *testing.T, name, ws, prod, compose string, opts ...deploysOptions) *harness {
	t.Helper()
	var o deploysOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ps := writeProjects(t, fmt.Sprintf(`{%q: {%s"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "health_timeout": "30s"}}`,
		name, o.keys, ws, prod, name))
	history, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { history.Close() })
	files, err := deployments.New(deployments.Config{StateDir: t.TempDir(), Journal: history})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dockerops.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	svcOpts := []dockerops.Option{dockerops.WithPollInterval(100 * time.Millisecond),
		dockerops.WithDeploys(engine, files, history, dockerops.NewCompose(compose))}
	if o.watch {
		w := dockerops.NewWatcher(dockerops.WatcherConfig{Engine: engine, Projects: ps, Incidents: history})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { w.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() }) // after the Service's shutdown below
		svcOpts = append(svcOpts, dockerops.WithWatcher(w))
	}
	var svc *dockerops.Service
	h := newHarness(t, func(_ *Config, d *Deps) {
		svc = dockerops.New(engine, ps, d.Metrics, d.Logger, svcOpts...)
		d.Projects, d.Ops, d.Deploys = ps, svc, svc
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		svc.Shutdown(ctx)
	})
	return h
}

// contentProject is a running Compose project whose web serves content/index.txt
// from a bind mount: "v1" in production, "v2" in the workspace, so a deploy is one
// changed file and a restart of web.
type contentProject struct {
	cp       *dockertest.ComposeProject
	prod, ws string
}

func newContentProject(t *testing.T, prefix string) *contentProject {
	t.Helper()
	image := dockertest.BuildAppImage(t)
	compose := "services:\n  web:\n    image: " + image + "\n    environment:\n      CONTENT_FILE: /srv/content/index.txt\n    volumes:\n      - ./content:/srv/content:ro\n"
	cp := dockertest.NewComposeProject(t, prefix, compose)
	p := &contentProject{cp: cp, prod: cp.Dir, ws: t.TempDir()}
	p.write(t, p.prod, "content/index.txt", "v1\n")
	p.write(t, p.ws, "content/index.txt", "v2\n")
	p.write(t, p.ws, "docker-compose.yml", compose)
	// The Compose files are alike in both trees: only the content differs. The two
	// index.txt have the same size, and written within one tick of the kernel's coarse
	// file clock they would have the same mtime too, and look alike to the plan:
	// production's is made older.
	old := time.Now().Add(-time.Hour)
	for _, path := range []string{filepath.Join(p.prod, "docker-compose.yml"), filepath.Join(p.ws, "docker-compose.yml"), filepath.Join(p.prod, "content/index.txt")} {
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// write puts body at rel under root, making its directories.
func (p *contentProject) write(t *testing.T, root, rel, body string) {
	t.Helper()
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// harness is the bot on the real engine for this project, deploying with the Compose
// tool under test.
func (p *contentProject) harness(t *testing.T) *harness {
	t.Helper()
	return harnessWithDeploys(t, p.cp.Name, p.ws, p.prod, strings.Join(dockertest.ComposeCommand(), " "))
}
