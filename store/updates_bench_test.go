package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkMarkUpdates records batches of new update ids, as the webhook's group
// commit does: 1 id (a quiet bot), 16 and 256 (the largest group). ns/op is per
// batch, one commit each. Run with:
//
//	go test -run '^$' -bench MarkUpdates -benchmem -count 5 ./store/
func BenchmarkMarkUpdates(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("ids=%d", n), func(b *testing.B) {
			db := MustOpen(b)
			ids := make([]int64, n)
			next := int64(1_000_000)
			b.ReportAllocs()
			for b.Loop() {
				for i := range ids {
					ids[i] = next
					next++
				}
				if _, err := db.MarkUpdates(ctx, ids, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
