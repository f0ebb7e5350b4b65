package deployments

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// The manifest of a project lists every file and symlink a deploy wrote into its
// production directory and that is still there, as far as scar knows. Only these may
// be deleted by a later deploy. It lives in STATE_DIR/manifests/<project>.json, written
// atomically when a deploy succeeds or is rolled back. Hashes holds the SHA-256 of
// each regular file as the last deploy (or rollback) left it, so that a plan can tell
// a file edited by hand in production since; a manifest from before hashes were kept
// has none, and nothing is flagged until the next deploy writes them.
type manifestFile struct {
	Files  []string          `json:"files"`
	Hashes map[string]string `json:"hashes,omitempty"`
}

func (e *Engine) manifestPath(project string) string {
	return filepath.Join(e.stateDir, "manifests", project+".json")
}

// loadManifest returns the project's manifest files, empty before its first deploy.
func (e *Engine) loadManifest(project string) ([]string, error) {
	mf, err := e.loadManifestFile(project)
	if err != nil {
		return nil, err
	}
	return mf.Files, nil
}

// loadManifestFile returns the project's whole manifest, empty before its first deploy.
func (e *Engine) loadManifestFile(project string) (*manifestFile, error) {
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
	return &m, nil
}

func (e *Engine) saveManifest(project string, m *manifestFile) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := writeFileAtomic(e.manifestPath(project), data); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// nextHashes applies a deploy's written files to the manifest's hashes: each file it
// wrote gets the hash of what it wrote, each symlink it wrote and each file it deleted
// loses its hash. prev holds, for every path it changed, the hash before ("" for none),
// so that a rollback can put them back.
func nextHashes(hashes map[string]string, r *Record, written map[string]string) (prev map[string]string) {
	prev = map[string]string{}
	set := func(rel, h string) {
		if _, seen := prev[rel]; !seen {
			prev[rel] = hashes[rel]
		}
		if h == "" {
			delete(hashes, rel)
		} else {
			hashes[rel] = h
		}
	}
	for _, list := range [][]string{r.Added, r.Overwritten} {
		for _, rel := range list {
			set(rel, written[rel])
		}
	}
	for _, rel := range r.Deleted {
		set(rel, "")
	}
	return prev
}

// previousHashes undoes nextHashes.
func previousHashes(hashes, prev map[string]string) {
	for rel, h := range prev {
		if h == "" {
			delete(hashes, rel)
		} else {
			hashes[rel] = h
		}
	}
}

// nextManifest is the manifest after a deploy: what it had, plus what the deploy
// wrote, minus what it deleted; and the entries that came and went, for a rollback.
func nextManifest(before []string, r *Record) (after, added, removed []string) {
	has := make(map[string]struct{}, len(before))
	for _, f := range before {
		has[f] = struct{}{}
	}
	gone := make(map[string]struct{}, len(r.Deleted))
	for _, f := range r.Deleted {
		if _, ok := has[f]; ok {
			gone[f] = struct{}{}
			removed = append(removed, f)
		}
	}
	for _, list := range [][]string{r.Added, r.Overwritten} {
		for _, f := range list {
			if _, ok := has[f]; !ok {
				has[f] = struct{}{}
				added = append(added, f)
			}
		}
	}
	if len(added)+len(removed) == 0 {
		return before, nil, nil
	}
	after = make([]string, 0, len(has))
	for f := range has {
		if _, ok := gone[f]; !ok {
			after = append(after, f)
		}
	}
	slices.Sort(after)
	slices.Sort(added)
	slices.Sort(removed)
	return after, added, removed
}

// previousManifest undoes nextManifest: the manifest before the deploy kept in k.
func previousManifest(now []string, k *keptBackup) []string {
	drop := make(map[string]struct{}, len(k.ManifestAdded))
	for _, f := range k.ManifestAdded {
		drop[f] = struct{}{}
	}
	out := make([]string, 0, len(now)+len(k.ManifestRemoved))
	for _, f := range now {
		if _, ok := drop[f]; !ok {
			out = append(out, f)
		}
	}
	out = append(out, k.ManifestRemoved...)
	slices.Sort(out)
	return slices.Compact(out)
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and renames it
// over path, so a crash leaves the old file or the new one. It is for scar's own state
// directory, not for production.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
