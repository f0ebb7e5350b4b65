package dockerops

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
)

// TestPlainBuildHonoursDockerignore (issue 12 defect 4): a plain container's image is
// built from the production directory as the docker CLI would send it — without what
// .dockerignore excludes (production's .env, its data directory), with what a "!"
// line brings back, and with the Dockerfile even when .dockerignore lists it.
func TestPlainBuildHonoursDockerignore(t *testing.T) {
	ctx := context.Background()
	cli := dockertest.Client(t)
	base := dockertest.BuildAppImage(t)
	name := dockertest.UniqueName(t, "ignore")
	ref := name + "-img:latest"
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: base, Target: ref}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{name, name + "-scar-old"} {
			cli.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
		}
		imgs, _ := cli.ImageList(ctx, client.ImageListOptions{})
		for _, img := range imgs.Items {
			for _, tag := range img.RepoTags {
				if strings.HasPrefix(tag, name+"-") || strings.HasPrefix(tag, "scar-rollback/"+name+"/") {
					// PruneChildren: the classic build's untagged intermediate images
					// (the COPY layer under the LABEL) go too; the moby client keeps
					// them without it, and CI fails on them.
					cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
				}
			}
		}
	})

	ws, prod := t.TempDir(), t.TempDir()
	for _, root := range []string{ws, prod} {
		writeFile(t, filepath.Join(root, "Dockerfile"), "FROM "+base+"\nCOPY . /ctx/\n")
		writeFile(t, filepath.Join(root, ".dockerignore"), "# production's own\n.env\n**/*.env\ndata/\n!data/schema.sql\nDockerfile\n")
		writeFile(t, filepath.Join(root, "app.py"), "print(1)\n")
		writeFile(t, filepath.Join(root, "data/schema.sql"), "create table t;\n")
	}
	writeFile(t, filepath.Join(ws, ".env"), "SECRET=workspace\n")
	writeFile(t, filepath.Join(prod, ".env"), "SECRET=production\n")
	writeFile(t, filepath.Join(prod, "config/prod.env"), "DB=production\n")
	writeFile(t, filepath.Join(prod, "data/db.sqlite"), "rows\n")
	sameTimes(t, ws, prod)
	dockertest.RunContainer(t, cli, dockertest.ContainerSpec{Name: name, Image: ref})

	p := &projects.Project{Name: name, Workspace: ws, Production: prod, Containers: []string{name}, PrimaryContainer: name,
		Rebuild: projects.RebuildAuto, HealthTimeout: 30 * time.Second}
	db, fe, engine := deployParts(t, t.TempDir(), t.TempDir())
	e := &deployEnv{t: t, cli: cli, db: db, p: p, image: base, svc: New(engine, projectMap{name: p}, metrics.New(prometheus.NewRegistry(), "test"), nil,
		WithPollInterval(100*time.Millisecond), WithDeploys(engine, fe, db, NewCompose("")))}

	e.edit("Dockerfile", "FROM "+base+"\nCOPY . /ctx/\nLABEL scar.test.version=2\n")
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	// Production's .env is its own (issue 12 defect 3): kept, and the plan says so.
	if !slices.Equal(d.Plan.Kept, []string{".env"}) || slices.Contains(d.Plan.Changed, ".env") {
		t.Errorf("plan kept %q changed %q, want .env kept, not deployed", d.Plan.Kept, d.Plan.Changed)
	}
	if got := readFile(t, filepath.Join(prod, ".env")); got != "SECRET=production\n" {
		t.Errorf("production .env = %q after the deploy, want production's own", got)
	}
	c := dockertest.Inspect(t, cli, name)
	if c.Config.Labels["scar.test.version"] != "2" {
		t.Fatalf("the container was not rebuilt and recreated: labels %v", c.Config.Labels)
	}
	for path, want := range map[string]bool{
		"/ctx/app.py": true, "/ctx/data/schema.sql": true,
		"/ctx/.env": false, "/ctx/config/prod.env": false, "/ctx/data/db.sqlite": false,
	} {
		_, err := cli.ContainerStatPath(ctx, c.ID, client.ContainerStatPathOptions{Path: path})
		switch {
		case want && err != nil:
			t.Errorf("the image lacks %s: %v", path, err)
		case !want && err == nil:
			t.Errorf("the image has %s, which .dockerignore excludes", path)
		case !want && !isNotFound(err):
			t.Errorf("stat %s: %v", path, err)
		}
	}
}
