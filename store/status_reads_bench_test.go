package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStatusStoreCalls is what the store does for every REST status: the audit
// entry, and the mutes read that tells status whether the project's alerts are muted.
//
//	go test -run '^$' -bench StatusStoreCalls -benchmem -count 5 ./store/
func BenchmarkStatusStoreCalls(b *testing.B) {
	ctx := context.Background()
	db := MustOpen(b)
	b.Run("record-audit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := db.RecordAudit(ctx, AuditEntry{Who: "api:token", Source: "api", Action: "status", Project: "app", Outcome: "ok"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mutes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Mutes(ctx, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
