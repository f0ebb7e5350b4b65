package dockerops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDeployWithoutAComposeFileRemovesNothing: a Compose project whose running
// services were started from a Compose file that neither the workspace nor
// production holds. Compose would read no file after the sync, so every service
// looked removed from it: the plan said "remove" for each and the deploy removed the
// running containers and called that a success (found by an OpenAPI test's fixture).
// Now the plan and the deploy are refused as misconfigured, saying what is missing,
// and nothing is touched.
func TestDeployWithoutAComposeFileRemovesNothing(t *testing.T) {
	e := newDeployEnv(t, nil)
	web, db := e.container("web"), e.container("db")
	prodFile := filepath.Join(e.p.Production, "docker-compose.yml")
	aside := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.Rename(prodFile, aside); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(aside, prodFile) }) // before the env's compose down
	if err := os.Remove(filepath.Join(e.p.Workspace, "docker-compose.yml")); err != nil {
		t.Fatal(err)
	}
	e.edit("content/index.txt", "content v2\n")

	ctx := context.Background()
	if plan, err := e.svc.PlanDeploy(ctx, e.p.Name); !errors.Is(err, ErrMisconfigured) {
		t.Errorf("plan without a Compose file: %+v, %v; want it refused as misconfigured", plan, err)
	}
	d, err := e.svc.Deploy(ctx, e.p.Name, Actor{Name: "test"}, nil)
	if !errors.Is(err, ErrMisconfigured) {
		if d != nil && d.ID != "" {
			d = e.wait(d.ID)
		}
		t.Fatalf("deploy without a Compose file: %+v, %v; want it refused as misconfigured", d, err)
	}
	t.Logf("refused: %v", err)
	if !sameContainer(e.container("web"), web) || !sameContainer(e.container("db"), db) {
		t.Errorf("a refused deploy touched the containers")
	}
	b, err := os.ReadFile(filepath.Join(e.p.Production, "content/index.txt"))
	if err != nil || string(b) != "content v1\n" {
		t.Errorf("production's content after a refused deploy: %q %v", b, err)
	}
}
