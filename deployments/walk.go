package deployments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
)

// walker walks the workspace and, beside it, the same directories of production,
// several directories at once. Production is only read where the workspace has
// something, so a large data directory in production costs nothing.
type walker struct {
	ws, prod *os.Root // prod is nil when production does not exist
	ex       *Matcher
	// keepPaths collects every workspace path, for the deletions.
	keepPaths bool
	// keepEnv leaves environment files out of the deploy (listing those that differ
	// as kept); stripSetuid writes files without their setuid and setgid bits.
	keepEnv, stripSetuid bool

	mu          sync.Mutex
	err         error
	writes      []entry
	mkdirs      []entry
	touched     []entry
	replaced    []string
	dirsToFiles []string
	kept        []string
	stripped    []string
	paths       map[string]struct{}
}

// dirResult is what one directory contributes, merged under the lock once.
type dirResult struct {
	writes, mkdirs, touched []entry
	replaced, dirsToFiles   []string
	kept, stripped          []string
	paths                   []string
	children                []dirJob
}

type dirJob struct {
	rel    string // "." for the root
	inProd bool   // production has this directory
}

// run walks from the roots with at most n directories in flight.
func (w *walker) run(ctx context.Context, n int) error {
	w.paths = map[string]struct{}{}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var visit func(job dirJob)
	visit = func(job dirJob) {
		defer wg.Done()
		sem <- struct{}{}
		if w.failed() {
			<-sem
			return
		}
		res, err := w.dir(ctx, job)
		<-sem
		w.merge(res, err)
		if err != nil {
			return
		}
		for _, c := range res.children {
			wg.Add(1)
			go visit(c)
		}
	}
	wg.Add(1)
	visit(dirJob{rel: ".", inProd: w.prod != nil})
	wg.Wait()
	return w.err
}

func (w *walker) failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err != nil
}

func (w *walker) merge(r *dirResult, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.writes = append(w.writes, r.writes...)
	w.mkdirs = append(w.mkdirs, r.mkdirs...)
	w.touched = append(w.touched, r.touched...)
	w.replaced = append(w.replaced, r.replaced...)
	w.dirsToFiles = append(w.dirsToFiles, r.dirsToFiles...)
	w.kept = append(w.kept, r.kept...)
	w.stripped = append(w.stripped, r.stripped...)
	for _, p := range r.paths {
		w.paths[p] = struct{}{}
	}
}

// dir compares one workspace directory with its production counterpart.
func (w *walker) dir(ctx context.Context, job dirJob) (*dirResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wsDir, err := w.ws.OpenRoot(job.rel)
	if err != nil {
		return nil, fmt.Errorf("read workspace %s: %w", job.rel, err)
	}
	defer wsDir.Close()
	var prodDir *os.Root
	if job.inProd {
		if prodDir, err = w.prod.OpenRoot(job.rel); err != nil {
			return nil, fmt.Errorf("read production %s: %w", job.rel, err)
		}
		defer prodDir.Close()
	}
	names, err := readNames(wsDir)
	if err != nil {
		return nil, fmt.Errorf("read workspace %s: %w", job.rel, err)
	}
	res := &dirResult{}
	for _, name := range names {
		rel := name
		if job.rel != "." {
			rel = job.rel + "/" + name
		}
		if err := w.compare(wsDir, prodDir, name, rel, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func readNames(r *os.Root) ([]string, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// compare plans one name of a directory.
func (w *walker) compare(wsDir, prodDir *os.Root, name, rel string, res *dirResult) error {
	fi, err := wsDir.Lstat(name)
	if err != nil {
		return fmt.Errorf("read workspace %s: %w", rel, err)
	}
	k := kindOf(fi.Mode())
	if w.ex.Match(rel, k == kindDir) {
		return nil
	}
	if w.keepEnv && k != kindDir && isEnvFile(rel) {
		differs, err := envDiffers(wsDir, prodDir, name, fi)
		if err != nil {
			return fmt.Errorf("compare %s: %w", rel, err)
		}
		if differs {
			res.kept = append(res.kept, rel)
		}
		return nil
	}
	e := entry{rel: rel, kind: k, mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime(), sys: fi.Sys()}
	stripped := false
	if k == kindFile && w.stripSetuid && fi.Mode()&setidBits != 0 {
		e.mode &^= setidBits
		stripped = true
	}
	if k == kindNone {
		return refused(rel, "the workspace has a %s here; only files, directories and symlinks are deployed", typeName(fi.Mode()))
	}
	if k == kindSymlink {
		if e.target, err = w.symlinkTarget(wsDir, name, rel); err != nil {
			return err
		}
	}
	var pfi fs.FileInfo
	if prodDir != nil {
		pfi, err = prodDir.Lstat(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read production %s: %w", rel, err)
		}
	}
	if pfi != nil {
		e.prod = kindOf(pfi.Mode())
		if e.prod == kindNone {
			return refused(rel, "production has a %s here; scar does not replace it", typeName(pfi.Mode()))
		}
	}
	if w.keepPaths {
		// Directories too: a manifest file the workspace now has as a directory is
		// replaced, not deleted.
		res.paths = append(res.paths, rel)
	}

	switch k {
	case kindDir:
		switch e.prod {
		case kindDir:
			res.children = append(res.children, dirJob{rel: rel, inProd: true})
			return nil
		case kindSymlink:
			return refused(rel, "production has a symlink where the workspace has a directory; scar does not write through production symlinks")
		case kindFile:
			res.replaced = append(res.replaced, rel)
		}
		res.mkdirs = append(res.mkdirs, e)
		res.children = append(res.children, dirJob{rel: rel})
		return nil
	case kindSymlink:
		if e.prod == kindSymlink {
			target, err := prodDir.Readlink(name)
			if err != nil {
				return fmt.Errorf("read production %s: %w", rel, err)
			}
			if target == e.target {
				return nil
			}
		}
	case kindFile:
		if e.prod == kindFile {
			changed, err := fileChanged(wsDir, prodDir, name, fi, e.mode&permBits, pfi)
			if err != nil {
				return fmt.Errorf("compare %s: %w", rel, err)
			}
			if !changed {
				if !fi.ModTime().Equal(pfi.ModTime()) {
					e.prodMtime = pfi.ModTime()
					res.touched = append(res.touched, e)
				}
				return nil
			}
		}
	}
	if e.prod == kindDir {
		res.dirsToFiles = append(res.dirsToFiles, rel)
	}
	res.writes = append(res.writes, e)
	if stripped {
		res.stripped = append(res.stripped, rel)
	}
	return nil
}

// symlinkTarget reads a workspace symlink and refuses one that leaves the workspace:
// absolute, climbing above the root, or resolving outside it through other links.
func (w *walker) symlinkTarget(wsDir *os.Root, name, rel string) (string, error) {
	target, err := wsDir.Readlink(name)
	if err != nil {
		return "", fmt.Errorf("read workspace %s: %w", rel, err)
	}
	if path.IsAbs(target) {
		return "", refused(rel, "symlink to the absolute path %s; only relative links inside the workspace are deployed", target)
	}
	if j := path.Join(path.Dir(rel), target); j == ".." || strings.HasPrefix(j, "../") {
		return "", refused(rel, "symlink to %s points outside the workspace", target)
	}
	// The lexical check misses a link that climbs through another link (a/up -> ..,
	// b -> a/up/../x); the root resolves every hop and refuses an escape. A link to
	// nothing inside the workspace is fine: production may have what it names.
	if _, err := w.ws.Stat(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", refused(rel, "symlink to %s does not resolve inside the workspace: %v", target, err)
	}
	return target, nil
}

// fileChanged compares size and mode first (production's against mode, the one the
// deploy would give the file), then mtime, and only when the mtimes differ the bytes.
func fileChanged(wsDir, prodDir *os.Root, name string, wfi fs.FileInfo, mode fs.FileMode, pfi fs.FileInfo) (bool, error) {
	if wfi.Size() != pfi.Size() || mode != pfi.Mode()&permBits {
		return true, nil
	}
	if wfi.ModTime().Equal(pfi.ModTime()) {
		return false, nil
	}
	same, err := sameBytes(wsDir, prodDir, name)
	return !same, err
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 2*64<<10); return &b }}

func sameBytes(a, b *os.Root, name string) (bool, error) {
	fa, err := a.Open(name)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := b.Open(name)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	half := len(*bp) / 2
	ba, bb := (*bp)[:half], (*bp)[half:]
	for {
		na, errA := io.ReadFull(fa, ba)
		nb, errB := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file " + m.Type().String()
}
