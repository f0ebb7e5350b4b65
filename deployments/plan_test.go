package deployments

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/scar-dev/scar/projects"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		ws   map[string]string
		prod map[string]string
		// before runs after the trees are written: an earlier deploy, edits.
		before  func(f *fixture)
		project func(p *projects.Project)
		noProd  bool // production does not exist yet

		added, changed, deleted, dirs, touched []string
		bytes                                  int64
		rebuild                                bool
		reason                                 string
		compose                                []string
	}{
		{name: "empty trees"},
		{
			name: "identical trees",
			ws:   map[string]string{"a.txt": "a", "sub/b.txt": "bb", "link": "->a.txt"},
			prod: map[string]string{"a.txt": "a", "sub/b.txt": "bb", "link": "->a.txt"},
		},
		{
			name:   "everything added to a production that does not exist",
			ws:     map[string]string{"app.py": "print(1)", "web/static/x.css": "body{}", "empty/": ""},
			noProd: true,
			added:  []string{"app.py", "web/static/x.css"},
			dirs:   []string{"empty", "web", "web/static"},
			bytes:  int64(len("print(1)") + len("body{}")),
		},
		{
			name: "changed by size, by content at the same size, by mode, by link target",
			ws:   map[string]string{"size": "longer", "same": "new", "mode": "m", "link": "->size", "keep": "k"},
			prod: map[string]string{"size": "short", "same": "old", "mode": "m", "link": "->same", "keep": "k"},
			before: func(f *fixture) {
				chmod(f.t, filepath.Join(f.ws, "mode"), 0o755)
				setMtime(f.t, filepath.Join(f.ws, "same"), t1)
			},
			changed: []string{"link", "mode", "same", "size"},
			bytes:   int64(len("longer") + len("new") + len("m")),
		},
		{
			name:    "same bytes with another mtime is only touched",
			ws:      map[string]string{"a.txt": "same"},
			prod:    map[string]string{"a.txt": "same"},
			before:  func(f *fixture) { setMtime(f.t, filepath.Join(f.ws, "a.txt"), t1) },
			touched: []string{"a.txt"},
		},
		{
			name: "removed from the workspace, delete_removed off: kept",
			ws:   map[string]string{"gone.txt": "x", "stay.txt": "y"},
			before: func(f *fixture) {
				f.deploy()
				os.Remove(filepath.Join(f.ws, "gone.txt"))
			},
		},
		{
			name: "removed from the workspace, delete_removed on: deleted, but only what a deploy wrote",
			ws:   map[string]string{"gone.txt": "x", "old/gone.py": "y", "stay.txt": "z"},
			prod: map[string]string{".env": "SECRET=1", "data/db.sqlite": "rows", "stay.txt": "z"},
			before: func(f *fixture) {
				f.deploy()
				os.Remove(filepath.Join(f.ws, "gone.txt"))
				os.RemoveAll(filepath.Join(f.ws, "old"))
			},
			project: func(p *projects.Project) { p.DeleteRemoved = true },
			deleted: []string{"gone.txt", "old/gone.py"},
		},
		{
			name: "excluded by default and by the project, in either tree",
			ws: map[string]string{
				".git/HEAD": "ref", "pkg/__pycache__/m.cpython.pyc": "b", "x.pyc": "c",
				"logs/app.log": "l", "build/out.bin": "o", "tmp/t": "t", "a/tmp/t": "t",
				"keep.log": "k", "main.py": "m",
			},
			prod:    map[string]string{".git/HEAD": "other", "logs/app.log": "production log"},
			project: func(p *projects.Project) { p.Exclude = []string{"*.log", "!keep.log", "build/", "**/tmp"} },
			added:   []string{"keep.log", "main.py"},
			dirs:    []string{"a", "pkg"},
			bytes:   2,
		},
		{
			name:    "a dependency file asks for a rebuild",
			ws:      map[string]string{"requirements.txt": "flask==3.0", "app.py": "x"},
			prod:    map[string]string{"requirements.txt": "flask==2", "app.py": "x"},
			changed: []string{"requirements.txt"},
			bytes:   10,
			rebuild: true,
			reason:  "dependency file changed: requirements.txt",
		},
		{
			name:    "a Compose file asks for a rebuild and is reported",
			ws:      map[string]string{"docker-compose.yml": "services: {a: {}}", "svc/Dockerfile": "FROM scratch"},
			added:   []string{"docker-compose.yml", "svc/Dockerfile"},
			dirs:    []string{"svc"},
			bytes:   29,
			rebuild: true,
			reason:  "Compose file changed: docker-compose.yml and 1 more",
			compose: []string{"docker-compose.yml"},
		},
		{
			name:    "rebuild_on",
			ws:      map[string]string{"src/schema.sql": "create"},
			project: func(p *projects.Project) { p.RebuildOn = []string{"*.sql"} },
			added:   []string{"src/schema.sql"},
			dirs:    []string{"src"},
			bytes:   6,
			rebuild: true,
			reason:  "rebuild_on file changed: src/schema.sql",
		},
		{
			name:    "rebuild always",
			ws:      map[string]string{"app.py": "x"},
			project: func(p *projects.Project) { p.Rebuild = projects.RebuildAlways },
			added:   []string{"app.py"},
			bytes:   1,
			rebuild: true,
			reason:  "rebuild: always",
		},
		{
			name:    "rebuild never",
			ws:      map[string]string{"Dockerfile": "FROM scratch"},
			project: func(p *projects.Project) { p.Rebuild = projects.RebuildNever },
			added:   []string{"Dockerfile"},
			bytes:   12,
		},
		{
			name:    "a production file where the workspace has a directory",
			ws:      map[string]string{"conf/app.ini": "x"},
			prod:    map[string]string{"conf": "was a file"},
			added:   []string{"conf/app.ini"},
			changed: []string{"conf"},
			dirs:    []string{"conf"},
			bytes:   1,
		},
		{
			name:    "symlinks inside the workspace are planned as symlinks",
			ws:      map[string]string{"real/a.txt": "a", "l1": "->real/a.txt", "real/l2": "->../l1", "dangling": "->not/yet"},
			prod:    map[string]string{"real/a.txt": "a"},
			added:   []string{"dangling", "l1", "real/l2"},
			project: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			writeTree(t, f.ws, tc.ws, t0)
			writeTree(t, f.prod, tc.prod, t0)
			if tc.noProd {
				os.Remove(f.prod)
			}
			if tc.project != nil {
				tc.project(&f.project)
			}
			if tc.before != nil {
				tc.before(f)
			}
			p := f.plan()
			check := func(what string, got, want []string) {
				t.Helper()
				if !slices.Equal(orEmpty(got), orEmpty(want)) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			check("added", p.Added, tc.added)
			check("changed", p.Changed, tc.changed)
			check("deleted", p.Deleted, tc.deleted)
			check("dirs", p.Dirs, tc.dirs)
			check("touched", p.Touched, tc.touched)
			check("compose files", p.ComposeFiles, tc.compose)
			if p.Bytes != tc.bytes {
				t.Errorf("bytes = %d, want %d", p.Bytes, tc.bytes)
			}
			if p.Rebuild != tc.rebuild || p.RebuildReason != tc.reason {
				t.Errorf("rebuild = %v %q, want %v %q", p.Rebuild, p.RebuildReason, tc.rebuild, tc.reason)
			}
			wantEmpty := len(tc.added)+len(tc.changed)+len(tc.deleted)+len(tc.dirs) == 0
			if p.Empty() != wantEmpty {
				t.Errorf("Empty() = %v, want %v", p.Empty(), wantEmpty)
			}
		})
	}
}

func TestPlanRefuses(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		setup   func(f *fixture)
		project func(p *projects.Project)
		path    string // the path the refusal must name
	}{
		{
			name:  "a workspace symlink to an absolute path outside",
			setup: func(f *fixture) { writeTree(f.t, f.ws, map[string]string{"l": "->" + outside}, t0) },
			path:  "l",
		},
		{
			name: "a workspace symlink to an absolute path inside (production would point at the workspace)",
			setup: func(f *fixture) {
				writeTree(f.t, f.ws, map[string]string{"a": "x", "l": "->" + filepath.Join(f.ws, "a")}, t0)
			},
			path: "l",
		},
		{
			name:  "a workspace symlink climbing out with ../",
			setup: func(f *fixture) { writeTree(f.t, f.ws, map[string]string{"sub/l": "->../../etc/passwd"}, t0) },
			path:  "sub/l",
		},
		{
			name: "a workspace symlink that climbs out through another link",
			setup: func(f *fixture) {
				writeTree(f.t, f.ws, map[string]string{"s/up": "->..", "s/x": "x", "esc": "->s/up/../x"}, t0)
			},
			path: "esc",
		},
		{
			name: "a FIFO in the workspace",
			setup: func(f *fixture) {
				if err := syscall.Mkfifo(filepath.Join(f.ws, "pipe"), 0o644); err != nil {
					f.t.Fatal(err)
				}
			},
			path: "pipe",
		},
		{
			name: "a FIFO in production where the workspace has a file",
			setup: func(f *fixture) {
				writeTree(f.t, f.ws, map[string]string{"pipe": "x"}, t0)
				if err := syscall.Mkfifo(filepath.Join(f.prod, "pipe"), 0o644); err != nil {
					f.t.Fatal(err)
				}
			},
			path: "pipe",
		},
		{
			name: "a production symlink where the workspace has a directory",
			setup: func(f *fixture) {
				writeTree(f.t, f.ws, map[string]string{"data/x": "x"}, t0)
				writeTree(f.t, f.prod, map[string]string{"data": "->" + outside}, t0)
			},
			path: "data",
		},
		{
			name: "a production directory holding files no deploy wrote, where the workspace has a file",
			setup: func(f *fixture) {
				writeTree(f.t, f.ws, map[string]string{"conf": "now a file"}, t0)
				writeTree(f.t, f.prod, map[string]string{"conf/local.ini": "mine"}, t0)
			},
			project: func(p *projects.Project) { p.DeleteRemoved = true },
			path:    "conf",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.setup(f)
			if tc.project != nil {
				tc.project(&f.project)
			}
			_, err := f.e.Plan(context.Background(), &f.project)
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("plan = %v; want a refusal", err)
			}
			if re.Path != tc.path {
				t.Errorf("refusal names %q, want %q (%v)", re.Path, tc.path, err)
			}
			t.Log(err)
		})
	}
}

func TestPlanRefusesOverlappingTrees(t *testing.T) {
	f := newFixture(t)
	f.project.Production = filepath.Join(f.ws, "prod")
	if _, err := f.e.Plan(context.Background(), &f.project); err == nil {
		t.Fatal("plan with production inside the workspace succeeded")
	}
	f.project.Production = "relative/prod"
	if _, err := f.e.Plan(context.Background(), &f.project); err == nil {
		t.Fatal("plan with a relative production path succeeded")
	}
}

func chmod(t testing.TB, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func setMtime(t testing.TB, p string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
