package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

const e2eToken = "e2e-token-0123456789abcdef"

// composeE2E is a two-service project from the test app image: web depends on db.
const composeE2E = `services:
  db:
    image: %[1]s
    environment:
      VERSION: db
  web:
    image: %[1]s
    environment:
      VERSION: web
    ports:
      - "127.0.0.1::8000"
    depends_on:
      - db
`

// e2eProject brings up the Compose project and writes a projects file for it.
func e2eProject(t *testing.T) (projectsPath, name string) {
	t.Helper()
	image := dockertest.BuildAppImage(t)
	cp := dockertest.NewComposeProject(t, "e2e", fmt.Sprintf(composeE2E, image))
	cli := dockertest.Client(t)
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{
			Filters: client.Filters{}.Add("label", "com.docker.compose.project="+cp.Name).Add("health", "healthy"),
		})
		return err == nil && len(res.Items) == 2
	})
	body := fmt.Sprintf(`{"e2e": {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true,
		"primary_container": "web", "health_timeout": "30s"}}`, t.TempDir(), cp.Dir, cp.Name)
	return projectsFile(t, body), cp.Name
}

// TestServeEndToEnd runs scar against the real engine and uses it as curl would:
// status, logs, restart, and the metrics of the three.
func TestServeEndToEnd(t *testing.T) {
	path, _ := e2eProject(t)
	s := startServe(t, "SCAR_PROJECTS_FILE="+path, "SCAR_API_TOKENS="+e2eToken)

	code, body := s.get(t, "/api/v1/projects/e2e/status", e2eToken)
	var st struct {
		Containers []struct {
			Service, State, Health string
			Ports                  []string
			Primary                bool
		}
	}
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || len(st.Containers) != 2 {
		t.Fatalf("status %d %s", code, body)
	}
	for _, c := range st.Containers {
		if c.State != "running" || c.Health != "healthy" {
			t.Errorf("container %+v, want running and healthy", c)
		}
		if c.Service == "web" && (!c.Primary || len(c.Ports) == 0 || !strings.Contains(c.Ports[0], "→8000/tcp")) {
			t.Errorf("web %+v: want primary with its published port", c)
		}
	}

	req, _ := http.NewRequest("GET", s.url+"/api/v1/projects/e2e/logs?lines=3", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if lines := strings.Split(strings.TrimSpace(string(logs)), "\n"); resp.StatusCode != 200 || len(lines) != 3 || !strings.Contains(string(logs), "line") {
		t.Errorf("logs %d %q, want 3 text lines", resp.StatusCode, logs)
	}

	req, _ = http.NewRequest("POST", s.url+"/api/v1/projects/e2e/restart", strings.NewReader(`{"containers": ["web"]}`))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		OK         bool
		Containers []struct{ Name, Health string }
	}
	json.NewDecoder(resp.Body).Decode(&rr)
	resp.Body.Close()
	if resp.StatusCode != 200 || !rr.OK || len(rr.Containers) != 1 || rr.Containers[0].Health != "healthy" {
		t.Errorf("restart %d %+v", resp.StatusCode, rr)
	}

	_, metrics := s.get(t, "/metrics", "")
	for _, op := range []string{"status", "logs", "restart"} {
		want := fmt.Sprintf(`scar_operation_duration_seconds_count{operation=%q,outcome="success",project="e2e"} 1`, op)
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := s.get(t, "/readyz", ""); code != 200 {
		t.Errorf("readyz %d with Docker up", code)
	}
}

func TestCheck(t *testing.T) {
	dockertest.Client(t)
	t.Run("example passes", func(t *testing.T) {
		path, _ := e2eProject(t)
		var out bytes.Buffer
		err := run(context.Background(), []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + path, "SCAR_STATE_DIR=" + t.TempDir()}, &out, io.Discard)
		if err != nil || !strings.Contains(out.String(), "all checks passed") {
			t.Fatalf("check: %v\n%s", err, out.String())
		}
	})
	t.Run("broken file names the key", func(t *testing.T) {
		path := projectsFile(t, `{"po": {"workspace": "/w", "production": "/p", "compose_project": "po", "primary_containr": "x"}}`)
		var out bytes.Buffer
		err := run(context.Background(), []string{"check"}, []string{"SCAR_PROJECTS_FILE=" + path, "SCAR_STATE_DIR=" + t.TempDir()}, &out, io.Discard)
		if err == nil || !strings.Contains(out.String(), `"primary_containr"`) || !strings.Contains(out.String(), "FAIL") {
			t.Fatalf("check: %v\n%s", err, out.String())
		}
	})
}

// TestStaticBinaryInScratchImage builds scar as the Dockerfile does — a static binary —
// puts it in an empty image, runs it with the Docker socket mounted, and asks it for
// /healthz and /readyz. (The Dockerfile's own base images cannot be pulled here.)
func TestStaticBinaryInScratchImage(t *testing.T) {
	ctx := context.Background()
	cli := dockertest.Client(t)
	name := dockertest.UniqueName(t, "scarimg")
	dockertest.RemoveImagesWhenDone(t, cli, name) // the image and its build layers, after the container
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "scar"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "scar"))
	if err != nil {
		t.Fatal(err)
	}
	projectsJSON := `{"demo": {"workspace": "/ws", "production": "/prod", "compose_project": "scarimg", "auto_detect": true}}`
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct {
		name string
		body []byte
		mode int64
	}{
		{"Dockerfile", []byte("FROM scratch\nCOPY scar /scar\nCOPY projects.json /projects.json\nENTRYPOINT [\"/scar\"]\n"), 0o644},
		{"scar", bin, 0o755},
		{"projects.json", []byte(projectsJSON), 0o644},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))})
		tw.Write(f.body)
	}
	tw.Close()
	tag := name + ":test"
	res, err := cli.ImageBuild(ctx, &ctxTar, client.ImageBuildOptions{Tags: []string{tag}, Remove: true})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()

	port := network.MustParsePort("8080/tcp")
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{Image: tag, Env: []string{"SCAR_PROJECTS_FILE=/projects.json", "SCAR_STATE_DIR=/state", "SCAR_API_TOKENS=" + e2eToken},
			ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &container.HostConfig{
			Binds:        []string{"/var/run/docker.sock:/var/run/docker.sock"},
			Tmpfs:        map[string]string{"/state": "", "/ws": "", "/prod": ""},
			PortBindings: network.PortMap{port: {{HostPort: ""}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cli.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	c := dockertest.Inspect(t, cli, created.ID)
	url := "http://127.0.0.1:" + c.NetworkSettings.Ports[port][0].HostPort
	for _, path := range []string{"/healthz", "/readyz"} {
		dockertest.WaitFor(t, 20*time.Second, func() bool {
			resp, err := http.Get(url + path)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
}
