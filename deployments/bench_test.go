package deployments

import (
	"context"
	"os"
	"testing"

	"github.com/scar-dev/scar/bench/files/gentree"
)

const benchFiles = 10000

// benchFixture is a fixture whose workspace holds the generated 10k-file tree.
func benchFixture(b *testing.B) *fixture {
	b.Helper()
	f := newFixture(b)
	f.e.workers = 0
	e, err := New(Config{StateDir: f.state, Journal: f.db})
	if err != nil {
		b.Fatal(err)
	}
	f.e = e
	if _, err := gentree.Generate(f.ws, benchFiles, 1); err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkPlan(b *testing.B) {
	b.Run("unchanged-10k", func(b *testing.B) {
		f := benchFixture(b)
		f.deploy()
		b.ReportAllocs()
		for b.Loop() {
			if p := f.plan(); !p.Empty() {
				b.Fatalf("plan of an unchanged tree: %d added %d changed", len(p.Added), len(p.Changed))
			}
		}
	})
	b.Run("one-changed-10k", func(b *testing.B) {
		f := benchFixture(b)
		f.deploy()
		if _, err := gentree.ChangeOne(f.ws, 1); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if p := f.plan(); len(p.Changed) != 1 {
				b.Fatalf("plan: %d changed, want 1", len(p.Changed))
			}
		}
	})
}

func BenchmarkSync(b *testing.B) {
	b.Run("fresh-10k", func(b *testing.B) {
		f := benchFixture(b)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if err := os.RemoveAll(f.prod); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			deployOnce(b, f)
		}
	})
	b.Run("one-changed-10k", func(b *testing.B) {
		f := benchFixture(b)
		f.deploy()
		b.ReportAllocs()
		round := 0
		for b.Loop() {
			b.StopTimer()
			round++
			if _, err := gentree.ChangeOne(f.ws, round); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			deployOnce(b, f)
		}
	})
}

// deployOnce is the whole file half of a deploy: plan, backup, journal, sync, commit.
func deployOnce(b *testing.B, f *fixture) {
	b.Helper()
	ctx := context.Background()
	p := f.plan()
	d, err := f.e.Begin(ctx, f.nextID(), p)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Sync(ctx, nil); err != nil {
		b.Fatal(err)
	}
	if err := d.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}
