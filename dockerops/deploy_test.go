package dockerops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/testfs"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// deployEnv is a Compose project on the real engine with a workspace and a production
// directory, and a Service that deploys it.
type deployEnv struct {
	t       testing.TB
	cli     *client.Client
	svc     *Service
	reg     *prometheus.Registry
	db      *store.DB
	p       *projects.Project
	image   string // the test app image the project's Dockerfile builds FROM
	compose *Compose
	// dbDir and stateDir hold the state store and the deploy backups.
	dbDir, stateDir string
}

// composeTemplate is the test project: web is built (its content bind-mounted, a file
// baked), db is a database-like service that deploys of web must not touch.
const composeTemplate = `services:
  web:
    build: .
    image: {{name}}-web:latest
    environment:
      VERSION: v1
      CONTENT_FILE: /srv/content/index.txt
    ports:
      - "127.0.0.1::8000"
    volumes:
      - ./content:/srv/content:ro
  db:
    image: {{image}}
    environment:
      VERSION: db
`

// deployParts opens what a Service with deploys needs: the store in dbDir, the file
// engine on stateDir, and an engine client; each is closed when the test ends.
func deployParts(t testing.TB, dbDir, stateDir string) (*store.DB, *deployments.Engine, *client.Client) {
	t.Helper()
	db, err := store.Open(context.Background(), dbDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fe, err := deployments.New(deployments.Config{StateDir: stateDir, Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return db, fe, engine
}

func newDeployEnv(t *testing.T, ps projectMap) *deployEnv {
	t.Helper()
	return newDeployEnvWith(t, ps, composeTemplate, true)
}

// newDeployEnvWith makes a deployEnv from a Compose template ({{name}} and {{image}}
// replaced); with up, production is brought up and web and db are awaited healthy.
func newDeployEnvWith(t testing.TB, ps projectMap, template string, up bool, opts ...Option) *deployEnv {
	t.Helper()
	cli := dockertest.Client(t)
	image := dockertest.BuildAppImage(t)
	if len(dockertest.ComposeCommand()) == 0 {
		t.Skip("no Compose tool")
	}
	name := dockertest.UniqueName(t, "dep")
	dockertest.RemoveImagesWhenDone(t, cli, name) // builds a rollback left untagged, too
	ws, prod := t.TempDir(), t.TempDir()
	files := map[string]string{
		"docker-compose.yml": strings.NewReplacer("{{name}}", name, "{{image}}", image).Replace(template),
		"Dockerfile":         "FROM " + image + "\nCOPY baked.txt /srv/baked.txt\n",
		"baked.txt":          "baked v1\n",
		"content/index.txt":  "content v1\n",
		"README.md":          "not used by any container\n",
	}
	for rel, body := range files {
		for _, root := range []string{ws, prod} {
			writeFile(t, filepath.Join(root, rel), body)
		}
	}
	// Same mtimes in both trees: the first plan is empty.
	sameTimes(t, ws, prod)

	p := &projects.Project{Name: name, Workspace: ws, Production: prod, ComposeProject: name, AutoDetect: true,
		Rebuild: projects.RebuildAuto, HealthTimeout: 20 * time.Second}
	if ps == nil {
		ps = projectMap{}
	}
	ps[name] = p
	dbDir, stateDir := t.TempDir(), t.TempDir()
	db, fe, engine := deployParts(t, dbDir, stateDir)
	e := &deployEnv{t: t, cli: cli, reg: prometheus.NewRegistry(), db: db, p: p, image: image, dbDir: dbDir, stateDir: stateDir,
		compose: NewCompose(strings.Join(dockertest.ComposeCommand(), " "))}
	e.svc = New(engine, ps, metrics.New(e.reg, "test"), nil, append([]Option{WithPollInterval(100 * time.Millisecond),
		WithDeploys(engine, fe, db, e.compose)}, opts...)...)

	ctx := context.Background()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e.compose.Run(ctx, prod, name, "", "down", "-v", "--remove-orphans", "-t", "1")
		imgs, _ := cli.ImageList(ctx, client.ImageListOptions{})
		for _, img := range imgs.Items {
			for _, tag := range img.RepoTags {
				if strings.HasPrefix(tag, name+"-") || strings.HasPrefix(tag, name+"_") || strings.HasPrefix(tag, rollbackRepoPrefix(name)) {
					cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true})
				}
			}
		}
	})
	if !up {
		return e
	}
	if out, err := e.compose.Run(ctx, prod, name, "", "up", "-d", "--build"); err != nil {
		t.Fatalf("compose up: %v: %s", err, out)
	}
	e.waitHealthy("web")
	e.waitHealthy("db")
	return e
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameTimes gives every file of b the mtime of its twin in a.
func sameTimes(t testing.TB, a, b string) {
	t.Helper()
	err := filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		return os.Chtimes(filepath.Join(b, rel), fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// treeHash hashes the tree under root (see testfs.TreeHash).
func treeHash(t testing.TB, root string) string {
	t.Helper()
	return testfs.TreeHash(t, root)
}

// container is the running container of a service: its id, image id, start time, env.
type containerInfo struct {
	ID, Image, StartedAt string
	Env                  []string
	Port                 string
}

func (e *deployEnv) container(service string) containerInfo {
	e.t.Helper()
	res, err := e.cli.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: client.Filters{}.Add("label", labelProject+"="+e.p.ComposeProject).Add("label", labelService+"="+service),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(res.Items) != 1 {
		e.t.Fatalf("service %s has %d running containers, want 1", service, len(res.Items))
	}
	c := dockertest.Inspect(e.t, e.cli, res.Items[0].ID)
	info := containerInfo{ID: c.ID, Image: c.Image, StartedAt: c.State.StartedAt, Env: c.Config.Env}
	for _, b := range c.NetworkSettings.Ports {
		if len(b) > 0 {
			info.Port = b[0].HostPort
		}
	}
	return info
}

// sameContainer reports whether a and b are the same container, never restarted.
func sameContainer(a, b containerInfo) bool {
	return a.ID == b.ID && a.Image == b.Image && a.StartedAt == b.StartedAt
}

func (e *deployEnv) waitHealthy(service string) {
	e.t.Helper()
	dockertest.WaitFor(e.t, 30*time.Second, func() bool {
		res, err := e.cli.ContainerList(context.Background(), client.ContainerListOptions{
			Filters: client.Filters{}.Add("label", labelProject+"="+e.p.ComposeProject).Add("label", labelService+"="+service),
		})
		return err == nil && len(res.Items) == 1 && strings.Contains(res.Items[0].Status, "(healthy)")
	})
}

// get returns the body that web serves on /.
func (e *deployEnv) get() string {
	e.t.Helper()
	url := "http://127.0.0.1:" + e.container("web").Port + "/"
	return dockertest.Body(e.t, url, 10*time.Second)
}

// deploy runs a deploy to its end and returns its final record.
func (e *deployEnv) deploy() *Deployment {
	e.t.Helper()
	d, err := e.svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		e.t.Fatalf("deploy: %v", err)
	}
	return e.wait(d.ID)
}

func (e *deployEnv) wait(id string) *Deployment {
	e.t.Helper()
	var d *Deployment
	dockertest.WaitFor(e.t, 2*time.Minute, func() bool {
		var err error
		d, err = e.svc.Deployment(context.Background(), id)
		return err == nil && d.Done()
	})
	return d
}

func (e *deployEnv) edit(rel, body string) {
	e.t.Helper()
	writeFile(e.t, filepath.Join(e.p.Workspace, rel), body)
}

func (e *deployEnv) editCompose(from, to string) {
	e.t.Helper()
	path := filepath.Join(e.p.Workspace, "docker-compose.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		e.t.Fatalf("compose file lacks %q", from)
	}
	writeFile(e.t, path, strings.Replace(string(b), from, to, 1))
}

func TestDeployCodeOnlyRestartsWithoutRebuild(t *testing.T) {
	e := newDeployEnv(t, nil)
	web, db := e.container("web"), e.container("db")
	e.edit("content/index.txt", "content v2\n")

	plan, err := e.svc.PlanDeploy(context.Background(), e.p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Rebuild || len(plan.Recreate) != 0 || len(plan.Restart) != 1 || !slices.Equal(plan.Changed, []string{"content/index.txt"}) {
		t.Fatalf("plan %+v: want content/index.txt changed, no rebuild, web restarted", plan)
	}
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	if got := e.get(); got != "content v2\n" {
		t.Errorf("web serves %q after the deploy, want the new content", got)
	}
	newWeb, newDB := e.container("web"), e.container("db")
	if newWeb.ID != web.ID || newWeb.Image != web.Image || newWeb.StartedAt == web.StartedAt {
		t.Errorf("web: want the same container and image, restarted; was %+v, now %+v", web, newWeb)
	}
	if !sameContainer(newDB, db) {
		t.Errorf("db was touched: was %+v, now %+v", db, newDB)
	}
	stages := []string{}
	for _, ev := range d.Events {
		if len(stages) == 0 || stages[len(stages)-1] != ev.Stage {
			stages = append(stages, ev.Stage)
		}
	}
	if want := []string{StageBackup, StageSync, StageApply, StageHealth, StageDone}; !slices.Equal(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if again, err := e.svc.Deploy(context.Background(), e.p.Name, Actor{Name: "test"}, nil); err != nil || again.Status != DeployNothingToDo {
		t.Errorf("second deploy: %+v, %v; want nothing to do", again, err)
	}
}

func TestDeployBakedFileAndDockerfileRebuild(t *testing.T) {
	e := newDeployEnv(t, nil)
	web, db := e.container("web"), e.container("db")

	e.edit("baked.txt", "baked v2\n")
	plan, err := e.svc.PlanDeploy(context.Background(), e.p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Rebuild || !strings.Contains(plan.RebuildReason, "baked") || len(plan.Recreate) != 1 {
		t.Fatalf("a baked file's change: plan %+v, want a rebuild saying why and web recreated", plan)
	}

	e.edit("Dockerfile", "FROM "+e.image+"\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.version=2\n")
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	newWeb := e.container("web")
	if newWeb.ID == web.ID || newWeb.Image == web.Image {
		t.Errorf("web was not rebuilt and recreated: was %+v, now %+v", web, newWeb)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched")
	}
	// The old image is kept under a rollback tag.
	if _, err := e.cli.ImageInspect(context.Background(), rollbackTag(e.p.Name, "web", d.ID)); err != nil {
		t.Errorf("no rollback tag for the old image: %v", err)
	}

	// An asked-for rollback brings the old image, container config and files back.
	before := e.wait(d.ID)
	rb, err := e.svc.Rollback(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb = e.wait(rb.ID)
	if rb.Status != DeploySuccess || rb.Undoes != before.ID {
		t.Fatalf("rollback %+v", rb)
	}
	if got := e.container("web"); got.Image != web.Image {
		t.Errorf("after rollback web runs image %s, want the old %s", got.Image, web.Image)
	}
	b, _ := os.ReadFile(filepath.Join(e.p.Production, "Dockerfile"))
	if strings.Contains(string(b), "LABEL") {
		t.Errorf("production Dockerfile not restored: %s", b)
	}
	if _, err := e.svc.Rollback(context.Background(), e.p.Name, Actor{Name: "test"}, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("second rollback with nothing left to undo: %v, want ErrNotFound", err)
	}
}

func TestDeployComposeChangeIsApplied(t *testing.T) {
	e := newDeployEnv(t, nil)
	db := e.container("db")
	e.editCompose("VERSION: v1", "VERSION: v2")
	d := e.deploy()
	if d.Status != DeploySuccess {
		t.Fatalf("deploy %s at %s: %s", d.Status, d.FailedStep, d.Error)
	}
	if env := e.container("web").Env; !slices.Contains(env, "VERSION=v2") {
		t.Errorf("web env %v lacks VERSION=v2", env)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched by a change to web")
	}
}

// TestFaultNewVersionFailsRollsBack (issue 7: new container unhealthy, exits at once,
// build fails): each is rolled back, production files are identical by hash, and the
// old version serves again, checked by an HTTP GET on web's published port.
func TestFaultNewVersionFailsRollsBack(t *testing.T) {
	tests := []struct {
		name     string
		change   func(e *deployEnv)
		wantStep string
	}{
		{"unhealthy", func(e *deployEnv) { e.editCompose("VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"") }, StageHealth},
		{"exits at once", func(e *deployEnv) { e.editCompose("VERSION: v1", "VERSION: v2\n      EXIT_AT_START: \"1\"") }, StageHealth},
		{"build fails", func(e *deployEnv) {
			e.edit("Dockerfile", "FROM "+e.image+"\nCOPY no-such-file /x\n")
		}, StageBuild},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeployEnv(t, nil)
			web, db := e.container("web"), e.container("db")
			prodBefore := treeHash(t, e.p.Production)
			e.edit("content/index.txt", "content v2\n")
			tc.change(e)

			d := e.deploy()
			if d.Status != DeployFailedRolledBack || d.FailedStep != tc.wantStep {
				t.Fatalf("deploy %s at %q (%s), want failed_rolled_back at %s", d.Status, d.FailedStep, d.Error, tc.wantStep)
			}
			if got := treeHash(t, e.p.Production); got != prodBefore {
				t.Errorf("production files differ after the rollback")
			}
			if got := e.get(); got != "content v1\n" {
				t.Errorf("web serves %q after the rollback, want the old content", got)
			}
			now := e.container("web")
			if now.Image != web.Image || slices.Contains(now.Env, "UNHEALTHY=1") || slices.Contains(now.Env, "EXIT_AT_START=1") {
				t.Errorf("web after rollback: %+v, want the old image and env", now)
			}
			if tc.wantStep == StageBuild && now.ID != web.ID {
				t.Errorf("a failed build replaced the web container")
			}
			if tc.wantStep == StageHealth && len(d.LogTail) == 0 {
				t.Errorf("no log tail of the failing container in the report")
			}
			if !sameContainer(e.container("db"), db) {
				t.Errorf("db was touched")
			}
		})
	}
}

// TestFaultConcurrentDeploysBusy (issue 7: two deploys of one project at once, a
// restart during a deploy): the second deploy and the restart are refused busy, naming
// the running deploy, while another project deploys alongside.
func TestFaultConcurrentDeploysBusy(t *testing.T) {
	ps := projectMap{}
	a := newDeployEnv(t, ps)
	b := newDeployEnv(t, ps)
	b.svc = a.svc // one Service, two projects: the lock is per project
	a.edit("content/index.txt", "a v2\n")
	b.edit("content/index.txt", "b v2\n")

	first, err := a.svc.Deploy(context.Background(), a.p.Name, Actor{Name: "alice"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.svc.Deploy(context.Background(), a.p.Name, Actor{Name: "bob"}, nil)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Who != "alice" || busy.Operation != OpDeploy {
		t.Fatalf("second deploy of the same project: %v, want busy naming alice's deploy", err)
	}
	_, err = a.svc.Restart(context.Background(), a.p.Name, RestartRequest{}, Actor{Name: "bob"}, nil)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("restart during a deploy: %v, want busy", err)
	}
	other, err := a.svc.Deploy(context.Background(), b.p.Name, Actor{Name: "bob"}, nil)
	if err != nil {
		t.Fatalf("deploy of another project while one runs: %v", err)
	}
	if d := a.wait(first.ID); d.Status != DeploySuccess {
		t.Errorf("first deploy: %s %s", d.Status, d.Error)
	}
	if d := a.wait(other.ID); d.Status != DeploySuccess {
		t.Errorf("other project's deploy: %s %s", d.Status, d.Error)
	}
	if got := histogramCount(t, a.reg, OpDeploy, a.p.Name, "success"); got == 0 {
		t.Errorf("no deploy observation in scar_operation_duration_seconds")
	}
}

func TestRollbackTagsFollowBackupRetention(t *testing.T) {
	e := newDeployEnv(t, nil)
	fe, err := deployments.New(deployments.Config{StateDir: e.stateDir, Journal: e.db, Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.files = fe
	var ids []string
	for i := range 2 {
		e.edit("Dockerfile", fmt.Sprintf("FROM %s\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.version=%d\n", e.image, i+2))
		d := e.deploy()
		if d.Status != DeploySuccess {
			t.Fatalf("deploy %d: %s %s", i, d.Status, d.Error)
		}
		ids = append(ids, d.ID)
	}
	// With one backup kept, only the last deploy can be rolled back: its tag stays,
	// the first one's is gone.
	if _, err := e.cli.ImageInspect(context.Background(), rollbackTag(e.p.Name, "web", ids[1])); err != nil {
		t.Errorf("the last deploy's rollback tag is gone: %v", err)
	}
	if _, err := e.cli.ImageInspect(context.Background(), rollbackTag(e.p.Name, "web", ids[0])); err == nil {
		t.Errorf("the first deploy's rollback tag outlived its backup")
	}
}
