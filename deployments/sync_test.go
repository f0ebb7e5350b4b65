package deployments

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/scar-dev/scar/projects"
)

// TestDeploy deploys and checks production entry by entry: what the workspace has is
// there with its bytes, mode, mtime or link target; what it should not touch is as it
// was; a second plan finds nothing to do.
func TestDeploy(t *testing.T) {
	tests := []struct {
		name    string
		ws      map[string]string
		prod    map[string]string
		project func(p *projects.Project)
		// prepare runs before the deploys; edit after a first deploy, and the second
		// deploy is the one checked.
		prepare, edit func(f *fixture)
		// gone must not exist after the deploy; kept must be as before it.
		gone, kept []string
	}{
		{
			name: "add and change into an existing production",
			ws:   map[string]string{"app.py": "v2 code", "lib/util.py": "u", "static/": "", "README": "r"},
			prod: map[string]string{"app.py": "v1", "README": "r", ".env": "SECRET=1", "data/db": "rows"},
			kept: []string{".env", "data/db", "data"},
		},
		{
			name: "removed files stay without delete_removed",
			ws:   map[string]string{"a.py": "a", "old.py": "o"},
			edit: func(f *fixture) { os.Remove(filepath.Join(f.ws, "old.py")) },
			kept: []string{"old.py"},
		},
		{
			name:    "removed files go with delete_removed; files no deploy wrote stay",
			ws:      map[string]string{"a.py": "a", "old.py": "o", "pkg/old.py": "p"},
			prod:    map[string]string{".env": "SECRET=1", "uploads/1.png": "png", "notes.txt": "ops notes"},
			project: func(p *projects.Project) { p.DeleteRemoved = true },
			edit: func(f *fixture) {
				os.Remove(filepath.Join(f.ws, "old.py"))
				os.RemoveAll(filepath.Join(f.ws, "pkg"))
			},
			gone: []string{"old.py", "pkg/old.py"},
			kept: []string{".env", "uploads/1.png", "notes.txt"},
		},
		{
			name:    "mode and mtime kept, setuid included with deploy_setuid",
			project: func(p *projects.Project) { p.DeploySetuid = true },
			ws:      map[string]string{"run.sh": "#!/bin/sh", "secret": "s", "tool": "t", "bin/": ""},
			prepare: func(f *fixture) {
				chmod(f.t, filepath.Join(f.ws, "run.sh"), 0o755)
				chmod(f.t, filepath.Join(f.ws, "secret"), 0o600)
				chmod(f.t, filepath.Join(f.ws, "tool"), fs.ModeSetuid|0o755)
				chmod(f.t, filepath.Join(f.ws, "bin"), 0o750)
				setMtime(f.t, filepath.Join(f.ws, "run.sh"), t1)
			},
		},
		{
			name: "symlinks inside the workspace are copied as symlinks",
			ws:   map[string]string{"real/a.txt": "a", "current": "->real", "real/up": "->../current/a.txt"},
		},
		{
			name: "a file replaced by a directory",
			ws:   map[string]string{"conf": "a file"},
			edit: func(f *fixture) {
				os.Remove(filepath.Join(f.ws, "conf"))
				writeTree(f.t, f.ws, map[string]string{"conf/app.ini": "x", "conf/deep/more.ini": "y"}, t0)
			},
		},
		{
			name:    "a directory replaced by a file",
			ws:      map[string]string{"conf/app.ini": "x", "conf/deep/more.ini": "y"},
			project: func(p *projects.Project) { p.DeleteRemoved = true },
			edit: func(f *fixture) {
				os.RemoveAll(filepath.Join(f.ws, "conf"))
				writeTree(f.t, f.ws, map[string]string{"conf": "a file now"}, t0)
			},
			gone: []string{"conf/app.ini"},
		},
		{
			name: "a symlink replaced by a file and a file by a symlink",
			ws:   map[string]string{"a": "->b", "b": "bee", "c": "see"},
			edit: func(f *fixture) {
				os.Remove(filepath.Join(f.ws, "a"))
				os.Remove(filepath.Join(f.ws, "c"))
				writeTree(f.t, f.ws, map[string]string{"a": "now a file", "c": "->b"}, t0)
			},
		},
		{
			name: "mtime-only changes are applied with a deploy",
			ws:   map[string]string{"same.txt": "same", "other.txt": "1"},
			edit: func(f *fixture) {
				setMtime(f.t, filepath.Join(f.ws, "same.txt"), t1)
				writeTree(f.t, f.ws, map[string]string{"other.txt": "22"}, t1)
			},
		},
		{
			name:    "names with dots are names",
			ws:      map[string]string{"...": "three dots", "..a": "x", "a..": "y", ".hidden/..b": "z"},
			project: func(p *projects.Project) { p.DeleteRemoved = true },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			writeTree(t, f.ws, tc.ws, t0)
			writeTree(t, f.prod, tc.prod, t0)
			if tc.project != nil {
				tc.project(&f.project)
			}
			if tc.prepare != nil {
				tc.prepare(f)
			}
			if tc.edit != nil {
				f.deploy()
				tc.edit(f)
			}
			before := treeState(t, f.prod)
			f.deploy()
			after := treeState(t, f.prod)

			for rel, want := range treeState(t, f.ws) {
				if got := after[rel]; got != want {
					t.Errorf("production %s = %q, want the workspace's %q", rel, got, want)
				}
			}
			for _, rel := range tc.gone {
				if _, ok := after[rel]; ok {
					t.Errorf("production still has %s", rel)
				}
			}
			for _, rel := range tc.kept {
				if after[rel] != before[rel] || before[rel] == "" {
					t.Errorf("production %s = %q, want it kept as %q", rel, after[rel], before[rel])
				}
			}
			if p := f.plan(); !p.Empty() || len(p.Touched) > 0 {
				t.Errorf("plan after the deploy is not empty: %+v", p)
			}
		})
	}
}

func TestSyncReportsProgress(t *testing.T) {
	f := newFixture(t)
	writeTree(t, f.ws, map[string]string{"a": "1", "b/c": "22", "b/d": "333", "l": "->a"}, t0)
	ctx := context.Background()
	p := f.plan()
	d, err := f.e.Begin(ctx, "p1", p)
	if err != nil {
		t.Fatal(err)
	}
	var got []Progress
	if err := d.Sync(ctx, func(p Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d progress reports, want one at the start and one per file: %+v", len(got), got)
	}
	last := got[len(got)-1]
	if want := (Progress{FilesDone: 4, FilesTotal: 4, BytesDone: 6, BytesTotal: 6}); last != want {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].FilesDone != got[i-1].FilesDone+1 {
			t.Errorf("progress %d: files done %d after %d", i, got[i].FilesDone, got[i-1].FilesDone)
		}
	}
	if err := d.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// changedTree sets up a production that a deploy will change in every way: overwrite,
// add (in new directories), delete, replace a file by a directory, and touch.
func changedTree(t testing.TB, f *fixture) {
	t.Helper()
	f.project.DeleteRemoved = true
	writeTree(t, f.ws, map[string]string{
		"a.py": "v1", "b.py": "b", "old.py": "old", "conf": "file", "same.txt": "same", "link": "->a.py",
	}, t0)
	writeTree(t, f.prod, map[string]string{".env": "SECRET", "data/db": "rows"}, t0)
	f.deploy()
	os.Remove(filepath.Join(f.ws, "old.py"))
	os.Remove(filepath.Join(f.ws, "conf"))
	os.Remove(filepath.Join(f.ws, "link"))
	writeTree(t, f.ws, map[string]string{
		"a.py": "version two", "new/deep/n.py": "n", "new/m.py": "m", "conf/app.ini": "ini", "link": "->b.py",
	}, t1)
	setMtime(t, filepath.Join(f.ws, "same.txt"), t1)
}

// TestSyncFailurePartWayRestores fails the sync at each kind of step and checks that
// production is byte for byte as before, the error names the file, and nothing of the
// deploy is left (no journal, no backup).
func TestSyncFailurePartWayRestores(t *testing.T) {
	injected := errors.New("injected failure")
	tests := []struct {
		name, step, path string
	}{
		{"deleting", "delete", "old.py"},
		{"creating a directory", "mkdir", "new/deep"},
		{"writing a file", "write", "new/m.py"},
		{"after renaming a file", "rename", "a.py"},
		{"writing a symlink", "write", "link"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			changedTree(t, f)
			ctx := context.Background()
			before := treeState(t, f.prod)
			f.e.hook = func(step, rel string) error {
				if step == tc.step && rel == tc.path {
					return injected
				}
				return nil
			}
			d, err := f.e.Begin(ctx, "fail1", f.plan())
			if err != nil {
				t.Fatal(err)
			}
			err = d.Sync(ctx, nil)
			var fe *FileError
			if !errors.Is(err, injected) || !errors.As(err, &fe) || fe.Path != tc.path {
				t.Fatalf("sync = %v; want the injected failure naming %s", err, tc.path)
			}
			if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
				t.Errorf("production not restored:\n%s", diff)
			}
			assertNoDeployLeft(t, f)
			if err := d.Undo(ctx); err != nil {
				t.Errorf("undo after a failed sync: %v; want nothing left to do", err)
			}
		})
	}
}

func TestSyncOfAVanishedFileRestores(t *testing.T) {
	f := newFixture(t)
	changedTree(t, f)
	ctx := context.Background()
	before := treeState(t, f.prod)
	d, err := f.e.Begin(ctx, "v1", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.ws, "new", "m.py"))
	err = d.Sync(ctx, nil)
	var fe *FileError
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &fe) || fe.Path != "new/m.py" {
		t.Fatalf("sync = %v; want a not-exist error naming new/m.py", err)
	}
	if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
		t.Errorf("production not restored:\n%s", diff)
	}
	assertNoDeployLeft(t, f)
}

// TestSyncOnAFullFileSystemRestores deploys into a 1 MiB tmpfs: the sync runs out of
// space part-way and must leave production as it was.
func TestSyncOnAFullFileSystemRestores(t *testing.T) {
	f := newFixture(t)
	if err := syscall.Mount("tmpfs", f.prod, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v); the injected failures cover the restore", err)
	}
	t.Cleanup(func() { syscall.Unmount(f.prod, 0) })
	writeTree(t, f.prod, map[string]string{"a.bin": strings.Repeat("a", 300<<10), ".env": "SECRET"}, t0)
	big := strings.Repeat("b", 200<<10)
	ws := map[string]string{"a.bin": strings.Repeat("A", 300<<10)}
	for _, n := range []string{"1", "2", "3", "4", "5", "6"} {
		ws["big/"+n+".bin"] = big
	}
	writeTree(t, f.ws, ws, t1)
	before := treeState(t, f.prod)
	ctx := context.Background()
	d, err := f.e.Begin(ctx, "full1", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Sync(ctx, nil)
	var fe *FileError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &fe) {
		t.Fatalf("sync = %v; want ENOSPC naming a file", err)
	}
	t.Log(err)
	if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
		t.Errorf("production not restored:\n%s", diff)
	}
	assertNoDeployLeft(t, f)
}

func TestUndoAfterSyncRestores(t *testing.T) {
	f := newFixture(t)
	changedTree(t, f)
	ctx := context.Background()
	before := treeState(t, f.prod)
	manifest, _ := f.e.loadManifest("shop")
	d, err := f.e.Begin(ctx, "u1", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Undo(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
		t.Errorf("production not restored:\n%s", diff)
	}
	if got, _ := f.e.loadManifest("shop"); !slices.Equal(got, manifest) {
		t.Errorf("manifest after undo %q, want %q", got, manifest)
	}
	assertNoDeployLeft(t, f)
}

func assertNoDeployLeft(t *testing.T, f *fixture) {
	t.Helper()
	js, err := f.db.Journals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 0 {
		t.Errorf("journals left: %+v", js)
	}
	kept, unkept, err := f.e.scanBackups("shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(unkept) != 0 {
		t.Errorf("backups of unfinished deploys left: %q (kept: %d)", unkept, len(kept))
	}
}

// TestSyncPermissionErrorRestores makes one production directory immutable (which
// stops root too), so the sync fails there after writing elsewhere.
func TestSyncPermissionErrorRestores(t *testing.T) {
	f := newFixture(t)
	writeTree(t, f.prod, map[string]string{"a.txt": "old a", "locked/l.txt": "old l"}, t0)
	writeTree(t, f.ws, map[string]string{"a.txt": "new a!", "b.txt": "b", "locked/l.txt": "new l!", "locked/m.txt": "m"}, t1)
	locked := filepath.Join(f.prod, "locked")
	if out, err := exec.Command("chattr", "+i", locked).CombinedOutput(); err != nil {
		t.Skipf("cannot make a directory immutable here (%v: %s); the injected failures cover the restore", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", locked).Run() })
	before := treeState(t, f.prod)
	ctx := context.Background()
	d, err := f.e.Begin(ctx, "perm1", f.plan())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Sync(ctx, nil)
	var fe *FileError
	if !errors.Is(err, syscall.EPERM) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "locked/") {
		t.Fatalf("sync = %v; want EPERM naming a file in locked/", err)
	}
	t.Log(err)
	if diff := diffStates(before, treeState(t, f.prod)); diff != "" {
		t.Errorf("production not restored:\n%s", diff)
	}
	assertNoDeployLeft(t, f)
}

func TestDeployKeepsOwnerAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can give files to another owner")
	}
	f := newFixture(t)
	writeTree(t, f.ws, map[string]string{"a.txt": "a", "dir/b.txt": "b", "link": "->a.txt"}, t0)
	for _, rel := range []string{"a.txt", "dir", "dir/b.txt"} {
		if err := os.Chown(filepath.Join(f.ws, rel), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Lchown(filepath.Join(f.ws, "link"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	f.deploy()
	for _, rel := range []string{"a.txt", "dir", "dir/b.txt", "link"} {
		fi, err := os.Lstat(filepath.Join(f.prod, rel))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("production %s owned by %d:%d, want 1234:5678", rel, st.Uid, st.Gid)
		}
	}
}
