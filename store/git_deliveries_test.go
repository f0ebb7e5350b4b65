package store

import (
	"context"
	"testing"
	"time"
)

// TestGitDeliveries: a delivery id is fresh once per project, again after it was
// forgotten, and again once DeliveryRetention has passed.
func TestGitDeliveries(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	mark := func(project, id string, at time.Time, want bool) {
		t.Helper()
		fresh, err := db.MarkDelivery(ctx, project, id, at)
		if err != nil {
			t.Fatal(err)
		}
		if fresh != want {
			t.Fatalf("MarkDelivery(%s, %s) at %s = %v, want %v", project, id, at.Format(time.RFC3339), fresh, want)
		}
	}
	mark("shop", "d-1", now, true)
	mark("shop", "d-1", now.Add(time.Minute), false)
	mark("shop-staging", "d-1", now, true) // another project's hook may carry the same id
	if err := db.ForgetDelivery(ctx, "shop", "d-1"); err != nil {
		t.Fatal(err)
	}
	mark("shop", "d-1", now.Add(2*time.Minute), true)
	mark("shop", "d-1", now.Add(DeliveryRetention+3*time.Minute), true) // the old record was pruned
}
