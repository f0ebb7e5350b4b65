package handlers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scar-dev/scar/store"
)

func TestGroupUpdatesRecordsEachIDOnce(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := GroupUpdates(db)

	// 400 callers at once for 100 ids, each id four times: exactly one of its four
	// callers is told it is new, wherever the batches fall.
	const ids, repeats = 100, 4
	var mu sync.Mutex
	firsts := map[int64]int{}
	var wg sync.WaitGroup
	for i := range ids * repeats {
		wg.Go(func() {
			id := int64(i % ids)
			first, err := log.MarkUpdate(ctx, id, time.Now())
			if err != nil {
				t.Errorf("MarkUpdate(%d): %v", id, err)
				return
			}
			if first {
				mu.Lock()
				firsts[id]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := range int64(ids) {
		if firsts[id] != 1 {
			t.Errorf("id %d reported new %d times, want once", id, firsts[id])
		}
	}
	// Recorded in the store itself: a later look, even without the group, sees them.
	if first, err := db.MarkUpdate(ctx, 42, time.Now()); err != nil || first {
		t.Errorf("store's MarkUpdate(42) = %v, %v; want false, nil", first, err)
	}
}

// heldLog is a BatchUpdateLog whose first commit waits until released, so that a
// test can line callers up behind it.
type heldLog struct {
	UpdateLog
	entered chan struct{}
	release chan struct{}
	fail    error

	mu      sync.Mutex
	batches [][]int64
}

func (h *heldLog) MarkUpdates(ctx context.Context, ids []int64, at time.Time) ([]bool, error) {
	h.mu.Lock()
	h.batches = append(h.batches, ids)
	n := len(h.batches)
	h.mu.Unlock()
	if n == 1 {
		close(h.entered)
		<-h.release
	}
	if h.fail != nil {
		return nil, h.fail
	}
	first := make([]bool, len(ids))
	for i := range first {
		first[i] = true
	}
	return first, nil
}

func TestGroupUpdatesBatchesWhileACommitRuns(t *testing.T) {
	boom := errors.New("disk full")
	tests := []struct {
		name    string
		fail    error
		wantErr bool
	}{
		{"callers waiting go in one commit", nil, false},
		{"a failed commit fails every caller in it", boom, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &heldLog{entered: make(chan struct{}), release: make(chan struct{}), fail: tc.fail}
			g := GroupUpdates(h).(*groupLog)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 11)
			wg.Go(func() { _, errs[0] = g.MarkUpdate(ctx, 0, time.Now()) })
			<-h.entered
			for i := 1; i <= 10; i++ {
				wg.Go(func() { _, errs[i] = g.MarkUpdate(ctx, int64(i), time.Now()) })
			}
			pollUntil(t, func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				return len(g.pending) == 10
			})
			close(h.release)
			wg.Wait()

			if len(h.batches) != 2 || len(h.batches[0]) != 1 || len(h.batches[1]) != 10 {
				t.Errorf("batches %v, want [[0] [the 10 others]]", h.batches)
			}
			for i, err := range errs {
				if (err != nil) != tc.wantErr || (tc.wantErr && !errors.Is(err, boom)) {
					t.Errorf("caller %d: error %v, want error %v", i, err, tc.wantErr)
				}
			}
		})
	}
}

// pollUntil polls cond until it holds, failing the test after 10 seconds.
func pollUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
