package dockerops

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
)

// TestDeployPlainContainer deploys a project of one plain (non-Compose) container: a
// Dockerfile change rebuilds its image through the Engine and recreates it with the
// same name, env, ports, mounts and networks; a new version that fails its health
// check is undone and the old container serves again.
func TestDeployPlainContainer(t *testing.T) {
	ctx := context.Background()
	cli := dockertest.Client(t)
	base := dockertest.BuildAppImage(t)
	name := dockertest.UniqueName(t, "plain")
	dockertest.RemoveImagesWhenDone(t, cli, name) // rebuilds and rollback tags
	ref := name + "-img:latest"
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: base, Target: ref}); err != nil {
		t.Fatal(err)
	}
	netName := name + "-net"
	if _, err := cli.NetworkCreate(ctx, netName, client.NetworkCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{name, name + "-scar-old"} {
			cli.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
		}
		cli.NetworkRemove(ctx, netName, client.NetworkRemoveOptions{})
		cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	})

	ws, prod := t.TempDir(), t.TempDir()
	for _, root := range []string{ws, prod} {
		writeFile(t, filepath.Join(root, "Dockerfile"), "FROM "+base+"\nLABEL scar.test.version=1\n")
		writeFile(t, filepath.Join(root, "content/index.txt"), "plain v1\n")
	}
	sameTimes(t, ws, prod)

	port := network.MustParsePort("8000/tcp")
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{Image: ref, Env: []string{"VERSION=plain", "CONTENT_FILE=/srv/content/index.txt"},
			ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &container.HostConfig{
			Binds:        []string{filepath.Join(prod, "content") + ":/srv/content:ro"},
			PortBindings: network.PortMap{port: {{HostPort: ""}}},
			NetworkMode:  container.NetworkMode(netName),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	dockertest.WaitHealth(t, cli, created.ID, HealthHealthy, 30*time.Second)

	p := &projects.Project{Name: name, Workspace: ws, Production: prod, Containers: []string{name}, PrimaryContainer: name,
		Rebuild: projects.RebuildAuto, HealthTimeout: 15 * time.Second}
	db, fe, engine := deployParts(t, t.TempDir(), t.TempDir())
	e := &deployEnv{t: t, cli: cli, db: db, p: p, image: base, svc: New(engine, projectMap{name: p}, metrics.New(prometheus.NewRegistry(), "test"), nil,
		WithPollInterval(100*time.Millisecond), WithDeploys(engine, fe, db, NewCompose("")))}

	serve := func(id string) string {
		t.Helper()
		c := dockertest.Inspect(t, cli, id)
		url := "http://127.0.0.1:" + c.NetworkSettings.Ports[port][0].HostPort + "/"
		return dockertest.Body(t, url, 10*time.Second)
	}
	current := func() container.InspectResponse {
		t.Helper()
		return dockertest.Inspect(t, cli, name)
	}

	// A Dockerfile change: rebuilt and recreated like the old one.
	e.edit("Dockerfile", "FROM "+base+"\nLABEL scar.test.version=2\n")
	e.edit("content/index.txt", "plain v2\n")
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	v2 := current()
	switch {
	case v2.ID == created.ID:
		t.Fatal("the container was not recreated")
	case v2.Config.Labels["scar.test.version"] != "2":
		t.Errorf("new container's labels %v: not from the rebuilt image", v2.Config.Labels)
	case !slices.Contains(v2.Config.Env, "VERSION=plain"):
		t.Errorf("env lost: %v", v2.Config.Env)
	case !slices.Equal(v2.HostConfig.Binds, []string{filepath.Join(prod, "content") + ":/srv/content:ro"}):
		t.Errorf("binds %v", v2.HostConfig.Binds)
	case v2.NetworkSettings.Networks[netName] == nil:
		t.Errorf("not on network %s: %v", netName, v2.NetworkSettings.Networks)
	}
	if got := serve(v2.ID); got != "plain v2\n" {
		t.Errorf("serves %q, want plain v2", got)
	}
	if _, err := cli.ContainerInspect(ctx, name+"-scar-old", client.ContainerInspectOptions{}); err == nil {
		t.Errorf("the replaced container was kept after a healthy deploy")
	}

	// A new image whose ENV makes it unhealthy: undone, the v2 container serves again.
	e.edit("Dockerfile", "FROM "+base+"\nENV UNHEALTHY=1\nLABEL scar.test.version=3\n")
	d = e.deploy()
	if d.Status != DeployFailedRolledBack || d.FailedStep != StageHealth {
		t.Fatalf("deploy %s at %s (%s), want failed_rolled_back at health", d.Status, d.FailedStep, d.Error)
	}
	back := current()
	if back.ID != v2.ID || !back.State.Running {
		t.Errorf("after the rollback %s runs container %s (running %v), want the previous %s", name, back.ID, back.State.Running, v2.ID)
	}
	if got := serve(back.ID); got != "plain v2\n" {
		t.Errorf("serves %q after the rollback", got)
	}
	if strings.Contains(readFile(t, filepath.Join(prod, "Dockerfile")), "UNHEALTHY") {
		t.Errorf("production Dockerfile not restored")
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
