package deployments

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scar-dev/scar/projects"
)

// Plan is what a deploy of a project would change in production. Paths are relative to
// the production root, slash-separated and sorted.
type Plan struct {
	Project    string `json:"project"`
	Workspace  string `json:"workspace"`
	Production string `json:"production"`
	// Added are files and symlinks production does not have.
	Added []string `json:"added"`
	// Changed are those it has with other content, mode or link target, or as another
	// type (a file where the workspace now has a directory, or the reverse).
	Changed []string `json:"changed"`
	// Deleted are files an earlier deploy wrote that the workspace no longer has; only
	// with delete_removed. A file no deploy wrote is never deleted.
	Deleted []string `json:"deleted"`
	// Dirs are the directories the deploy creates.
	Dirs []string `json:"dirs,omitempty"`
	// Touched have the same bytes in both trees but another mtime: the deploy sets the
	// mtime only, so that the next plan need not compare them byte by byte again.
	Touched []string `json:"touched,omitempty"`
	// Bytes is the size of the files to copy.
	Bytes int64 `json:"bytes"`
	// Rebuild says whether the image must be rebuilt, RebuildReason why
	// ("dependency file changed: requirements.txt", "rebuild: always").
	Rebuild       bool   `json:"rebuild"`
	RebuildReason string `json:"rebuild_reason,omitempty"`
	// RebuildFiles are the added, changed or deleted Dockerfiles, Compose files,
	// dependency files and rebuild_on matches, whatever the rebuild policy.
	RebuildFiles []string `json:"rebuild_files,omitempty"`
	// ComposeFiles are the added, changed or deleted Compose files.
	ComposeFiles []string `json:"compose_files,omitempty"`
	// Kept are the workspace's environment files (.env, .env.*, *.env) that differ
	// from production's or that production lacks, and that the deploy leaves alone:
	// production's environment is its own unless the project sets deploy_env_files.
	Kept []string `json:"kept,omitempty"`
	// SetuidStripped are files the deploy writes without the setuid or setgid bit
	// they have in the workspace (unless the project sets deploy_setuid).
	SetuidStripped []string `json:"setuid_stripped,omitempty"`
	// EditedInProduction are production files the deploy overwrites or deletes whose
	// content is no longer what the last deploy wrote: edited by hand since. The
	// backup keeps them, so a rollback brings the edit back.
	EditedInProduction []string `json:"edited_in_production,omitempty"`

	writes      []entry  // files and symlinks to write
	mkdirs      []entry  // directories to create, parents first
	replaced    []string // production files removed to make room for a directory
	removedDirs []entry  // production directories removed to make room for a file, children first
	touched     []entry
	stripSetid  bool // write files without their setuid and setgid bits
}

// Empty reports whether there is nothing to deploy (an mtime-only difference is not
// worth a deploy).
func (p *Plan) Empty() bool {
	return len(p.Added)+len(p.Changed)+len(p.Deleted)+len(p.Dirs) == 0
}

type kind uint8

const (
	kindNone kind = iota
	kindFile
	kindSymlink
	kindDir
)

// entry is one path of the plan as the workspace has it.
type entry struct {
	rel    string
	kind   kind
	mode   fs.FileMode
	size   int64
	mtime  time.Time
	target string // symlink target
	sys    any    // the workspace's stat, for the owner
	prod   kind   // what production had at rel when planned
	// prodMtime is production's mtime, for an mtime-only change.
	prodMtime time.Time
}

// permBits are the mode bits a deploy keeps.
const permBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// setidBits are stripped from the files a deploy writes unless the project sets
// deploy_setuid: a workspace should not be able to plant a setuid program in production.
const setidBits = fs.ModeSetuid | fs.ModeSetgid

// Plan compares the project's workspace with its production directory. Production
// need not exist yet (everything is added). Nothing is written.
func (e *Engine) Plan(ctx context.Context, p *projects.Project) (*Plan, error) {
	if !validName(p.Name) {
		return nil, fmt.Errorf("plan: project name %q cannot name a directory", p.Name)
	}
	ex, err := NewMatcher(append(slices.Clone(DefaultExcludes), p.Exclude...))
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	rules, err := newRebuildRules(p.RebuildOn)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	if err := checkDisjoint(p.Workspace, p.Production); err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	ws, err := os.OpenRoot(p.Workspace)
	if err != nil {
		return nil, fmt.Errorf("plan %s: open workspace: %w", p.Name, err)
	}
	defer ws.Close()
	prod, err := openProduction(p.Production)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	if prod != nil {
		defer prod.Close()
	}

	mf := &manifestFile{}
	if prod != nil {
		if mf, err = e.loadManifestFile(p.Name); err != nil {
			return nil, fmt.Errorf("plan %s: %w", p.Name, err)
		}
	}
	var manifest []string
	if p.DeleteRemoved {
		manifest = mf.Files
	}
	w := &walker{ws: ws, prod: prod, ex: ex, keepPaths: len(manifest) > 0, keepEnv: !p.DeployEnvFiles, stripSetuid: !p.DeploySetuid}
	if err := w.run(ctx, e.workers); err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}

	plan := &Plan{Project: p.Name, Workspace: p.Workspace, Production: p.Production, stripSetid: !p.DeploySetuid}
	plan.writes, plan.mkdirs, plan.touched, plan.replaced = w.writes, w.mkdirs, w.touched, w.replaced
	deleted := deletions(prod, ex, manifest, w.paths, !p.DeployEnvFiles)
	if err := plan.resolveDirsToFiles(prod, w.dirsToFiles, deleted); err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	plan.fill(deleted)
	plan.Kept, plan.SetuidStripped = w.kept, w.stripped
	sortStrings(plan.Kept)
	sortStrings(plan.SetuidStripped)
	if plan.EditedInProduction, err = e.editedInProduction(ctx, prod, mf, plan); err != nil {
		return nil, fmt.Errorf("plan %s: %w", p.Name, err)
	}
	rules.decideRebuild(plan, p.Rebuild)
	return plan, nil
}

// fill sorts what the walk found and derives the exported lists from it.
func (p *Plan) fill(deleted []string) {
	byRel := func(a, b entry) int { return strings.Compare(a.rel, b.rel) }
	slices.SortFunc(p.writes, byRel)
	slices.SortFunc(p.mkdirs, byRel) // a parent sorts before its children
	slices.SortFunc(p.touched, byRel)
	sortStrings(p.replaced)
	p.Added, p.Changed, p.Dirs, p.Touched = []string{}, []string{}, nil, nil
	for _, w := range p.writes {
		if w.prod == kindNone {
			p.Added = append(p.Added, w.rel)
		} else {
			p.Changed = append(p.Changed, w.rel)
		}
		if w.kind == kindFile {
			p.Bytes += w.size
		}
	}
	p.Changed = append(p.Changed, p.replaced...)
	sortStrings(p.Changed)
	for _, d := range p.mkdirs {
		p.Dirs = append(p.Dirs, d.rel)
	}
	for _, t := range p.touched {
		p.Touched = append(p.Touched, t.rel)
	}
	p.Deleted = deleted
	if p.Deleted == nil {
		p.Deleted = []string{}
	}
}

// openProduction opens the production root, or returns nil when it does not exist yet.
func openProduction(dir string) (*os.Root, error) {
	r, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open production: %w", err)
	}
	return r, nil
}

// checkDisjoint refuses a production directory inside the workspace or the reverse:
// a deploy would copy into what it reads.
func checkDisjoint(workspace, production string) error {
	if !filepath.IsAbs(workspace) || !filepath.IsAbs(production) {
		return fmt.Errorf("workspace %q and production %q must be absolute", workspace, production)
	}
	ws, prod := resolve(workspace), resolve(production)
	if ws == prod || within(ws, prod) || within(prod, ws) {
		return fmt.Errorf("workspace %s and production %s overlap", workspace, production)
	}
	return nil
}

// resolve follows symlinks of the longest existing prefix of an absolute path.
func resolve(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(append([]string{p}, rest...)...)
		}
		rest = append([]string{filepath.Base(p)}, rest...)
		p = parent
	}
}

func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// deletions returns the manifest's files (those earlier deploys wrote) that the
// workspace no longer has and production still has, leaving excluded ones (and, with
// keepEnv, environment files) alone.
func deletions(prod *os.Root, ex *Matcher, manifest []string, wsPaths map[string]struct{}, keepEnv bool) []string {
	var out []string
	for _, rel := range manifest {
		if _, ok := wsPaths[rel]; ok || !localSlash(rel) || ex.Excluded(rel, false) || (keepEnv && isEnvFile(rel)) {
			continue
		}
		if fi, err := lstatNoFollow(prod, rel); err == nil {
			if k := kindOf(fi.Mode()); k == kindFile || k == kindSymlink {
				out = append(out, rel)
			}
		}
	}
	sortStrings(out)
	return out
}

// lstatNoFollow stats rel in r without following any symlink on the way: a path
// under a symlinked directory is not the file a deploy wrote there.
func lstatNoFollow(r *os.Root, rel string) (fs.FileInfo, error) {
	for i := 0; i < len(rel); i++ {
		if rel[i] != '/' {
			continue
		}
		fi, err := r.Lstat(rel[:i])
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: %w", rel[:i], fs.ErrNotExist)
		}
	}
	return r.Lstat(rel)
}

// kindOf maps a mode to a kind; kindNone for FIFOs, sockets and devices.
func kindOf(m fs.FileMode) kind {
	switch m.Type() {
	case 0:
		return kindFile
	case fs.ModeSymlink:
		return kindSymlink
	case fs.ModeDir:
		return kindDir
	}
	return kindNone
}

// resolveDirsToFiles plans the removal of production directories where the workspace
// now has a file or symlink. That is only allowed when everything below the directory
// is deleted by this plan anyway (files earlier deploys wrote, with delete_removed):
// a deploy never removes what it did not write.
func (p *Plan) resolveDirsToFiles(prod *os.Root, dirs []string, deleted []string) error {
	if len(dirs) == 0 {
		return nil
	}
	gone := make(map[string]struct{}, len(deleted))
	for _, d := range deleted {
		gone[d] = struct{}{}
	}
	for _, dir := range dirs {
		var removed []entry
		err := fs.WalkDir(prod.FS(), dir, func(rel string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				fi, err := d.Info()
				if err != nil {
					return err
				}
				removed = append(removed, entry{rel: rel, kind: kindDir, mode: fi.Mode()})
				return nil
			}
			if _, ok := gone[rel]; !ok {
				return refused(dir, "the workspace has a file where production has a directory, and %s in it was not written by a deploy (or delete_removed is off); move it away by hand", rel)
			}
			return nil
		})
		if err != nil {
			var re *RefusedError
			if errors.As(err, &re) {
				return err
			}
			return fmt.Errorf("read production directory %s: %w", dir, err)
		}
		slices.Reverse(removed) // children before parents
		p.removedDirs = append(p.removedDirs, removed...)
	}
	return nil
}

// localSlash reports whether rel is a clean relative slash path inside its root.
func localSlash(rel string) bool {
	return rel != "" && rel != "." && path.Clean(rel) == rel && filepath.IsLocal(filepath.FromSlash(rel))
}

func sortStrings(s []string) { slices.Sort(s) }
