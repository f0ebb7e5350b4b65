package deployments

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Fixed mtimes, so that trees written by tests compare as the test means them to.
var (
	t0 = time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)
	t1 = time.Date(2025, 6, 7, 8, 9, 10, 1100, time.UTC)
)

// fixture is a workspace, a production directory, a state directory with a real
// SQLite store, and an Engine on them.
type fixture struct {
	t                     testing.TB
	e                     *Engine
	db                    *store.DB
	root, ws, prod, state string
	project               projects.Project
	ids                   int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{t: t, root: root, ws: filepath.Join(root, "ws"), prod: filepath.Join(root, "prod"), state: filepath.Join(root, "state")}
	for _, d := range []string{f.ws, f.prod} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.project = newFixtureProject(f)
	f.open()
	return f
}

func newFixtureProject(f *fixture) projects.Project {
	return projects.Project{Name: "shop", Workspace: f.ws, Production: f.prod, Rebuild: projects.RebuildAuto}
}

// open opens the store and an Engine on the state directory, as a fresh start does.
func (f *fixture) open() {
	f.t.Helper()
	db, err := store.Open(context.Background(), f.state)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { db.Close() })
	e, err := New(Config{StateDir: f.state, Journal: db, Workers: 4})
	if err != nil {
		f.t.Fatal(err)
	}
	f.db, f.e = db, e
}

func (f *fixture) nextID() string {
	f.ids++
	return fmt.Sprintf("d%d", f.ids)
}

func (f *fixture) plan() *Plan {
	f.t.Helper()
	p, err := f.e.Plan(context.Background(), &f.project)
	if err != nil {
		f.t.Fatalf("plan: %v", err)
	}
	return p
}

// deploy plans, backs up, syncs and commits, failing the test on any error.
func (f *fixture) deploy() *Plan {
	f.t.Helper()
	ctx := context.Background()
	p := f.plan()
	if p.Empty() {
		return p
	}
	d, err := f.e.Begin(ctx, f.nextID(), p)
	if err != nil {
		f.t.Fatalf("begin: %v", err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	if err := d.Commit(ctx); err != nil {
		f.t.Fatalf("commit: %v", err)
	}
	return p
}

// writeTree creates a tree under root: a key ending in / is a directory, a value
// starting with -> a symlink to the rest, anything else a file with that content and
// the given mtime.
func writeTree(t testing.TB, root string, tree map[string]string, mtime time.Time) {
	t.Helper()
	for _, rel := range slices.Sorted(maps.Keys(tree)) {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(rel, "/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		v := tree[rel]
		switch {
		case strings.HasSuffix(rel, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(v, "->"):
			if err := os.Symlink(strings.TrimPrefix(v, "->"), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// treeState describes every entry under root without following symlinks: type,
// permission bits, and for a file its SHA-256 and mtime, for a symlink its target.
func treeState(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %v", fi.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %v %x %d", fi.Mode()&permBits, sha256.Sum256(data), fi.ModTime().UnixNano())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffStates lists how two tree states differ, for a readable failure.
func diffStates(want, got map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "  missing %s (%s)\n", k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "  changed %s: %s -> %s\n", k, want[k], g)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  extra %s (%s)\n", k, got[k])
		}
	}
	return b.String()
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
