package dockerops

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

// benchProject starts a 10-container Compose-labelled project, all healthy.
func benchProject(b *testing.B) (*fixture, string) {
	b.Helper()
	cp := dockertest.UniqueName(b, "bench")
	ps := projectMap{"bench": {Name: "bench", ComposeProject: cp, PrimaryContainer: "svc0"}}
	f := newFixture(b, ps)
	var ids []string
	for i := range 10 {
		ids = append(ids, f.run(b, cp, fmt.Sprintf("svc%d", i), dockertest.ContainerSpec{
			Env:     []string{"LOG_LINES=200"},
			Publish: map[string]string{"8000/tcp": ""},
		}))
	}
	f.waitHealthy(b, ids...)
	return f, cp
}

// reportP50 adds the median of the iterations' durations to the benchmark's output.
func reportP50(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) > 0 {
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	}
}

// BenchmarkStatus compares Status with the engine calls it cannot do without: one
// list call and the inspects, run concurrently.
func BenchmarkStatus(b *testing.B) {
	f, cp := benchProject(b)
	ctx := b.Context()

	b.Run("service", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			st, err := f.svc.Status(ctx, "bench")
			if err != nil || len(st.Containers) != 10 {
				b.Fatalf("status: %v", err)
			}
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})

	b.Run("raw-engine-calls", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			list, err := f.engine.ContainerList(ctx, client.ContainerListOptions{
				All: true, Filters: client.Filters{}.Add("label", labelProject+"="+cp),
			})
			if err != nil || len(list.Items) != 10 {
				b.Fatalf("list: %v", err)
			}
			var wg sync.WaitGroup
			for _, c := range list.Items {
				wg.Go(func() {
					if _, err := f.engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{}); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})
}

// BenchmarkLogs reads the primary container's last 50 lines, against the engine
// calls behind it: resolve (list), inspect for TTY, and the log stream demultiplexed.
func BenchmarkLogs(b *testing.B) {
	f, cp := benchProject(b)
	ctx := b.Context()

	b.Run("service", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			res, err := f.svc.Logs(ctx, "bench", LogsRequest{})
			if err != nil || len(res.Lines) != DefaultLogLines {
				b.Fatalf("logs: %v", err)
			}
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})

	b.Run("raw-engine-calls", func(b *testing.B) {
		b.ReportAllocs()
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			list, err := f.engine.ContainerList(ctx, client.ContainerListOptions{
				All: true, Filters: client.Filters{}.Add("label", labelProject+"="+cp),
			})
			if err != nil || len(list.Items) != 10 {
				b.Fatalf("list: %v", err)
			}
			id := list.Items[0].ID
			if _, err := f.engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
				b.Fatal(err)
			}
			rc, err := f.engine.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: "50"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := stdcopy.StdCopy(io.Discard, io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
			ds = append(ds, time.Since(start))
		}
		reportP50(b, ds)
	})
}

// BenchmarkRestart compares restarting one container with restarting five at once;
// each waits for its health check (1s interval), so the goal is five ≈ one.
func BenchmarkRestart(b *testing.B) {
	cp := dockertest.UniqueName(b, "benchrs")
	ps := projectMap{"bench": {Name: "bench", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(b, ps)
	var ids []string
	for i := range 5 {
		ids = append(ids, f.run(b, cp, fmt.Sprintf("svc%d", i), dockertest.ContainerSpec{}))
	}
	f.waitHealthy(b, ids...)
	for _, tc := range []struct {
		name string
		req  RestartRequest
	}{
		{"one", RestartRequest{Containers: []string{"svc0"}}},
		{"five", RestartRequest{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				res, err := f.svc.Restart(b.Context(), "bench", tc.req, Actor{Name: "bench"}, nil)
				if err != nil || !res.OK {
					b.Fatalf("restart: %+v %v", res, err)
				}
			}
		})
	}
}

// BenchmarkFollowLatency times a line from the moment the container writes it (the
// time the demo app puts in each "tick N <time>" line) to the moment the reader has
// it: through FollowLogs, and through `docker logs -f` (the CLI) as the raw peer.
// Each iteration waits for the next tick; p50 and p99 are reported.
func BenchmarkFollowLatency(b *testing.B) {
	cp := dockertest.UniqueName(b, "benchfollow")
	ps := projectMap{"bench": {Name: "bench", ComposeProject: cp, Containers: []string{"web"}}}
	f := newFixture(b, ps)
	id := f.run(b, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=0", "TICK_EVERY=20ms"}, Healthcheck: noHealthcheck})

	b.Run("FollowLogs", func(b *testing.B) {
		fl, err := f.svc.FollowLogs(b.Context(), "bench", FollowRequest{LogsRequest: LogsRequest{Lines: 1}})
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			fl.Stop()
			for range fl.Lines {
			}
		}()
		var ds []time.Duration
		for b.Loop() {
			for l := range fl.Lines {
				if at, ok := tickWritten(l.Text); ok && !l.Note {
					ds = append(ds, time.Since(at))
					break
				}
			}
		}
		reportLatency(b, ds)
	})
	b.Run("docker logs -f", func(b *testing.B) {
		cmd := exec.CommandContext(b.Context(), "docker", "logs", "-f", "--tail", "0", id)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
		sc := bufio.NewScanner(out)
		var ds []time.Duration
		for b.Loop() {
			for sc.Scan() {
				if at, ok := tickWritten(sc.Text()); ok {
					ds = append(ds, time.Since(at))
					break
				}
			}
		}
		reportLatency(b, ds)
	})
}

// tickWritten is the time in a "tick N <time>" line of the demo app.
func tickWritten(line string) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "tick" {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, f[2])
	return at, err == nil
}

// reportLatency adds the median and the 99th percentile of ds, in µs.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}
