package projects

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read log output that another goroutine writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mustOpenStore writes content to a fresh projects file and opens a Store on it.
func mustOpenStore(t *testing.T, content, defaultProject string) (*Store, string, *syncBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".scar-projects.json")
	writeFile(t, path, content)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := NewStore(path, defaultProject, logger)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s, path, logs
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNewStoreRefusesBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	writeFile(t, path, `{"po": {"workspace": "rel"}}`)
	if _, err := NewStore(path, "", nil); err == nil || !strings.Contains(err.Error(), `project "po": workspace`) {
		t.Errorf("NewStore on a bad file = %v", err)
	}

	writeFile(t, path, projectsFile(t, []string{"a"}))
	_, err := NewStore(path, "b", nil)
	if !errors.Is(err, ErrUnknownProject) || !strings.Contains(err.Error(), path) {
		t.Errorf("NewStore with an unknown default = %v, want ErrUnknownProject naming the file", err)
	}
}

func TestReloadKeepsLastGoodConfig(t *testing.T) {
	s, path, logs := mustOpenStore(t, projectsFile(t, []string{"a", "b"}), "a")
	first := s.LoadedAt()
	if s.Current() == nil || s.Path() != path {
		t.Fatalf("Current = %v, Path = %q", s.Current(), s.Path())
	}

	writeFile(t, path, `{"a": {"workspace": "/ws/a", "production": "/prod/a", "containrs": []}}`)
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), `unknown key "containrs"`) {
		t.Fatalf("Reload of a bad file = %v", err)
	}
	if got := s.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("after a bad reload Names = %q, want the last good a, b", got)
	}
	if !s.LoadedAt().Equal(first) {
		t.Error("LoadedAt moved on a failed reload")
	}
	warn := lineWith(logs.String(), "level=WARN")
	if !strings.Contains(warn, "keeping the last good config") || !strings.Contains(warn, "containrs") {
		t.Errorf("warning line = %q", warn)
	}

	// Removing the project SCAR_DEFAULT_PROJECT names is a bad file too.
	writeFile(t, path, projectsFile(t, []string{"b", "c"}))
	if err := s.Reload(); !errors.Is(err, ErrUnknownProject) {
		t.Errorf("Reload dropping the default project = %v, want ErrUnknownProject", err)
	}

	writeFile(t, path, `{"a": {"workspace": "/ws/a", "production": "/prod/a", "compose_project": "a", "health_timeout": "5m"},
		"c": {"workspace": "/ws/c", "production": "/prod/c", "compose_project": "c"}}`)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if got := s.Names(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Names = %q, want a, c", got)
	}
	if p, err := s.Resolve(""); err != nil || p.Name != "a" || p.HealthTimeout != 5*time.Minute {
		t.Errorf("Resolve(\"\") = %+v, %v", p, err)
	}
	info := lineWith(logs.String(), "projects file reloaded")
	for _, want := range []string{"added=[c]", "removed=[b]", "changed=[a]"} {
		if !strings.Contains(info, want) {
			t.Errorf("reload log %q lacks %s", info, want)
		}
	}
}

func TestWatchPicksUpRenamedFile(t *testing.T) {
	s, path, _ := mustOpenStore(t, projectsFile(t, []string{"aa"}), "")
	old, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, 10*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	// Same size and mtime as the old file: only the inode tells them apart, as
	// when a config tool renames a prepared file into place within one mtime tick.
	next := projectsFile(t, []string{"bb"})
	if int64(len(next)) != old.Size() {
		t.Fatalf("replacement is %d bytes, old %d; the test needs them equal", len(next), old.Size())
	}
	tmp := path + ".tmp"
	writeFile(t, tmp, next)
	if err := os.Chtimes(tmp, old.ModTime(), old.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}

	waitFor(t, func() bool { return slices.Equal(s.Names(), []string{"bb"}) })
}

func TestWatchKeepsConfigWhenFileDisappears(t *testing.T) {
	s, path, logs := mustOpenStore(t, projectsFile(t, []string{"a"}), "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, 5*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "projects file unreadable") })
	writeFile(t, path, projectsFile(t, []string{"a", "b"}))
	waitFor(t, func() bool { return slices.Equal(s.Names(), []string{"a", "b"}) })
	if n := strings.Count(logs.String(), "projects file unreadable"); n != 1 {
		t.Errorf("missing file logged %d times, want once", n)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for an event
	}
}

// lineWith returns the last log line containing s.
func lineWith(logs, s string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}
