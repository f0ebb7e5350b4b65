package projects

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the projects file when given no
// positive interval.
const DefaultWatchInterval = 2 * time.Second

// Store holds the current projects config and reloads it from its file, keeping
// the last good config when the file turns bad. It is safe for concurrent use.
type Store struct {
	path           string
	defaultProject string
	logger         *slog.Logger
	// checkouts is the root of git projects' checkouts (WithCheckoutRoot).
	checkouts string

	mu       sync.RWMutex
	cfg      *Config
	loadedAt time.Time

	// reloadMu serialises reloads and guards the file bookkeeping below.
	reloadMu sync.Mutex
	seen     fileStamp // the file as it was when last read, good or bad
	missing  bool      // the file could not be stat'ed at the last poll
}

// NewStore loads the projects file at path. defaultProject (SCAR_DEFAULT_PROJECT)
// may be empty; when set it must name a project. A bad file is an error: scar must
// not start without a valid config.
func NewStore(path, defaultProject string, logger *slog.Logger, opts ...StoreOption) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: path, defaultProject: defaultProject, logger: logger}
	for _, o := range opts {
		o(s)
	}
	s.seen, _ = statFile(path)
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cfg, s.loadedAt = cfg, time.Now()
	return s, nil
}

func (s *Store) load() (*Config, error) {
	cfg, err := Load(s.path)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.WithDefault(s.defaultProject)
	if err != nil {
		return nil, fmt.Errorf("projects file %s: %w", s.path, err)
	}
	return cfg.withCheckouts(s.checkouts), nil
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithCheckoutRoot makes each git project's workspace its checkout under root
// (projects.CheckoutsDir of SCAR_STATE_DIR).
func WithCheckoutRoot(root string) StoreOption { return func(s *Store) { s.checkouts = root } }

// Path returns the projects file's path.
func (s *Store) Path() string { return s.path }

// Current returns the config in force. It is never nil for a Store made by NewStore,
// which is what /readyz checks.
func (s *Store) Current() *Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// LoadedAt returns when the config in force was read.
func (s *Store) LoadedAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loadedAt
}

// Get returns the named project of the current config.
func (s *Store) Get(name string) (*Project, error) { return s.Current().Get(name) }

// Resolve returns the named project, or the default one for an empty name, from the
// current config.
func (s *Store) Resolve(name string) (*Project, error) { return s.Current().Resolve(name) }

// Names returns the current project names, sorted.
func (s *Store) Names() []string { return s.Current().Names() }

// All returns the current projects, sorted by name.
func (s *Store) All() []*Project { return s.Current().All() }

// Default returns the current default project's name, or "".
func (s *Store) Default() string { return s.Current().Default() }

// Reload reads the projects file again. On a bad file it keeps the config in force,
// logs one warning saying why, and returns the error (callers need not log it
// again). On success it logs which projects were added, removed or changed.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked()
}

func (s *Store) reloadLocked() error {
	// Stat before reading: a write between the two then costs one extra reload at
	// the next poll rather than a missed change.
	s.seen, _ = statFile(s.path)
	cfg, err := s.load()
	if err != nil {
		s.logger.Warn("projects file reload failed; keeping the last good config",
			"path", s.path, "error", err)
		return err
	}
	old := s.Current()
	s.mu.Lock()
	s.cfg, s.loadedAt = cfg, time.Now()
	s.mu.Unlock()
	s.logChanges(old, cfg)
	return nil
}

// Watch polls the projects file every interval and reloads it when its size,
// modification time or inode changes, until ctx ends. The inode matters because
// editors and config tools replace a file by renaming a new one over it. Reload
// errors are logged by Reload; Watch carries on with the last good config.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		s.reloadIfChanged()
	}
}

func (s *Store) reloadIfChanged() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	stamp, err := statFile(s.path)
	if err != nil {
		// A rename-replace leaves no gap, but a delete-then-write does; say so once.
		if !s.missing {
			s.logger.Warn("projects file unreadable; keeping the last good config",
				"path", s.path, "error", err)
		}
		s.missing = true
		return
	}
	s.missing = false
	if stamp == s.seen {
		return
	}
	_ = s.reloadLocked() // logged there; the last good config stays
}

// logChanges says what a successful reload changed.
func (s *Store) logChanges(old, cur *Config) {
	var added, removed, changed []string
	for _, name := range cur.names {
		was, ok := old.projects[name]
		switch {
		case !ok:
			added = append(added, name)
		case !reflect.DeepEqual(was, cur.projects[name]):
			changed = append(changed, name)
		}
	}
	for _, name := range old.names {
		if _, ok := cur.projects[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(added)+len(removed)+len(changed) == 0 && old.Default() == cur.Default() {
		s.logger.Debug("projects file reloaded; nothing changed", "path", s.path)
		return
	}
	s.logger.Info("projects file reloaded", "path", s.path, "projects", len(cur.names),
		"added", added, "removed", removed, "changed", changed, "default", cur.Default())
}

// fileStamp is what Watch compares to notice a changed file without reading it.
type fileStamp struct {
	modTime int64 // UnixNano; time.Time's == also compares locations
	size    int64
	dev     uint64
	ino     uint64
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	dev, ino := fileID(fi)
	return fileStamp{modTime: fi.ModTime().UnixNano(), size: fi.Size(), dev: dev, ino: ino}, nil
}
