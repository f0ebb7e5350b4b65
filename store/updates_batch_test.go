package store

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"
)

func TestMarkUpdatesInOneGo(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Unix(1_700_000_000, 0)
	if _, err := db.MarkUpdate(ctx, 7, now); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		ids   []int64
		first []bool
	}{
		{"new ids", []int64{1, 2, 3}, []bool{true, true, true}},
		{"some seen before, one by MarkUpdate", []int64{3, 4, 7}, []bool{false, true, false}},
		{"an id twice in one batch is new once", []int64{5, 5}, []bool{true, false}},
		{"empty batch", nil, []bool{}},
		// One prepared statement serves every size: a full group, then ids at the
		// ends of int64, which must come back from SQLite's JSON exactly.
		{"a full group", seq(1000, 256), trues(256)},
		{"int64's ends", []int64{math.MaxInt64, math.MinInt64, -1, 0}, []bool{true, true, true, true}},
		{"int64's ends again", []int64{math.MaxInt64, math.MinInt64}, []bool{false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, err := db.MarkUpdates(ctx, tc.ids, now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(first, tc.first) {
				t.Errorf("MarkUpdates(%v) = %v, want %v", tc.ids, first, tc.first)
			}
		})
	}
	// What a batch recorded, MarkUpdate sees, with the batch's time.
	for _, id := range []int64{4, 1255, math.MaxInt64} {
		if first, err := db.MarkUpdate(ctx, id, now); err != nil || first {
			t.Errorf("MarkUpdate(%d) after the batch = %v, %v; want false, nil", id, first, err)
		}
	}
	if n, err := db.PruneUpdates(ctx, now); err != nil || n != 0 {
		t.Errorf("PruneUpdates before the batches' time = %d, %v; want 0, nil", n, err)
	}
	if n, err := db.PruneUpdates(ctx, now.Add(time.Nanosecond)); err != nil || n != 266 {
		t.Errorf("PruneUpdates after the batches = %d, %v; want every id recorded (266), at the batches' time", n, err)
	}
}

func seq(from int64, n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = from + int64(i)
	}
	return ids
}

func trues(n int) []bool { return slices.Repeat([]bool{true}, n) }

func TestMarkUpdatesFailsWhole(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.MarkUpdates(cancelled, []int64{1, 2}, time.Now()); err == nil {
		t.Fatal("MarkUpdates with a cancelled context: want an error")
	}
	// Nothing of the failed batch was kept.
	first, err := db.MarkUpdates(ctx, []int64{1, 2}, time.Now())
	if err != nil || !slices.Equal(first, []bool{true, true}) {
		t.Errorf("after a failed batch: %v, %v; want [true true], nil", first, err)
	}
}
