package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"
)

// A plan of an unchanged tree reads the same manifest and the same directories every
// time. The Engine keeps, per project and in memory only, what the last plan read, each
// piece keyed by the stat of what it was read from, and reuses a piece only while that
// stat is unchanged:
//
//   - the decoded manifest, keyed by the manifest file's device, inode, size, mtime and
//     ctime. The manifest is only ever replaced by a rename (a new inode), and any
//     write in place changes its ctime, which no user can set back.
//   - each workspace directory's names, keyed by the directory's device, inode, mtime
//     and ctime from the parent's lstat, taken before the names were read. Adding,
//     removing or renaming an entry changes the directory's mtime and ctime; a file
//     edited in place does not, so every file is still lstat'ed on both sides by every
//     plan: only the readdir is saved.
//   - for each file a plan found equal on both sides, the stat of both (device,
//     inode, size, mode, mtime, ctime). It saves nothing: it makes the plan stricter. A
//     file whose size and mtime still match production's but whose ctime or inode moved
//     since (edited in place, its mtime set back) is compared byte by byte instead of
//     passing the size-and-mtime check, by this plan and every later one until it is
//     equal again. Without an entry (the first plan of a process, a file not yet seen
//     equal) the plan trusts size and mtime, as it always has.
//
// Timestamps are as coarse as the file system's clock tick, so a change made in the
// same tick as a stat can leave the stat as it was. A piece is therefore only kept when
// the ctime it is keyed by is older than racyWindow before the plan started: any change
// after the plan started gets a later ctime, and so a new key. There is no staleness
// bound to state: a piece is either proven current by its key or not used.

// racyWindow is how much older than the plan's start a ctime must be for what was read
// under it to be kept: more than any file system's timestamp tick and the lag of the
// kernel's coarse clock behind the wall clock.
const racyWindow = 2 * time.Second

// statKey is what a cached piece is keyed by.
type statKey struct {
	dev, ino     uint64
	size         int64
	mode         uint32
	mtime, ctime syscall.Timespec
}

// keyOf returns fi's key; ok is false when fi carries no syscall stat.
func keyOf(fi fs.FileInfo) (k statKey, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return statKey{}, false
	}
	return statKey{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mode: uint32(st.Mode), mtime: st.Mtim, ctime: st.Ctim}, true
}

// settled reports whether the key's ctime is old enough, against the plan's start, for
// what was read under it to be kept.
func (k statKey) settled(start time.Time) bool {
	return time.Unix(k.ctime.Unix()).Before(start.Add(-racyWindow))
}

// planCache is what the last plan of one project read. It is never modified once
// stored; a plan builds the next one beside it.
type planCache struct {
	workspace, production string
	dirs                  map[string]*dirCache // by workspace-relative directory, "." for the root
}

// dirCache is one workspace directory as the last plan read it.
type dirCache struct {
	rel string
	// names, when namesKept, are the directory's entries read under key.
	key       statKey
	names     []string
	namesKept bool
	// equal are the directory's files a plan found equal in production: the
	// workspace's stat and production's when it did. A file that differs since keeps
	// its entry, so that every later plan compares its bytes until it is equal again.
	equal map[string][2]statKey
}

// keepUnmoved adds to d.equal the files of last.equal whose stats have not moved,
// sharing last.equal (never modified once stored) when they are all it has.
func (d *dirCache) keepUnmoved(last *dirCache, unmoved []string) {
	if len(unmoved) == 0 {
		return
	}
	if d.equal == nil && len(unmoved) == len(last.equal) {
		d.equal = last.equal
		return
	}
	for _, name := range unmoved {
		d.record(name, last.equal[name])
	}
}

func (d *dirCache) record(name string, keys [2]statKey) {
	if d.equal == nil {
		d.equal = map[string][2]statKey{}
	}
	d.equal[name] = keys
}

type manifestCache struct {
	key statKey
	mf  *manifestFile
}

// caches holds the Engine's plan caches.
type caches struct {
	mu        sync.Mutex
	plans     map[string]*planCache
	manifests map[string]manifestCache
}

// planCacheFor returns the last plan's cache of the project, nil when there is none for
// these workspace and production directories.
func (e *Engine) planCacheFor(project, workspace, production string) *planCache {
	e.caches.mu.Lock()
	defer e.caches.mu.Unlock()
	pc := e.caches.plans[project]
	if pc == nil || pc.workspace != workspace || pc.production != production {
		return nil
	}
	return pc
}

func (e *Engine) storePlanCache(project string, pc *planCache) {
	e.caches.mu.Lock()
	defer e.caches.mu.Unlock()
	if e.caches.plans == nil {
		e.caches.plans = map[string]*planCache{}
	}
	e.caches.plans[project] = pc
}

// planManifest returns the project's manifest for a plan, which must not modify it.
func (e *Engine) planManifest(project string, start time.Time) (*manifestFile, error) {
	fi, err := os.Lstat(e.manifestPath(project))
	if errors.Is(err, fs.ErrNotExist) {
		return &manifestFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	key, ok := keyOf(fi)
	e.caches.mu.Lock()
	c, hit := e.caches.manifests[project]
	e.caches.mu.Unlock()
	if ok && hit && c.key == key {
		return c.mf, nil
	}
	// Read after the stat: a replacement in between gives the next plan another key.
	data, err := os.ReadFile(e.manifestPath(project))
	if errors.Is(err, fs.ErrNotExist) {
		return &manifestFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m manifestFile
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", e.manifestPath(project), err)
	}
	if ok && key.settled(start) {
		e.caches.mu.Lock()
		if e.caches.manifests == nil {
			e.caches.manifests = map[string]manifestCache{}
		}
		e.caches.manifests[project] = manifestCache{key: key, mf: &m}
		e.caches.mu.Unlock()
	}
	return &m, nil
}
