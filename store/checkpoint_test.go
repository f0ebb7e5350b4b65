package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointsRunInTheBackground: what the update-id log's commits write reaches
// the database file without a commit crossing SQLite's checkpoint threshold (a few
// hundred WAL pages here, far below it): the checkpointer, woken by them, copies it. At Close the WAL is gone, as it
// was with one connection, and everything is there when the database is opened again.
func TestCheckpointsRunInTheBackground(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := size()
	var ids []int64
	for i := range 40 * 256 {
		ids = append(ids, int64(i))
		if len(ids) == 256 {
			if _, err := db.MarkUpdates(ctx, ids, time.Now()); err != nil {
				t.Fatal(err)
			}
			ids = ids[:0]
		}
	}
	waitFor(t, "the new rows checkpointed", func() bool { return size() > before })

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WAL after Close: %v, want it removed", err)
	}
	if err := db.Close(); err != nil {
		t.Logf("second Close: %v", err) // not a panic
	}
	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if first, err := db.MarkUpdates(ctx, []int64{0, 10239, 10240}, time.Now()); err != nil || first[0] || first[1] || !first[2] {
		t.Errorf("after reopening: MarkUpdates(0, 10239, 10240) = %v, %v; want [false false true]", first, err)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
