package dockerops

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfileName is the Dockerfile of a plain container's build: the builder's default.
const dockerfileName = "Dockerfile"

// tarDir writes dir as a build context the way the docker CLI sends one: without what
// dir's .dockerignore excludes (production's .env, its data), matched with the
// patternmatcher the CLI and the Engine use, and without .git.
func tarDir(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	pm, err := dockerignore(root)
	if err != nil {
		return err
	}
	// The match of each directory, so that its children are matched against it as
	// the CLI's archive walk does (MatchesUsingParentResults).
	parents := map[string]patternmatcher.MatchInfo{}
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if pm != nil {
			skip, info, err := pm.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
			if err != nil {
				return fmt.Errorf(".dockerignore: %s: %w", rel, err)
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if skip {
				return skipExcluded(pm, rel, d.IsDir())
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = root.Readlink(rel); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := root.Open(rel)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// dockerignore reads the context's .dockerignore as the docker CLI does; nil when
// there is none. Like the CLI, it never leaves out the Dockerfile or .dockerignore
// itself: the builder needs the one and drops both from the context when listed.
func dockerignore(root *os.Root) (*patternmatcher.PatternMatcher, error) {
	f, err := root.Open(".dockerignore")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	for _, keep := range []string{".dockerignore", dockerfileName} {
		if excluded, _ := patternmatcher.MatchesOrParentMatches(keep, patterns); excluded {
			patterns = append(patterns, "!"+keep)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}

// skipExcluded is what the walk does with an excluded path: a file is left out; a
// directory is skipped whole unless a "!" pattern may bring back something inside it,
// in which case the walk goes on into it (the directory's own entry left out).
func skipExcluded(pm *patternmatcher.PatternMatcher, rel string, isDir bool) error {
	if !isDir {
		return nil
	}
	if pm.Exclusions() {
		for _, p := range pm.Patterns() {
			if p.Exclusion() && strings.HasPrefix(p.String()+"/", rel+"/") {
				return nil
			}
		}
	}
	return fs.SkipDir
}
