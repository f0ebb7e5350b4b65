package deployments

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// settle waits until what the trees hold is old enough for a plan to cache it.
func settle() { time.Sleep(racyWindow + 100*time.Millisecond) }

// editInPlace rewrites a file through its own inode with new bytes of the same size and
// sets its mtime back: only its ctime tells.
func editInPlace(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != fi.Size() {
		t.Fatalf("edit of %s: %d bytes for a file of %d", p, len(content), fi.Size())
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(p)
	if err != nil || !after.ModTime().Equal(fi.ModTime()) || after.Size() != fi.Size() {
		t.Fatalf("edit of %s did not keep size and mtime: %v", p, err)
	}
}

// A plan after a cached one must see a file edited in place at the same size with its
// mtime set back, on either side, though size and mtime still match the other side's.
func TestPlanCacheSeesInPlaceEditWithMtimeRestored(t *testing.T) {
	for _, side := range []string{"workspace", "production"} {
		t.Run(side, func(t *testing.T) {
			f := newFixture(t)
			tree := map[string]string{"app/deep/er/config.py": "debug = False", "app/other.py": "x = 1"}
			writeTree(t, f.ws, tree, t1)
			f.deploy()
			settle()
			if p := f.plan(); !p.Empty() || len(p.Touched) != 0 {
				t.Fatalf("plan after the deploy: %+v", p)
			}
			root := f.ws
			if side == "production" {
				root = f.prod
			}
			editInPlace(t, filepath.Join(root, "app/deep/er/config.py"), "debug = True!")
			p := f.plan()
			if !slices.Equal(p.Changed, []string{"app/deep/er/config.py"}) || len(p.Added)+len(p.Deleted) != 0 {
				t.Fatalf("plan after the edit: changed %v added %v deleted %v, want changed [app/deep/er/config.py]", p.Changed, p.Added, p.Deleted)
			}
			// And again: the edit is not forgotten once a plan has seen it.
			if p := f.plan(); !slices.Equal(p.Changed, []string{"app/deep/er/config.py"}) {
				t.Fatalf("second plan after the edit: changed %v", p.Changed)
			}
		})
	}
}

// A file added or removed deep in a subtree a cached plan read is seen by the next plan.
func TestPlanCacheSeesDeepAddAndRemove(t *testing.T) {
	f := newFixture(t)
	f.project.DeleteRemoved = true
	writeTree(t, f.ws, map[string]string{"a/b/c/d/old.py": "old", "a/b/c/d/keep.py": "keep", "top.py": "t"}, t1)
	f.deploy()
	settle()
	if p := f.plan(); !p.Empty() {
		t.Fatalf("plan after the deploy: %+v", p)
	}
	writeTree(t, f.ws, map[string]string{"a/b/c/d/new.py": "new"}, t1)
	if p := f.plan(); !slices.Equal(p.Added, []string{"a/b/c/d/new.py"}) || len(p.Changed)+len(p.Deleted) != 0 {
		t.Fatalf("plan after an add: added %v changed %v deleted %v", p.Added, p.Changed, p.Deleted)
	}
	f.deploy()
	settle()
	if p := f.plan(); !p.Empty() {
		t.Fatalf("plan after the second deploy: %+v", p)
	}
	if err := os.Remove(filepath.Join(f.ws, "a/b/c/d/old.py")); err != nil {
		t.Fatal(err)
	}
	if p := f.plan(); !slices.Equal(p.Deleted, []string{"a/b/c/d/old.py"}) || len(p.Added)+len(p.Changed) != 0 {
		t.Fatalf("plan after a removal: deleted %v added %v changed %v", p.Deleted, p.Added, p.Changed)
	}
}

// A manifest replaced since the last plan (by a deploy, or by hand) is read again.
func TestPlanCacheRereadsAReplacedManifest(t *testing.T) {
	f := newFixture(t)
	f.project.DeleteRemoved = true
	writeTree(t, f.ws, map[string]string{"a.py": "a", "b.py": "b"}, t1)
	f.deploy()
	settle()
	if p := f.plan(); !p.Empty() {
		t.Fatalf("plan after the deploy: %+v", p)
	}
	// b.py leaves the workspace; production keeps it. Only the manifest decides
	// whether a deploy deletes it: take it out of the manifest.
	if err := os.Remove(filepath.Join(f.ws, "b.py")); err != nil {
		t.Fatal(err)
	}
	if p := f.plan(); !slices.Equal(p.Deleted, []string{"b.py"}) {
		t.Fatalf("plan: deleted %v, want [b.py]", p.Deleted)
	}
	mf, err := f.e.loadManifestFile(f.project.Name)
	if err != nil {
		t.Fatal(err)
	}
	mf.Files = slices.DeleteFunc(mf.Files, func(s string) bool { return s == "b.py" })
	if err := f.e.saveManifest(f.project.Name, mf); err != nil {
		t.Fatal(err)
	}
	if p := f.plan(); len(p.Deleted) != 0 {
		t.Fatalf("plan after the manifest dropped b.py: deleted %v", p.Deleted)
	}
}
