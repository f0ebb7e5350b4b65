package store

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHotStatements is what the store does for every REST status (the audit
// entry, and the mutes read that tells status whether the project's alerts are muted)
// and for every Engine event the watcher handles (its cursor).
//
//	go test -run '^$' -bench HotStatements -benchmem -count 5 ./store/
func BenchmarkHotStatements(b *testing.B) {
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
	b.Run("set-watch-cursor", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := db.SetWatchCursor(ctx, "unix:///var/run/docker.sock", time.Now(), []string{"a", "b"}); err != nil {
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
