package deployments

// Issue 7's row "workspace with ../ names, absolute symlinks, symlink to /etc, a FIFO,
// a device file, a symlink swapped in during the copy: nothing read or written outside
// the two roots; clear error". Covered by:
//
//	../ names (manifest, deploy and rollback ids, project)   TestDotDotNamesCannotEscape
//	absolute and climbing symlinks, FIFOs                     TestPlanRefuses
//	production symlinks, swapped in before Begin or Sync      TestProductionSymlinksAreNotFollowed
//	symlinks to /etc, device files, swaps during the copy     TestFaultHostileWorkspace
//	the path checks themselves                                FuzzPathValidation
//
// and, through the whole deploy over REST (a refusal is HTTP 400), cmd/scar's
// TestFaultHostileWorkspaceOverREST.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestFaultHostileWorkspace plants what a hostile or careless workspace (or a process
// racing the deploy) could hold, deploys, and checks that the deploy is refused or
// fails with an error naming the path, that the directory outside both roots is
// unchanged, and that nothing of it was read into production.
func TestFaultHostileWorkspace(t *testing.T) {
	const secret = "outside secret"
	tests := []struct {
		name string
		// setup plants the hostile entry; out is a directory outside both roots holding
		// secret.txt and a.txt.
		setup func(t *testing.T, f *fixture, out string)
		// path is what the refusal or error must name.
		path string
		// refused: the plan refuses (ErrRefused); else the sync fails.
		refused bool
	}{
		{
			name: "a workspace symlink to /etc",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"app.py": "x", "config": "->/etc"}, t1)
			},
			path:    "config",
			refused: true,
		},
		{
			name: "a workspace symlink to /etc/passwd, relative, climbing out",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"pw": "->" + strings.Repeat("../", 20) + "etc/passwd"}, t1)
			},
			path:    "pw",
			refused: true,
		},
		{
			name: "a production symlink to /etc where the workspace has a directory",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"etc/passwd": "root::0:0::/:/bin/sh"}, t1)
				writeTree(t, f.prod, map[string]string{"etc": "->/etc"}, t0)
			},
			path:    "etc",
			refused: true,
		},
		{
			name: "a character device in the workspace",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"app.py": "x"}, t1)
				mknodNull(t, filepath.Join(f.ws, "null"))
			},
			path:    "null",
			refused: true,
		},
		{
			name: "a character device in production where the workspace has a file",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"dev": "a file"}, t1)
				mknodNull(t, filepath.Join(f.prod, "dev"))
			},
			path:    "dev",
			refused: true,
		},
		{
			name: "a production directory swapped for a symlink to outside during the copy",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"a.txt": "new a", "sub/a.txt": "new sub a", "sub/deep/b.txt": "new b", "sub/new/c.txt": "c"}, t1)
				writeTree(t, f.prod, map[string]string{"a.txt": "old a", "sub/a.txt": "old sub a", "sub/deep/b.txt": "old b"}, t0)
				// The first directory the copy makes is where the swap happens: files
				// of sub/ are then still to be written.
				swapOnce(t, f, "mkdir", filepath.Join(f.prod, "sub"), out)
			},
			path: "sub",
		},
		{
			name: "a workspace directory swapped for a symlink to outside during the copy",
			setup: func(t *testing.T, f *fixture, out string) {
				writeTree(t, f.ws, map[string]string{"a.txt": "new a", "sub/secret.txt": "workspace", "sub/new/c.txt": "c"}, t1)
				writeTree(t, f.prod, map[string]string{"a.txt": "old a"}, t0)
				swapOnce(t, f, "mkdir", filepath.Join(f.ws, "sub"), out)
			},
			path: "sub",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			out := filepath.Join(f.root, "outside")
			writeTree(t, out, map[string]string{"secret.txt": secret, "a.txt": secret, "deep/b.txt": secret}, t0)
			tc.setup(t, f, out)
			outBefore := treeState(t, out)

			err := func() error {
				ctx := context.Background()
				p, err := f.e.Plan(ctx, &f.project)
				if err != nil {
					return err
				}
				d, err := f.e.Begin(ctx, "hostile", p)
				if err != nil {
					return err
				}
				if err := d.Sync(ctx, nil); err != nil {
					return err
				}
				return d.Commit(ctx)
			}()
			t.Log(err)
			var re *RefusedError
			var fe *FileError
			switch {
			case err == nil:
				t.Fatal("the deploy succeeded")
			case tc.refused && (!errors.As(err, &re) || re.Path != tc.path):
				t.Errorf("error %v; want a refusal naming %s", err, tc.path)
			case !tc.refused && (!errors.As(err, &fe) || !strings.HasPrefix(fe.Path, tc.path)):
				t.Errorf("error %v; want a file error naming %s", err, tc.path)
			}
			if diff := diffStates(outBefore, treeState(t, out)); diff != "" {
				t.Errorf("the directory outside both roots changed:\n%s", diff)
			}
			for rel, state := range treeState(t, f.prod) {
				if data, err := os.ReadFile(filepath.Join(f.prod, rel)); err == nil && string(data) == secret {
					t.Errorf("production %s (%s) holds what was read from outside", rel, state)
				}
			}
		})
	}
}

// mknodNull makes a character device like /dev/null at path (root only).
func mknodNull(t *testing.T, path string) {
	t.Helper()
	const major, minor = 1, 3
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, major<<8|minor); err != nil {
		t.Skipf("cannot make a device file here (%v)", err)
	}
}

// swapOnce, at the first step named step, moves dir aside and puts a symlink to out in
// its place: what a process racing the deploy could do.
func swapOnce(t *testing.T, f *fixture, step, dir, out string) {
	t.Helper()
	var once sync.Once
	f.e.hook = func(s, rel string) error {
		if s == step {
			once.Do(func() {
				if err := os.Rename(dir, dir+"-moved"); err != nil {
					t.Error(err)
				}
				if err := os.Symlink(out, dir); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	}
}

// FuzzPathValidation holds the two checks every name from outside the walk goes
// through — validName for a path element of the state directory (project names,
// deploy ids), localSlash for a production-relative path read from a manifest — to
// their promise: what they accept, joined under a root, stays under it.
func FuzzPathValidation(f *testing.F) {
	for _, s := range []string{"shop", "d1", "20250101-120000-ab12cd34", "..", ".", "", "../x", "a/../../b",
		"/etc/passwd", `a\..\b`, "a//b", "./a", "a/./b", "...", "..a", "a..", ".hidden/..b", "a/", "\x00", "é/ü.txt"} {
		f.Add(s)
	}
	const root = "/srv/root"
	f.Fuzz(func(t *testing.T, s string) {
		if validName(s) {
			if strings.ContainsAny(s, `/\`) || s == "." || s == ".." {
				t.Fatalf("validName(%q): a separator or dot name accepted", s)
			}
			if got := filepath.Dir(filepath.Join(root, s)); got != root {
				t.Fatalf("validName(%q): joined under %s it lands in %s", s, root, got)
			}
		}
		if localSlash(s) {
			joined := filepath.Join(root, filepath.FromSlash(s))
			rel, err := filepath.Rel(root, joined)
			if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(s) {
				t.Fatalf("localSlash(%q): joined under %s it is %s, outside", s, root, joined)
			}
			if filepath.ToSlash(rel) != s {
				t.Fatalf("localSlash(%q): not clean (it names %s)", s, rel)
			}
		}
	})
}
