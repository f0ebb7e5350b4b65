package store

import (
	"context"
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
	// What a batch recorded, MarkUpdate sees.
	if first, err := db.MarkUpdate(ctx, 4, now); err != nil || first {
		t.Errorf("MarkUpdate(4) after the batch = %v, %v; want false, nil", first, err)
	}
}

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
