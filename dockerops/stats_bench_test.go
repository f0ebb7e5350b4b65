package dockerops

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// BenchmarkStats10 times the stats of 10 running containers through Service.Stats
// against docker stats --no-stream for the same 10, and first compares what the two
// say when run side by side. Both ask the engine for stream=false samples, so both
// wait for two rounds of its once-a-second collector; what differs is the rest (the
// CLI's start and its own calls). Run it with -benchtime=5x: an iteration is a second.
func BenchmarkStats10(b *testing.B) {
	f, cp := benchProject(b)
	ctx := b.Context()
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("%s-svc%d-1", cp, i)
	}

	// Same numbers: one side-by-side run, the largest differences logged.
	var st *ProjectStats
	var err error
	var wg sync.WaitGroup
	wg.Go(func() { st, err = f.svc.Stats(ctx, "bench") })
	cli := dockerStats(b, names...)
	wg.Wait()
	if err != nil || len(st.Containers) != 10 {
		b.Fatalf("stats: %v", err)
	}
	var cpuDiff, memDiff float64
	for _, c := range st.Containers {
		want := cli[c.Name]
		cpuDiff = max(cpuDiff, math.Abs(c.CPUPercent-want.CPUPercent))
		if want.MemoryBytes > 0 {
			memDiff = max(memDiff, math.Abs(float64(c.MemoryBytes)-want.MemoryBytes)/want.MemoryBytes*100)
		}
	}
	b.Logf("side by side, 10 containers: largest CPU difference %.2f points, largest memory difference %.1f%%", cpuDiff, memDiff)

	sides := []struct {
		name string
		read func(b *testing.B)
	}{
		{"service", func(b *testing.B) {
			if st, err := f.svc.Stats(ctx, "bench"); err != nil || len(st.Containers) != 10 {
				b.Fatalf("stats: %v", err)
			}
		}},
		{"docker-stats-cli", func(b *testing.B) {
			if got := dockerStats(b, names...); len(got) != 10 {
				b.Fatalf("docker stats: %d containers", len(got))
			}
		}},
	}
	// idle: the engine's collector has had no subscriber for longer than its 1s
	// interval, so it samples at once when asked (a user asking now and then);
	// back-to-back: it is mid-interval when the next call comes.
	for _, mode := range []string{"idle", "back-to-back"} {
		for _, side := range sides {
			b.Run(side.name+"/"+mode, func(b *testing.B) {
				var ds []time.Duration
				for b.Loop() {
					if mode == "idle" {
						b.StopTimer()
						time.Sleep(1200 * time.Millisecond)
						b.StartTimer()
					}
					start := time.Now()
					side.read(b)
					ds = append(ds, time.Since(start))
				}
				reportP50(b, ds)
			})
		}
	}
}
