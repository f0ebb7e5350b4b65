package gitsource_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// TestCheckoutIsPlannedByTheWorkspaceRules: a checkout is deployed by the deploy file
// engine's rules, unchanged: a committed symlink to /etc is refused as it is in a
// workspace, and once it is gone the plan of a checkout with hostile-looking names
// (`..\x`, `-rf`) is the plan of a workspace holding the same files. .git is never
// deployed.
func TestCheckoutIsPlannedByTheWorkspaceRules(t *testing.T) {
	r := newRemote(t)
	files := map[string]string{"app.txt": "1", `..\x`: "dots", "-rf": "dash", "sub/a.txt": "a"}
	withLink := map[string]string{"etc": "->/etc"}
	for k, v := range files {
		withLink[k] = v
	}
	r.commit("with a link out", withLink)
	r.push("main")
	src := newSource(t)
	ctx := t.Context()
	if _, err := src.Checkout(ctx, "shop", r.git(), ""); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(src.Dir("shop"), "etc")); err != nil || target != "/etc" {
		t.Fatalf("the checkout's etc link = %q, %v", target, err)
	}

	state := t.TempDir()
	db, err := store.Open(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	eng, err := deployments.New(deployments.Config{StateDir: state, Journal: db, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// A workspace with the same files, made by hand, is planned by the same engine.
	ws := t.TempDir()
	if out, err := exec.Command("cp", "-a", src.Dir("shop")+"/.", ws).CombinedOutput(); err != nil {
		t.Fatalf("copying the checkout: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(ws, ".git"))
	plan := func(workspace string) (*deployments.Plan, error) {
		prod := t.TempDir()
		return eng.Plan(ctx, &projects.Project{Name: "shop", Workspace: workspace, Production: prod, Rebuild: projects.RebuildAuto})
	}

	_, errCheckout := plan(src.Dir("shop"))
	_, errWS := plan(ws)
	if !errors.Is(errCheckout, deployments.ErrRefused) || !strings.Contains(errCheckout.Error(), "etc") {
		t.Errorf("plan of a checkout with a link to /etc: %v; want it refused", errCheckout)
	}
	if errWS == nil || errCheckout == nil || errWS.Error() != errCheckout.Error() {
		t.Errorf("the checkout's plan error %q differs from a workspace's %q", errCheckout, errWS)
	}

	os.Remove(filepath.Join(r.work, "etc"))
	r.commit("no link", nil)
	r.push("main")
	if _, err := src.Checkout(ctx, "shop", r.git(), ""); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(ws, "etc"))
	pc, err := plan(src.Dir("shop"))
	if err != nil {
		t.Fatalf("plan of the checkout: %v", err)
	}
	pw, err := plan(ws)
	if err != nil {
		t.Fatalf("plan of the workspace: %v", err)
	}
	want := []string{"-rf", `..\x`, "app.txt", "sub/a.txt"}
	if !slices.Equal(pc.Added, pw.Added) || !slices.Equal(pc.Added, want) {
		t.Errorf("the checkout's plan adds %q, a workspace's %q; want %q", pc.Added, pw.Added, want)
	}
}
