package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
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
	"github.com/scar-dev/scar/internal/testfs"
)

// The fixtures of the engine fault tests: a Compose project and a plain container on
// the real engine, set up by the test's own client (never through the proxy under
// test), with a workspace and a production copy that scar deploys between.

// faultCompose: web is built (a file baked in, content/ bind-mounted), db is a
// database-like service that deploys of web leave alone.
const faultCompose = `services:
  web:
    build: .
    image: %[1]s-web:latest
    environment:
      VERSION: v1
      CONTENT_FILE: /srv/content/index.txt
    ports:
      - "127.0.0.1::8000"
    volumes:
      - ./content:/srv/content:ro
  db:
    image: %[2]s
    environment:
      VERSION: db
`

// faultProject is a Compose project whose workspace and production start identical.
type faultProject struct {
	name, ws, prod, image string
	cli                   *client.Client
	compose               []string
}

func newFaultProject(t *testing.T, prefix string) *faultProject {
	t.Helper()
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	compose := dockertest.ComposeCommand()
	if len(compose) == 0 {
		t.Skip("no Compose tool")
	}
	f := &faultProject{name: dockertest.UniqueName(t, prefix), ws: t.TempDir(), prod: t.TempDir(), image: image, cli: cli, compose: compose}
	dockertest.RemoveImagesWhenDone(t, cli, f.name) // its own image name, rollback tags, builds a rollback untagged
	files := map[string]string{
		"docker-compose.yml": fmt.Sprintf(faultCompose, f.name, image),
		"Dockerfile":         "FROM " + image + "\nCOPY baked.txt /srv/baked.txt\n",
		"baked.txt":          "baked v1\n",
		"content/index.txt":  "content v1\n",
	}
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	for rel, body := range files {
		for _, root := range []string{f.ws, f.prod} {
			writeAt(t, filepath.Join(root, rel), body, mtime)
		}
	}
	t.Cleanup(func() {
		f.run(context.Background(), "down", "-v", "--remove-orphans", "--rmi", "local", "-t", "1")
		removeImages(cli, "scar-rollback/"+f.name+"/")
	})
	if out, err := f.run(context.Background(), "up", "-d", "--build"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	f.waitHealthy(t)
	return f
}

// run runs the Compose tool on production with the test's own engine.
func (f *faultProject) run(ctx context.Context, args ...string) (string, error) {
	return runCompose(ctx, f.compose, f.name, f.prod, args...)
}

// runCompose runs the Compose tool (compose: its command words) for project in dir,
// for at most 2 minutes, and returns what it printed.
func runCompose(ctx context.Context, compose []string, project, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, compose[0], append(append(compose[1:len(compose):len(compose)], "-p", project), args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// entry is the project's entry in a projects file; extra adds keys (`"rebuild": "never"`).
func (f *faultProject) entry(extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`%q: {"workspace": %q, "production": %q, "compose_project": %q, "auto_detect": true, "primary_container": "web"%s}`,
		f.name, f.ws, f.prod, f.name, extra)
}

func (f *faultProject) waitHealthy(t *testing.T) {
	t.Helper()
	dockertest.WaitFor(t, 60*time.Second, func() bool {
		res, err := f.cli.ContainerList(context.Background(), client.ContainerListOptions{
			Filters: client.Filters{}.Add("label", "com.docker.compose.project="+f.name).Add("health", "healthy"),
		})
		return err == nil && len(res.Items) == 2
	})
}

// container inspects the one container of service.
func (f *faultProject) container(t *testing.T, service string) container.InspectResponse {
	t.Helper()
	res, err := f.cli.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", "com.docker.compose.project="+f.name).Add("label", "com.docker.compose.service="+service),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("service %s has %d running containers, want 1", service, len(res.Items))
	}
	return dockertest.Inspect(t, f.cli, res.Items[0].ID)
}

// get returns what web serves on /.
func (f *faultProject) get(t *testing.T) string {
	t.Helper()
	return httpBody(t, f.container(t, "web"), "8000/tcp")
}

// httpBody GETs / on the host port published for port, waiting for a 200.
func httpBody(t *testing.T, c container.InspectResponse, port string) string {
	t.Helper()
	bindings := c.NetworkSettings.Ports[network.MustParsePort(port)]
	if len(bindings) == 0 {
		t.Fatalf("container %s publishes no %s", c.Name, port)
	}
	url := "http://127.0.0.1:" + bindings[0].HostPort + "/"
	return dockertest.Body(t, url, 15*time.Second)
}

func (f *faultProject) edit(t *testing.T, rel, body string) {
	t.Helper()
	writeAt(t, filepath.Join(f.ws, rel), body, time.Now())
}

func (f *faultProject) editCompose(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.ws, "docker-compose.yml"))
	if err != nil || !strings.Contains(string(b), from) {
		t.Fatalf("compose file lacks %q (%v)", from, err)
	}
	f.edit(t, "docker-compose.yml", strings.Replace(string(b), from, to, 1))
}

// plainProject is one plain (non-Compose) container built from production's
// Dockerfile, on a network of its own, serving content/ from production.
type plainProject struct {
	name, ws, prod, ref string
	cli                 *client.Client
}

func newPlainProject(t *testing.T) *plainProject {
	t.Helper()
	ctx := context.Background()
	cli := dockertest.Client(t)
	base := dockertest.BuildAppImage(t)
	p := &plainProject{name: dockertest.UniqueName(t, "plain"), ws: t.TempDir(), prod: t.TempDir(), cli: cli}
	dockertest.RemoveImagesWhenDone(t, cli, p.name)
	p.ref = p.name + "-img:latest"
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: base, Target: p.ref}); err != nil {
		t.Fatal(err)
	}
	// Two networks: a recreate joins the second after create, as the engine of API
	// 1.41 takes one at create.
	netName, otherNet := p.name+"-net", p.name+"-net2"
	for _, n := range []string{netName, otherNet} {
		if _, err := cli.NetworkCreate(ctx, n, client.NetworkCreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{p.name, p.name + "-scar-old"} {
			cli.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
		}
		cli.NetworkRemove(ctx, netName, client.NetworkRemoveOptions{})
		cli.NetworkRemove(ctx, otherNet, client.NetworkRemoveOptions{})
		cli.ImageRemove(ctx, p.ref, client.ImageRemoveOptions{Force: true})
		removeImages(cli, "scar-rollback/"+p.name+"/")
	})
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, root := range []string{p.ws, p.prod} {
		writeAt(t, filepath.Join(root, "Dockerfile"), "FROM "+base+"\nLABEL scar.test.version=1\n", mtime)
		writeAt(t, filepath.Join(root, "content/index.txt"), "plain v1\n", mtime)
	}
	port := network.MustParsePort("8000/tcp")
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: p.name,
		Config: &container.Config{Image: p.ref, Env: []string{"VERSION=plain", "CONTENT_FILE=/srv/content/index.txt"},
			ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &container.HostConfig{
			Binds:        []string{filepath.Join(p.prod, "content") + ":/srv/content:ro"},
			PortBindings: network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}},
			NetworkMode:  container.NetworkMode(netName),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.NetworkConnect(ctx, otherNet, client.NetworkConnectOptions{Container: created.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitHealth(t, cli, created.ID, "healthy", 30*time.Second)
	return p
}

func (p *plainProject) entry() string {
	return fmt.Sprintf(`%q: {"workspace": %q, "production": %q, "containers": [%q], "health_timeout": "20s"}`, p.name, p.ws, p.prod, p.name)
}

func (p *plainProject) edit(t *testing.T, rel, body string) {
	t.Helper()
	writeAt(t, filepath.Join(p.ws, rel), body, time.Now())
}

func (p *plainProject) get(t *testing.T) string {
	t.Helper()
	return httpBody(t, dockertest.Inspect(t, p.cli, p.name), "8000/tcp")
}

// projectsFileOf writes a projects file of the given entries.
func projectsFileOf(t *testing.T, entries ...string) string {
	t.Helper()
	return projectsFile(t, "{"+strings.Join(entries, ",\n")+"}")
}

func writeAt(t *testing.T, path, body string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// removeImages removes every image tag that starts with prefix.
func removeImages(cli *client.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imgs, _ := cli.ImageList(ctx, client.ImageListOptions{})
	for _, img := range imgs.Items {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true})
			}
		}
	}
}

// treeHash hashes the tree under root (see testfs.TreeHash).
func treeHash(t testing.TB, root string) string {
	t.Helper()
	return testfs.TreeHash(t, root)
}

// call sends a request to scar with a full token and decodes its JSON answer.
func (s *server) call(t *testing.T, method, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp, v
}

// start starts a deploy or rollback ("deploy", "rollback") and returns its Location.
func (s *server) start(t *testing.T, project, op string) string {
	t.Helper()
	resp, d := s.call(t, "POST", "/api/v1/projects/"+project+"/"+op, "")
	if resp.StatusCode != 202 {
		t.Fatalf("%s of %s: %d %v", op, project, resp.StatusCode, d)
	}
	return resp.Header.Get("Location")
}

// finish polls a deployment until it is no longer running and returns it.
func (s *server) finish(t *testing.T, location string) map[string]any {
	t.Helper()
	var d map[string]any
	dockertest.WaitFor(t, 3*time.Minute, func() bool {
		_, d = s.call(t, "GET", location, "")
		return d["status"] != nil && d["status"] != "running"
	})
	return d
}

// deploy runs a deploy or rollback to its end and checks its final status.
func (s *server) deploy(t *testing.T, project, op, want string) map[string]any {
	t.Helper()
	d := s.finish(t, s.start(t, project, op))
	if d["status"] != want {
		t.Fatalf("%s of %s ended %v at %v (%v), want %s", op, project, d["status"], d["failed_step"], d["error"], want)
	}
	return d
}
