package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestMarkUpdateOncePerID(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Unix(1_700_000_000, 0)

	tests := []struct {
		name  string
		id    int64
		first bool
	}{
		{"new id", 10, true},
		{"same id again", 10, false},
		{"another id", 11, true},
		{"negative id is an id like any other", -5, true},
		{"negative id again", -5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, err := db.MarkUpdate(ctx, tc.id, now)
			if err != nil {
				t.Fatal(err)
			}
			if first != tc.first {
				t.Errorf("MarkUpdate(%d) = %v, want %v", tc.id, first, tc.first)
			}
		})
	}
}

func TestMarkUpdateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := db.MarkUpdate(ctx, 42, time.Now()); err != nil || !first {
		t.Fatalf("first mark = %v, %v; want true, nil", first, err)
	}
	db.Close()

	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	first, err := db.MarkUpdate(ctx, 42, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if first {
		t.Error("update 42 was new again after reopening the database; want it remembered")
	}
}

func TestMarkUpdateConcurrentDuplicatesWinOnce(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	const racers = 8
	var wg sync.WaitGroup
	results := make(chan bool, racers)
	for range racers {
		wg.Go(func() {
			first, err := db.MarkUpdate(ctx, 7, time.Now())
			if err != nil {
				t.Error(err)
			}
			results <- first
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for first := range results {
		if first {
			wins++
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent marks of one id reported first; want exactly 1", wins, racers)
	}
}

func TestPruneUpdatesForgetsOnlyOldIDs(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	base := time.Unix(1_700_000_000, 0)
	for i, at := range []time.Time{base.Add(-72 * time.Hour), base.Add(-49 * time.Hour), base.Add(-time.Hour)} {
		if _, err := db.MarkUpdate(ctx, int64(i+1), at); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PruneUpdates(ctx, base.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("pruned %d ids, want 2", n)
	}
	for _, tc := range []struct {
		id    int64
		first bool
	}{{1, true}, {2, true}, {3, false}} {
		first, err := db.MarkUpdate(ctx, tc.id, base)
		if err != nil {
			t.Fatal(err)
		}
		if first != tc.first {
			t.Errorf("after prune, MarkUpdate(%d) first = %v, want %v", tc.id, first, tc.first)
		}
	}
}

func TestForgetUpdateLetsItBeMarkedAgain(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Now()
	for _, id := range []int64{1, 2} {
		if _, err := db.MarkUpdate(ctx, id, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ForgetUpdate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.ForgetUpdate(ctx, 99); err != nil {
		t.Errorf("forgetting an unknown id: %v, want nil", err)
	}
	for _, tc := range []struct {
		id    int64
		first bool
	}{{1, true}, {2, false}} {
		if first, err := db.MarkUpdate(ctx, tc.id, now); err != nil || first != tc.first {
			t.Errorf("MarkUpdate(%d) after forgetting 1 = %v, %v; want %v", tc.id, first, err, tc.first)
		}
	}
}
