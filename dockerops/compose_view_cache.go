package dockerops

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeViewTTL bounds how long a Compose view is reused. The key below holds every
// input scar knows Compose reads; the bound is for what it cannot see (a file a
// Compose feature reads that the key does not name, the tool upgraded in place).
const composeViewTTL = time.Minute

// composeViews keeps the Compose views (`config` and `config --hash`, two process
// starts of 0.1–0.5 s) that plans read, so that a deploy made right after its plan was
// shown — or right after the previous deploy — does not run Compose again.
//
// Invalidation: a view is reused only when its key is the same — the command, the
// directory, the project, the Docker host, the global options (-f, --env-file,
// --project-directory) — and so is the identity of every file Compose reads for it:
// the Compose files' bytes; the size, modification time, change time and inode of
// every file at the top of the project directory and of each Compose file's directory
// (.env, overrides, env files there), and of each file the Compose files name in
// env_file, extends and include. Any edit, replacement or new file there makes a new
// key. Staleness: for inputs outside that list, at most composeViewTTL.
type composeViews struct {
	mu      sync.Mutex
	entries map[string]cachedView
}

type cachedView struct {
	view composeView
	at   time.Time
}

// get returns the view kept under key, if it is younger than composeViewTTL.
func (c *composeViews) get(key string, now time.Time) (composeView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) > composeViewTTL {
		return composeView{}, false
	}
	return e.view.clone(), true
}

// put keeps v under key and drops the entries that expired.
func (c *composeViews) put(key string, v composeView, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedView{}
	}
	maps.DeleteFunc(c.entries, func(_ string, e cachedView) bool { return now.Sub(e.at) > composeViewTTL })
	c.entries[key] = cachedView{view: v.clone(), at: now}
}

// clone copies the view's maps: callers adjust the services of a view they got.
func (v composeView) clone() composeView {
	v.services, v.hashes = maps.Clone(v.services), maps.Clone(v.hashes)
	return v
}

// composeViewKey is the cache key of a View of dir with the global options pre, for
// the tool argv: the call and the identity of what Compose reads for it (see
// composeViews).
func composeViewKey(argv []string, dir, project, dockerHost string, pre []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "call %q %q %q %q %q\n", argv, dir, project, dockerHost, pre)
	projectDir, files, envFile := dir, []string(nil), ""
	for i := 0; i+1 < len(pre); i++ {
		switch pre[i] {
		case "--project-directory":
			projectDir = pre[i+1]
		case "-f":
			files = append(files, absIn(dir, pre[i+1]))
		case "--env-file":
			envFile = absIn(dir, pre[i+1])
		}
	}
	if files == nil {
		files = defaultComposeFiles(projectDir)
	}
	dirs := []string{projectDir}
	named := []string{}
	if envFile != "" {
		named = append(named, envFile)
	}
	for _, f := range files {
		fileBytes(h, f)
		if d := filepath.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
		for _, rel := range composeReferences(f) {
			// Compose resolves them against the project directory; an older one
			// against the file's: both are looked at.
			named = append(named, absIn(projectDir, rel), absIn(filepath.Dir(f), rel))
		}
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintf(h, "dir %q unreadable\n", d)
			continue
		}
		for _, e := range entries {
			if !e.IsDir() {
				fileIdentity(h, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, f := range named {
		fileIdentity(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func absIn(dir, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(dir, path)
}

// fileIdentity writes what changes when a file is edited, replaced or removed: its
// size, modification and change times and inode.
func fileIdentity(h hash.Hash, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		fmt.Fprintf(h, "file %q missing\n", path)
		return
	}
	var ctime int64
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ctime, ino = st.Ctim.Nano(), st.Ino
	}
	fmt.Fprintf(h, "file %q %d %o %d %d %d\n", path, fi.Size(), fi.Mode(), fi.ModTime().UnixNano(), ctime, ino)
}

// fileBytes writes a file's bytes.
func fileBytes(h hash.Hash, path string) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(h, "bytes %q missing\n", path)
		return
	}
	defer f.Close()
	fmt.Fprintf(h, "bytes %q\n", path)
	_, _ = io.Copy(h, f)
	fmt.Fprintln(h)
}

// composeReferences returns the paths a Compose file names for Compose to read:
// env_file of each service (a path, a list of paths, or a list of {path: …}), the
// file of extends, and include (a path, or {path: …}, each possibly a list).
func composeReferences(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	var out []string
	var paths func(n *yaml.Node)
	paths = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.ScalarNode:
			out = append(out, n.Value)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				paths(c)
			}
		case yaml.MappingNode:
			if p := mapValue(n, "path"); p != nil {
				paths(p)
			}
			if f := mapValue(n, "file"); f != nil {
				paths(f)
			}
		}
	}
	root := doc.Content[0]
	if inc := mapValue(root, "include"); inc != nil {
		paths(inc)
	}
	if svcs := mapValue(root, "services"); svcs != nil && svcs.Kind == yaml.MappingNode {
		for i := 1; i < len(svcs.Content); i += 2 {
			svc := svcs.Content[i]
			for _, k := range []string{"env_file", "extends"} {
				if v := mapValue(svc, k); v != nil {
					paths(v)
				}
			}
		}
	}
	return slices.DeleteFunc(out, func(s string) bool { return strings.TrimSpace(s) == "" })
}

// mapValue is the value under key in a YAML mapping, nil when absent.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
