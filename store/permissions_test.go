package store

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenMakesStatePrivate opens a state directory that an older scar, a restored
// backup or a careless chmod left readable by others: after Open the directory is
// 0700 and the database and its WAL files are 0600. A new directory starts so.
func TestOpenMakesStatePrivate(t *testing.T) {
	ctx := context.Background()
	t.Run("existing and loose", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		loosen := map[string]fs.FileMode{dir: 0o755, filepath.Join(dir, FileName): 0o644}
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.WriteFile(filepath.Join(dir, FileName+suffix), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			loosen[filepath.Join(dir, FileName+suffix)] = 0o666
		}
		for path, mode := range loosen {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
		db, err = Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		wantModes(t, dir)
	})
	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// A write makes SQLite create its WAL files, with the database's mode.
		if _, err := db.SchemaVersion(ctx); err != nil {
			t.Fatal(err)
		}
		wantModes(t, dir)
	})
}

// wantModes checks the state directory is 0700 and every database file in it 0600.
func wantModes(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("state dir mode %o, want 700", got)
	}
	for _, name := range []string{FileName, FileName + "-wal", FileName + "-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if os.IsNotExist(err) && name != FileName {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode %o, want 600", name, got)
		}
	}
}
