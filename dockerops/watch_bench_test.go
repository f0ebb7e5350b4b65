package dockerops

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// BenchmarkWatchDieToIncident measures, per container that exits on its own, the
// time from its die (the Engine's event time) to the incident's publication on the
// watcher's feed: the watcher's part of "event → alert" (the inspect and the log
// tail included). Run with -benchtime=50x or so: each iteration runs a container.
func BenchmarkWatchDieToIncident(b *testing.B) {
	f := newWatchFixture(b, nil)
	ch, cancel := f.w.Subscribe(f.project)
	defer cancel()
	stop := runWatcher(b, f.w)
	defer stop()
	f.waitUp(b)

	var delays []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		id := f.run(b, "job", dockertest.ContainerSpec{Name: dockertest.UniqueName(b, "job"), Env: []string{"EXIT_CODE=3", "LOG_LINES=20"}, NoStart: true})
		b.StartTimer()
		if _, err := f.cli.ContainerStart(b.Context(), id, client.ContainerStartOptions{}); err != nil {
			b.Fatal(err)
		}
		for ev := range ch {
			if ev.Incident != nil && ev.Incident.ContainerID == id {
				delays = append(delays, time.Since(ev.Incident.EventAt))
				break
			}
		}
	}
	slices.Sort(delays)
	if n := len(delays); n > 0 {
		b.ReportMetric(float64(delays[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(delays[n*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkWatchIdleCPU measures the CPU time the process spends per second of wall
// time while a watcher follows an engine on which nothing happens, and without one:
// the cost of watching when there is nothing to see (it never polls).
func BenchmarkWatchIdleCPU(b *testing.B) {
	for _, watching := range []bool{false, true} {
		name := "without watcher"
		if watching {
			name = "watching"
		}
		b.Run(name, func(b *testing.B) {
			f := newWatchFixture(b, nil)
			if watching {
				stop := runWatcher(b, f.w)
				defer stop()
				f.waitUp(b)
			}
			var cpu, wall time.Duration
			for b.Loop() {
				before, start := cpuTime(b), time.Now()
				time.Sleep(time.Second) // the measurement window, not a wait for a condition
				cpu += cpuTime(b) - before
				wall += time.Since(start)
			}
			b.ReportMetric(float64(cpu.Microseconds())/wall.Seconds(), "cpu-µs/s")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
