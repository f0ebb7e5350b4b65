package store

import (
	"context"
	"testing"
	"time"
)

// MustOpen opens a database in a fresh temporary directory, closed at cleanup.
func MustOpen(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesEmptyAndMigratedDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for i := range 2 {
		db, err := Open(ctx, dir)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != len(migrations) {
			t.Errorf("open %d: schema version %d, want %d", i, v, len(migrations))
		}
		var n int
		if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) {
			t.Errorf("open %d: %d migration rows, want %d (each applied once)", i, n, len(migrations))
		}
		db.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("open of a database from a newer scar succeeded; want an error")
	}
}

func TestOpenUnwritableDir(t *testing.T) {
	if _, err := Open(context.Background(), "/proc/scar-cannot-be-here"); err == nil {
		t.Fatal("open in an unwritable directory succeeded")
	}
}

func TestAuditFilters(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range []string{"a", "b", "a"} {
		if err := db.RecordAudit(ctx, AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Who: "api:ci", Action: "status", Project: p, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		project string
		since   time.Time
		want    int
	}{
		{"all", "", time.Time{}, 3},
		{"one project", "a", time.Time{}, 2},
		{"since", "", base.Add(90 * time.Minute), 1},
		{"unknown project", "zzz", time.Time{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Audit(ctx, tc.project, tc.since, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("got %d entries, want %d", len(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].At.After(got[i-1].At) {
					t.Errorf("entries not newest first")
				}
			}
		})
	}
}
