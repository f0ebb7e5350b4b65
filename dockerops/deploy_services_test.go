package dockerops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// sharedTemplate is the one-image, two-service shape (Django/Celery, Rails/Sidekiq):
// web is built, worker runs the same image by its tag, the code is bind-mounted into
// both; db is a database-like service no deploy of the others may touch.
const sharedTemplate = `services:
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
  worker:
    image: {{name}}-web:latest
    environment:
      VERSION: worker1
      CONTENT_FILE: /srv/content/index.txt
    volumes:
      - ./content:/srv/content:ro
  db:
    image: {{image}}
    environment:
      VERSION: db
`

func newSharedEnv(t *testing.T, up bool) *deployEnv {
	t.Helper()
	e := newDeployEnvWith(t, nil, sharedTemplate, up)
	if up {
		e.waitHealthy("worker")
	}
	return e
}

// actions returns the plan's per-service actions as service → action.
func actionsOf(p DeployPlan) map[string]string {
	out := map[string]string{}
	for _, a := range p.ServiceActions {
		out[a.Service] = a.Action
	}
	return out
}

func (e *deployEnv) plan() DeployPlan {
	e.t.Helper()
	p, err := e.svc.PlanDeploy(context.Background(), e.p.Name)
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return *p
}

func wantActions(t *testing.T, p DeployPlan, want map[string]string) {
	t.Helper()
	got := actionsOf(p)
	for svc, a := range want {
		if got[svc] != a {
			t.Errorf("plan: %s gets %q, want %q (all: %+v)", svc, got[svc], a, p.ServiceActions)
		}
	}
}

func (e *deployEnv) mustSucceed(d *Deployment) {
	e.t.Helper()
	if d.Status != DeploySuccess {
		e.t.Fatalf("%s %s at %s: %s", d.Kind, d.Status, d.FailedStep, d.Error)
	}
}

// containersOf returns the ids of a service's containers, stopped ones too.
func (e *deployEnv) containersOf(service string) []string {
	e.t.Helper()
	res, err := e.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", labelProject+"="+e.p.ComposeProject).Add("label", labelService+"="+service),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

func (e *deployEnv) statusNames() []string {
	e.t.Helper()
	st, err := e.svc.Status(context.Background(), e.p.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range st.Containers {
		out = append(out, c.Service)
	}
	return out
}

func (e *deployEnv) rollback() *Deployment {
	e.t.Helper()
	rb, err := e.svc.Rollback(context.Background(), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		e.t.Fatalf("rollback: %v", err)
	}
	return e.wait(rb.ID)
}

// TestDeploySharedImageRestartsEveryService (issue 12.1 a, b): a code change restarts
// web and worker, which both bind-mount it; a Dockerfile change rebuilds the image once
// and recreates both; db is never touched.
func TestDeploySharedImageRestartsEveryService(t *testing.T) {
	e := newSharedEnv(t, true)
	web, worker, db := e.container("web"), e.container("worker"), e.container("db")

	e.edit("content/index.txt", "content v2\n")
	wantActions(t, e.plan(), map[string]string{"web": ActionRestart, "worker": ActionRestart, "db": ActionNone})
	d := e.deploy()
	e.mustSucceed(d)
	for name, was := range map[string]containerInfo{"web": web, "worker": worker} {
		now := e.container(name)
		if now.ID != was.ID || now.StartedAt == was.StartedAt {
			t.Errorf("%s: want the same container restarted; was %+v, now %+v", name, was, now)
		}
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched by a code change")
	}

	e.edit("Dockerfile", "FROM "+e.image+"\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.version=2\n")
	p := e.plan()
	wantActions(t, p, map[string]string{"web": ActionRecreate, "worker": ActionRecreate, "db": ActionNone})
	d = e.deploy()
	e.mustSucceed(d)
	builds := 0
	for _, ev := range d.Events {
		if ev.Stage == StageBuild {
			builds++
		}
	}
	if builds != 1 {
		t.Errorf("%d build events, want one build of the shared image", builds)
	}
	newWeb, newWorker := e.container("web"), e.container("worker")
	if newWeb.Image == web.Image || newWorker.Image != newWeb.Image {
		t.Errorf("after the rebuild web runs %s and worker %s (old %s): want both on the new image", newWeb.Image, newWorker.Image, web.Image)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched by a rebuild of web's image")
	}

	// Rolling the rebuild back puts both on the old image again.
	e.mustSucceed(e.rollback())
	if w, k := e.container("web"), e.container("worker"); w.Image != web.Image || k.Image != web.Image {
		t.Errorf("after rollback web runs %s and worker %s, want the old %s", w.Image, k.Image, web.Image)
	}
	// The image of the rolled-back build is removed (issue 12.8).
	if _, err := e.cli.ImageInspect(context.Background(), newWeb.Image); err == nil {
		t.Errorf("the rolled-back build's image %s is left", newWeb.Image)
	}
}

// TestDeployContainersListSeesEveryService (issue 12.1, review): a project whose
// containers list names only some of its Compose services (auto_detect off) still
// deploys every service from Compose's view: worker, left out of the list, has a
// container, so a code change restarts it (it used to be "no container yet": the
// shared image rebuilt and worker created again at every deploy) and the gate waits
// for it.
func TestDeployContainersListSeesEveryService(t *testing.T) {
	e := newSharedEnv(t, true)
	e.p.AutoDetect, e.p.Containers = false, []string{"web", "db"}
	worker, db := e.container("worker"), e.container("db")

	e.edit("content/index.txt", "content v2\n")
	p := e.plan()
	wantActions(t, p, map[string]string{"web": ActionRestart, "worker": ActionRestart, "db": ActionNone})
	if p.Rebuild {
		t.Errorf("a code change rebuilds: %s", p.RebuildReason)
	}
	d := e.deploy()
	e.mustSucceed(d)
	if now := e.container("worker"); now.ID != worker.ID || now.StartedAt == worker.StartedAt {
		t.Errorf("worker: want the same container restarted; was %+v, now %+v", worker, now)
	}
	gated := slices.ContainsFunc(d.Events, func(ev Event) bool {
		return ev.Stage == StageHealth && strings.Contains(ev.Container, "worker")
	})
	if !gated {
		t.Errorf("the gate did not wait for the restarted worker: %+v", d.Events)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched by a code change")
	}
}

// TestDeployEnvFileChangeSaysSo (issue 12.3, review): with deploy_env_files, a
// change to .env alone recreates the service whose configuration it changes, and the
// plan says it came through .env, not "in the Compose file", which did not change.
func TestDeployEnvFileChangeSaysSo(t *testing.T) {
	e := newSharedEnv(t, true)
	e.p.DeployEnvFiles = true
	e.editCompose("VERSION: worker1", "VERSION: ${WORKER_VERSION:-worker1}")
	e.edit(".env", "WORKER_VERSION=worker1\n")
	e.mustSucceed(e.deploy())

	e.edit(".env", "WORKER_VERSION=worker2\n")
	p := e.plan()
	wantActions(t, p, map[string]string{"worker": ActionRecreate, "web": ActionNone, "db": ActionNone})
	for _, a := range p.ServiceActions {
		if a.Service == "worker" && !strings.Contains(a.Reason, ".env") {
			t.Errorf("worker's reason %q does not name .env", a.Reason)
		}
	}
	e.mustSucceed(e.deploy())
	if env := e.container("worker").Env; !slices.Contains(env, "VERSION=worker2") {
		t.Errorf("worker env %v, want VERSION=worker2 from .env", env)
	}
}

// TestFailedDeployOfAddedServiceLeavesNoDirectory (issue 12.1, review): an added
// service restarting in a loop fails the deploy, and the undo leaves production as it
// was: its containers go before the files are restored, so the Engine does not make
// the directory it bind-mounts again (an empty new/ was left behind, at times: four
// replicas make it likely).
func TestFailedDeployOfAddedServiceLeavesNoDirectory(t *testing.T) {
	e := newSharedEnv(t, true)
	e.edit("new/index.txt", "new\n")
	e.editCompose("  db:\n", "  cache:\n    image: "+e.image+"\n    restart: unless-stopped\n    scale: 4\n"+
		"    environment:\n      EXIT_AT_START: \"1\"\n    volumes:\n      - ./new:/srv/new:ro\n  db:\n")
	d := e.deploy()
	if d.Status != DeployFailedRolledBack {
		t.Fatalf("deploy %s (%s), want failed_rolled_back", d.Status, d.Error)
	}
	if _, err := os.Lstat(filepath.Join(e.p.Production, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("production has new/ after the undo (%v)", err)
	}
	if ids := e.containersOf("cache"); len(ids) != 0 {
		t.Errorf("cache still has containers %v", ids)
	}
}

// TestDeployAddedServiceIsCreated (issue 12.1 c): a service added to the Compose file
// is in the plan as new and runs after the deploy; the others are left alone.
func TestDeployAddedServiceIsCreated(t *testing.T) {
	e := newSharedEnv(t, true)
	web, db := e.container("web"), e.container("db")
	e.editCompose("  db:\n", "  cache:\n    image: "+e.image+"\n    environment:\n      VERSION: cache\n  db:\n")
	p := e.plan()
	wantActions(t, p, map[string]string{"cache": ActionCreate, "web": ActionNone, "worker": ActionNone, "db": ActionNone})
	if p.Rebuild {
		t.Errorf("adding a service rebuilds: %s", p.RebuildReason)
	}
	e.mustSucceed(e.deploy())
	e.waitHealthy("cache")
	if !sameContainer(e.container("web"), web) || !sameContainer(e.container("db"), db) {
		t.Errorf("adding a service touched web or db")
	}
}

// TestDeployRemovedServiceIsRemoved (issue 12.1 d): a service removed from the Compose
// file is in the plan, is removed by the deploy, and status lists it no more.
func TestDeployRemovedServiceIsRemoved(t *testing.T) {
	e := newSharedEnv(t, true)
	db := e.container("db")
	e.removeService("worker")
	wantActions(t, e.plan(), map[string]string{"worker": ActionRemove, "web": ActionNone, "db": ActionNone})
	e.mustSucceed(e.deploy())
	if ids := e.containersOf("worker"); len(ids) != 0 {
		t.Errorf("worker still has containers %v after its removal", ids)
	}
	if names := e.statusNames(); slices.Contains(names, "worker") {
		t.Errorf("status still lists worker: %v", names)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched")
	}
}

// TestDeployComposeChangeRecreatesOnlyThatService (issue 12.1 e): a Compose change to
// worker alone recreates worker; web is neither rebuilt nor recreated, db keeps its
// container and start time.
func TestDeployComposeChangeRecreatesOnlyThatService(t *testing.T) {
	e := newSharedEnv(t, true)
	web, worker, db := e.container("web"), e.container("worker"), e.container("db")
	e.editCompose("VERSION: worker1", "VERSION: worker2")
	p := e.plan()
	wantActions(t, p, map[string]string{"worker": ActionRecreate, "web": ActionNone, "db": ActionNone})
	if p.Rebuild {
		t.Errorf("a Compose change to worker rebuilds: %s", p.RebuildReason)
	}
	d := e.deploy()
	e.mustSucceed(d)
	for _, ev := range d.Events {
		if ev.Stage == StageBuild {
			t.Errorf("build stage ran: %s", ev.Message)
		}
	}
	if now := e.container("worker"); now.ID == worker.ID || !slices.Contains(now.Env, "VERSION=worker2") {
		t.Errorf("worker not recreated with the new env: %+v", now)
	}
	if !sameContainer(e.container("web"), web) {
		t.Errorf("web was touched by a change to worker")
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched by a change to worker")
	}
}

// TestDeployFirstDeployStartsAllServices (issue 12.1 c): production has no containers
// yet; the first deploy creates every service, the built one and the others.
func TestDeployFirstDeployStartsAllServices(t *testing.T) {
	e := newSharedEnv(t, false)
	e.edit("content/index.txt", "content v2\n")
	wantActions(t, e.plan(), map[string]string{"web": ActionCreate, "worker": ActionCreate, "db": ActionCreate})
	e.mustSucceed(e.deploy())
	for _, svc := range []string{"web", "worker", "db"} {
		e.waitHealthy(svc)
	}
	if got := e.get(); got != "content v2\n" {
		t.Errorf("web serves %q", got)
	}
}

// TestDeployUndoRestoresEveryService (issue 12.1): a deploy that adds a service,
// removes one, changes code and fails its gate is undone: the added service is gone,
// the removed one runs again (the same container), web runs its old config and image.
func TestDeployUndoRestoresEveryService(t *testing.T) {
	e := newSharedEnv(t, true)
	web, worker, db := e.container("web"), e.container("worker"), e.container("db")
	prodBefore := treeHash(t, e.p.Production)
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("  db:\n", "  cache:\n    image: "+e.image+"\n  db:\n")
	e.editCompose("VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	e.removeService("worker")
	wantActions(t, e.plan(), map[string]string{"cache": ActionCreate, "worker": ActionRemove, "web": ActionRecreate, "db": ActionNone})

	d := e.deploy()
	if d.Status != DeployFailedRolledBack || d.FailedStep != StageHealth {
		t.Fatalf("deploy %s at %q (%s), want failed_rolled_back at health", d.Status, d.FailedStep, d.Error)
	}
	if got := treeHash(t, e.p.Production); got != prodBefore {
		t.Errorf("production files differ after the undo")
	}
	if ids := e.containersOf("cache"); len(ids) != 0 {
		t.Errorf("the added service cache still has containers %v after the undo", ids)
	}
	if now := e.container("worker"); now.ID != worker.ID {
		t.Errorf("worker: want its own container back, got %+v (was %+v)", now, worker)
	}
	if now := e.container("web"); now.Image != web.Image || slices.Contains(now.Env, "UNHEALTHY=1") {
		t.Errorf("web after the undo: %+v", now)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched")
	}
	if got := e.get(); got != "content v1\n" {
		t.Errorf("web serves %q after the undo", got)
	}
}

// TestRollbackRestoresAddedAndRemovedServices (issue 12.1): /docker_rollback of a
// deploy that added cache and removed worker removes cache and brings worker back.
func TestRollbackRestoresAddedAndRemovedServices(t *testing.T) {
	e := newSharedEnv(t, true)
	db := e.container("db")
	e.editCompose("  db:\n", "  cache:\n    image: "+e.image+"\n  db:\n")
	e.removeService("worker")
	e.mustSucceed(e.deploy())
	e.waitHealthy("cache")
	if ids := e.containersOf("worker"); len(ids) != 0 {
		t.Fatalf("worker not removed by the deploy: %v", ids)
	}

	e.mustSucceed(e.rollback())
	if ids := e.containersOf("cache"); len(ids) != 0 {
		t.Errorf("cache still has containers %v after the rollback", ids)
	}
	e.waitHealthy("worker")
	if !slices.Contains(e.container("worker").Env, "VERSION=worker1") {
		t.Errorf("worker is back with another config")
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched")
	}
}

// TestFailedBuildDeployLeavesNoImage (issue 12.8): a deploy that built a new image and
// failed its gate removes that image when it is undone; the old one keeps its tag.
func TestFailedBuildDeployLeavesNoImage(t *testing.T) {
	e := newSharedEnv(t, true)
	web := e.container("web")
	marker := dockertest.UniqueName(t, "build")
	e.edit("Dockerfile", "FROM "+e.image+"\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.build="+marker+"\n")
	e.editCompose("VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	d := e.deploy()
	if d.Status != DeployFailedRolledBack {
		t.Fatalf("deploy %s (%s), want failed_rolled_back", d.Status, d.Error)
	}
	res, err := e.cli.ImageList(context.Background(), client.ImageListOptions{All: true, Filters: client.Filters{}.Add("label", "scar.test.build="+marker)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 0 {
		t.Errorf("the failed deploy's image is left: %s %v", res.Items[0].ID, res.Items[0].RepoTags)
	}
	img, err := e.cli.ImageInspect(context.Background(), e.p.Name+"-web:latest")
	if err != nil || img.ID != web.Image {
		t.Errorf("%s-web:latest is %s (%v), want the old image %s", e.p.Name, img.ID, err, web.Image)
	}
}

// TestFailedDeployLeavesNoRollbackTag (issue 12.8, review): the rollback tag a failed
// deploy put on the running image goes with its backup when the deploy is undone, so
// a failed deploy leaves no image name behind (each one used to add a
// scar-rollback/<project>/web:<id> until the next successful deploy).
func TestFailedDeployLeavesNoRollbackTag(t *testing.T) {
	e := newSharedEnv(t, true)
	e.edit("Dockerfile", "FROM "+e.image+"\nCOPY baked.txt /srv/baked.txt\nLABEL scar.test.version=2\n")
	e.editCompose("VERSION: v1", "VERSION: v2\n      UNHEALTHY: \"1\"")
	d := e.deploy()
	if d.Status != DeployFailedRolledBack {
		t.Fatalf("deploy %s (%s), want failed_rolled_back", d.Status, d.Error)
	}
	if img, err := e.cli.ImageInspect(context.Background(), rollbackTag(e.p.Name, "web", d.ID)); err == nil {
		t.Errorf("the failed deploy's rollback tag %s is left on %s", rollbackTag(e.p.Name, "web", d.ID), img.ID)
	}
}

// removeService deletes a service's block from the workspace's Compose file.
func (e *deployEnv) removeService(name string) {
	e.t.Helper()
	path := e.p.Workspace + "/docker-compose.yml"
	b := readFile(e.t, path)
	lines := strings.Split(b, "\n")
	var out []string
	skip := false
	for _, l := range lines {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "    ") {
			skip = l == "  "+name+":"
		}
		if !skip {
			out = append(out, l)
		}
	}
	writeFile(e.t, path, strings.Join(out, "\n"))
}

// TestDeployRunsOnlyTheConfirmedPlan (issue 12.8): a deploy confirmed for a plan runs
// only while the plan is the same; after a workspace edit it deploys nothing and
// returns the new plan, which can then be confirmed.
func TestDeployRunsOnlyTheConfirmedPlan(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.edit("content/index.txt", "content v2\n")
	shown := e.plan()
	if shown.Fingerprint == "" {
		t.Fatal("the plan has no fingerprint")
	}
	if again := e.plan(); again.Fingerprint != shown.Fingerprint {
		t.Fatalf("the same plan twice has two fingerprints: %s, %s", shown.Fingerprint, again.Fingerprint)
	}
	prodBefore := treeHash(t, e.p.Production)
	e.edit("content/index.txt", "content v3\n")

	_, err := e.svc.Deploy(WithConfirmedPlan(context.Background(), shown.Fingerprint), e.p.Name, Actor{Name: "test"}, nil)
	changed, ok := errors.AsType[*PlanChangedError](err)
	if !ok || !errors.Is(err, ErrPlanChanged) {
		t.Fatalf("deploy of a changed plan: %v, want a PlanChangedError", err)
	}
	if changed.Plan.Fingerprint == shown.Fingerprint || changed.Plan.Fingerprint == "" {
		t.Errorf("the new plan's fingerprint %q, shown %q", changed.Plan.Fingerprint, shown.Fingerprint)
	}
	if got := treeHash(t, e.p.Production); got != prodBefore {
		t.Errorf("production changed by a refused deploy")
	}

	d, err := e.svc.Deploy(WithConfirmedPlan(context.Background(), changed.Plan.Fingerprint), e.p.Name, Actor{Name: "test"}, nil)
	if err != nil {
		t.Fatalf("deploy of the new plan, confirmed: %v", err)
	}
	e.mustSucceed(e.wait(d.ID))
	if got := e.get(); got != "content v3\n" {
		t.Errorf("web serves %q", got)
	}
}

// TestDeployComposeNamingAnAddedEnvFile: a Compose change that names an env_file the
// same deploy adds cannot be read against production before the sync; the plan falls
// back to reading it in the workspace, recreates the services whose config may have
// changed (saying so), leaves db alone, and the deploy applies it.
func TestDeployComposeNamingAnAddedEnvFile(t *testing.T) {
	e := newSharedEnv(t, true)
	// A *.env file is production's own unless the project deploys environment files
	// (issue 12.3): without the key it is kept, and Compose finds no env_file.
	e.p.DeployEnvFiles = true
	db := e.container("db")
	// In the bind-mounted directory, so that it is no reason to rebuild.
	e.edit("content/worker.env", "FROM_ENV_FILE=yes\n")
	e.editCompose("  worker:\n", "  worker:\n    env_file: ./content/worker.env\n")
	p := e.plan()
	wantActions(t, p, map[string]string{"worker": ActionRecreate, "db": ActionNone})
	if p.Rebuild {
		t.Errorf("rebuild: %s", p.RebuildReason)
	}
	for _, a := range p.ServiceActions {
		if a.Service == "worker" && !strings.Contains(a.Reason, "may have changed") {
			t.Errorf("worker's reason %q does not say the plan could not compare with production", a.Reason)
		}
	}
	e.mustSucceed(e.deploy())
	if env := e.container("worker").Env; !slices.Contains(env, "FROM_ENV_FILE=yes") {
		t.Errorf("worker env %v lacks the env_file's variable", env)
	}
	if !sameContainer(e.container("db"), db) {
		t.Errorf("db was touched")
	}
}

// TestDeployServicesKeyLimitsTheDeploy: with the project's services key, a service
// outside it is left as it is, and the plan says what it would have got.
func TestDeployServicesKeyLimitsTheDeploy(t *testing.T) {
	e := newSharedEnv(t, true)
	e.p.Services = []string{"web"}
	worker := e.container("worker")
	e.edit("content/index.txt", "content v2\n")
	e.editCompose("VERSION: worker1", "VERSION: worker2")
	p := e.plan()
	wantActions(t, p, map[string]string{"web": ActionRestart, "worker": ActionNone, "db": ActionNone})
	for _, a := range p.ServiceActions {
		if a.Service == "worker" && !strings.Contains(a.Reason, "would recreate") {
			t.Errorf("worker's reason %q does not say what it would have got", a.Reason)
		}
	}
	e.mustSucceed(e.deploy())
	if !sameContainer(e.container("worker"), worker) {
		t.Errorf("worker, outside the services key, was touched")
	}
}
