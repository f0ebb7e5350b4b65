package deployments

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestProductionSymlinksAreNotFollowed puts symlinks to a directory outside
// production in every place a deploy could follow them, also swapped in after the
// plan, and checks that nothing outside changes.
func TestProductionSymlinksAreNotFollowed(t *testing.T) {
	tests := []struct {
		name string
		ws   map[string]string
		// prod may use {out} for the outside directory's path.
		prod map[string]string
		// swap, if set, replaces production's sub directory by a symlink to the
		// outside before this stage: "begin" or "sync".
		swap    string
		wantErr bool
	}{
		{
			name: "a file symlink is replaced, its target untouched",
			ws:   map[string]string{"link.txt": "workspace"},
			prod: map[string]string{"link.txt": "->{out}/victim.txt"},
		},
		{
			name: "a directory symlink is replaced by the workspace's file",
			ws:   map[string]string{"out": "workspace"},
			prod: map[string]string{"out": "->{out}"},
		},
		{
			name:    "a directory swapped for a symlink between plan and begin",
			ws:      map[string]string{"sub/a.txt": "new a", "sub/new.txt": "n"},
			prod:    map[string]string{"sub/a.txt": "old"},
			swap:    "begin",
			wantErr: true,
		},
		{
			name:    "a directory swapped for a symlink between begin and sync",
			ws:      map[string]string{"sub/a.txt": "new a", "sub/new.txt": "n", "top.txt": "t"},
			prod:    map[string]string{"sub/a.txt": "old", "top.txt": "old top"},
			swap:    "sync",
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			out := filepath.Join(f.root, "outside")
			writeTree(t, out, map[string]string{"victim.txt": "victim", "a.txt": "outside a"}, t0)
			prod := map[string]string{}
			for k, v := range tc.prod {
				prod[k] = replaceOut(v, out)
			}
			writeTree(t, f.ws, tc.ws, t1)
			writeTree(t, f.prod, prod, t0)
			outBefore := treeState(t, out)
			swap := func() {
				sub := filepath.Join(f.prod, "sub")
				if err := os.Rename(sub, filepath.Join(f.root, "sub-moved")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(out, sub); err != nil {
					t.Fatal(err)
				}
			}

			ctx := context.Background()
			err := func() error {
				p, err := f.e.Plan(ctx, &f.project)
				if err != nil {
					return err
				}
				if tc.swap == "begin" {
					swap()
				}
				d, err := f.e.Begin(ctx, "s1", p)
				if err != nil {
					return err
				}
				if tc.swap == "sync" {
					swap()
				}
				if err := d.Sync(ctx, nil); err != nil {
					return err
				}
				return d.Commit(ctx)
			}()
			if (err != nil) != tc.wantErr {
				t.Fatalf("deploy error = %v, want error: %v", err, tc.wantErr)
			}
			t.Log(err)
			if diff := diffStates(outBefore, treeState(t, out)); diff != "" {
				t.Errorf("the directory outside production changed:\n%s", diff)
			}
			if err == nil {
				for rel, want := range treeState(t, f.ws) {
					if got := treeState(t, f.prod)[rel]; got != want {
						t.Errorf("production %s = %q, want %q", rel, got, want)
					}
				}
			}
		})
	}
}

func replaceOut(v, out string) string {
	const marker = "{out}"
	for i := 0; i+len(marker) <= len(v); i++ {
		if v[i:i+len(marker)] == marker {
			return v[:i] + out + v[i+len(marker):]
		}
	}
	return v
}

// TestDotDotNamesCannotEscape feeds ../ wherever a name comes from outside the walk:
// a tampered manifest, deploy and rollback ids, project names.
func TestDotDotNamesCannotEscape(t *testing.T) {
	f := newFixture(t)
	f.project.DeleteRemoved = true
	victim := filepath.Join(f.root, "victim.txt")
	writeTree(t, f.root, map[string]string{"victim.txt": "keep me"}, t0)
	writeTree(t, f.ws, map[string]string{"a.txt": "a"}, t0)
	f.deploy()
	manifest := []string{"../victim.txt", "a/../../victim.txt", "/" + victim, "./../victim.txt", ".."}
	hashes := map[string]string{}
	for _, m := range manifest {
		hashes[m] = "0"
	}
	if err := f.e.saveManifest("shop", &manifestFile{Files: manifest, Hashes: hashes}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(f.ws, "a.txt"))
	writeTree(t, f.ws, map[string]string{"b.txt": "b"}, t0)
	p := f.plan()
	if len(p.Deleted) != 0 {
		t.Errorf("deleted %q from a manifest of ../ names; want nothing", p.Deleted)
	}
	ctx := context.Background()
	for _, id := range []string{"../escape", "a/b", "..", ""} {
		if _, err := f.e.Begin(ctx, id, p); err == nil {
			t.Errorf("begin with deploy id %q succeeded", id)
		}
	}
	if _, err := f.e.Rollback(ctx, "shop", "", "../escape"); err == nil {
		t.Error("rollback with id ../escape succeeded")
	}
	if _, err := f.e.Rollback(ctx, "../shop", "", "r1"); err == nil {
		t.Error("rollback of project ../shop succeeded")
	}
	bad := f.project
	bad.Name = "../shop"
	if _, err := f.e.Plan(ctx, &bad); err == nil {
		t.Error("plan of project ../shop succeeded")
	}
	f.deploy()
	if got := readFile(t, victim); got != "keep me" {
		t.Errorf("victim outside production = %q", got)
	}
	if _, err := os.Stat(filepath.Join(f.root, "escape")); err == nil {
		t.Error("something named escape was created outside the state directory")
	}
}
