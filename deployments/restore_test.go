package deployments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

// TestRollbackWalksBackThroughKeptBackups deploys five versions that add, change and
// delete files, keeping three backups, then rolls back one deploy at a time: each
// rollback must leave production and the manifest exactly as they were before that
// deploy, until no backup is left.
func TestRollbackWalksBackThroughKeptBackups(t *testing.T) {
	f := newFixture(t)
	f.e.keep = 3
	f.project.DeleteRemoved = true
	writeTree(t, f.prod, map[string]string{".env": "SECRET", "data/db": "rows"}, t0)
	ctx := context.Background()

	type snapshot struct {
		tree     map[string]string
		manifest []string
	}
	var states []snapshot // states[i]: before deploy i+1
	var ids []string
	for v := 1; v <= 5; v++ {
		m, _ := f.e.loadManifest("shop")
		states = append(states, snapshot{treeState(t, f.prod), m})
		os.RemoveAll(f.ws)
		tree := map[string]string{
			"app.py":                         fmt.Sprintf("version %d", v),
			fmt.Sprintf("v%d/only.txt", v):   "only in this version",
			fmt.Sprintf("conf/%d.ini", v%2):  "alternating",
			fmt.Sprintf("link%d", v%2):       "->app.py",
			"requirements.txt":               fmt.Sprintf("flask==%d", v),
			fmt.Sprintf("stay%d.txt", v/2*2): "sometimes",
		}
		writeTree(t, f.ws, tree, t0.Add(time.Duration(v)*time.Second))
		f.deploy()
		ids = append(ids, fmt.Sprintf("d%d", v))
	}

	backups, err := f.e.Backups("shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range backups {
		got = append(got, b.DeployID)
	}
	if want := []string{"d5", "d4", "d3"}; !slices.Equal(got, want) {
		t.Fatalf("kept backups %q, want %q (newest first, three kept)", got, want)
	}
	if _, err := f.e.Rollback(ctx, "shop", "d3", "r0"); err == nil {
		t.Error("rollback of d3 while d5 is the last deploy succeeded")
	}

	for i := 4; i >= 2; i-- {
		rec, err := f.e.Rollback(ctx, "shop", "", fmt.Sprintf("r%d", i))
		if err != nil {
			t.Fatalf("rollback %d: %v", i, err)
		}
		if rec.DeployID != ids[i] {
			t.Errorf("rolled back %s, want %s", rec.DeployID, ids[i])
		}
		if diff := diffStates(states[i].tree, treeState(t, f.prod)); diff != "" {
			t.Errorf("after rolling back %s production differs from before it:\n%s", ids[i], diff)
		}
		if m, _ := f.e.loadManifest("shop"); !slices.Equal(m, states[i].manifest) {
			t.Errorf("after rolling back %s the manifest is %q, want %q", ids[i], m, states[i].manifest)
		}
	}
	if _, err := f.e.Rollback(ctx, "shop", "", "r-none"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("rollback with no backup left = %v, want ErrNoBackup", err)
	}
	assertNoDeployLeft(t, f)
}

// TestRecover leaves an interrupted deploy, an orphan backup and a kept backup, opens
// the state again as a fresh start does, and recovers.
func TestRecover(t *testing.T) {
	f := newFixture(t)
	changedTree(t, f)
	ctx := context.Background()
	before := treeState(t, f.prod)

	d, err := f.e.Begin(ctx, "interrupted", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Note(ctx, "image", "shop-web:scar-previous"); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	orphan := f.e.backupDir("shop", "orphan")
	writeTree(t, orphan, map[string]string{"files/a.py": "half a backup"}, t0)

	f.open() // a new start on the same state
	recs, err := f.e.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].DeployID != "interrupted" || recs[0].Notes["image"] != "shop-web:scar-previous" {
		t.Fatalf("recovered %+v; want the interrupted deploy with its note", recs)
	}
	if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
		t.Errorf("production not restored:\n%s", diff)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan backup still there: %v", err)
	}
	if b, _ := f.e.Backups("shop"); len(b) != 1 || b[0].DeployID != "d1" {
		t.Errorf("kept backups %+v; want the first deploy's kept", b)
	}
	assertNoDeployLeft(t, f)
	if recs, err := f.e.Recover(ctx); err != nil || len(recs) != 0 {
		t.Errorf("second recover = %+v, %v; want nothing to do", recs, err)
	}
}

func TestRecoverKeepsAJournalItCannotRead(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.db.PutJournal(ctx, "broken", "shop", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, f.e.backupDir("shop", "broken"), map[string]string{"files/x": "x"}, t0)
	_, err := f.e.Recover(ctx)
	if err == nil {
		t.Fatal("recover of a broken journal succeeded")
	}
	js, _ := f.db.Journals(ctx)
	if len(js) != 1 {
		t.Errorf("journals after a failed recover: %+v; want the broken one kept", js)
	}
	if _, err := os.Stat(f.e.backupDir("shop", "broken")); err != nil {
		t.Errorf("the backup of a journal not recovered was removed: %v", err)
	}
}

func TestNewNeedsStateAndJournal(t *testing.T) {
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := New(Config{Journal: db}); err == nil {
		t.Error("New without a state directory succeeded")
	}
	if _, err := New(Config{StateDir: t.TempDir()}); err == nil {
		t.Error("New without a journal succeeded")
	}
	e, err := New(Config{StateDir: filepath.Join(t.TempDir(), "state"), Journal: db})
	if err != nil {
		t.Fatal(err)
	}
	if e.keep != DefaultKeep || e.workers < 1 {
		t.Errorf("defaults: keep %d workers %d", e.keep, e.workers)
	}
}
