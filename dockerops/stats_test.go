package dockerops

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/scar-dev/scar/internal/dockertest"
)

// cpuTolerance is how far, in percentage points, scar's CPU % may be from docker
// stats' for the same container. Both read the engine's collector, which samples once
// a second; run side by side they usually read the same two samples and agree
// exactly, but one may catch the next round, and a spinning goroutine on a 2-core
// machine shared with other test runs (load average up to 20 in CI) gets a share of
// a core that moves by tens of points from one second to the next. The averages of
// three rounds are compared.
const cpuTolerance = 15

// TestStatsMatchesDockerStats checks Stats against docker stats --no-stream, run at
// the same moments, for a container that burns a core, an idle one, a stopped one
// and one the project lists that does not exist.
func TestStatsMatchesDockerStats(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "stats")
	ps := projectMap{"shop": {Name: "shop", ComposeProject: cp, Containers: []string{"busy", "idle", "done", "ghost"}}}
	f := newFixture(t, ps)
	f.run(t, cp, "busy", dockertest.ContainerSpec{Env: []string{"BURN_CPU=1"}, Healthcheck: noHealthcheck})
	f.run(t, cp, "idle", dockertest.ContainerSpec{Healthcheck: noHealthcheck, MemoryMiB: 64})
	done := f.run(t, cp, "done", dockertest.ContainerSpec{Env: []string{"EXIT_AT_START=1"}})
	dockertest.WaitExited(t, f.cli, done, 30*time.Second)
	busyName, idleName := dockertest.V2Name(cp, "busy", 1), dockertest.V2Name(cp, "idle", 1)

	const rounds = 3
	scarCPU, cliCPU := map[string]float64{}, map[string]float64{}
	var last *ProjectStats
	var lastCLI map[string]cliStats
	for range rounds {
		var wg sync.WaitGroup
		var st *ProjectStats
		var err error
		wg.Go(func() { st, err = f.svc.Stats(t.Context(), "shop") })
		cli := dockerStats(t, busyName, idleName)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Containers {
			scarCPU[c.Name] += c.CPUPercent / rounds
		}
		for name, c := range cli {
			cliCPU[name] += c.CPUPercent / rounds
		}
		last, lastCLI = st, cli
	}
	t.Logf("CPU %% over %d rounds: busy scar %.1f docker %.1f; idle scar %.1f docker %.1f",
		rounds, scarCPU[busyName], cliCPU[busyName], scarCPU[idleName], cliCPU[idleName])
	for _, c := range last.Containers[:2] {
		t.Logf("%s memory: scar %d B, docker stats %.0f B", c.Name, c.MemoryBytes, lastCLI[c.Name].MemoryBytes)
	}

	var names []string
	for _, c := range last.Containers {
		names = append(names, c.Name)
	}
	if want := []string{busyName, idleName, dockertest.V2Name(cp, "done", 1), "ghost"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("containers %v, want %v", names, want)
	}
	if last.Project != "shop" || last.At.IsZero() {
		t.Errorf("project %q at %v", last.Project, last.At)
	}
	// A spinning goroutine has a whole core on a quiet machine, and its share of two
	// at a load average of 20 (about 10%): the bar is low, but idle stays below it.
	if scarCPU[busyName] < 5 || scarCPU[busyName] < scarCPU[idleName]+3 {
		t.Errorf("busy container at %.1f%% CPU, idle at %.1f%%: BURN_CPU did not make it busy", scarCPU[busyName], scarCPU[idleName])
	}
	for _, c := range last.Containers[:2] {
		t.Run(c.Name, func(t *testing.T) {
			want := lastCLI[c.Name]
			if d := math.Abs(scarCPU[c.Name] - cliCPU[c.Name]); d > cpuTolerance {
				t.Errorf("CPU %.1f%%, docker stats %.1f%%: %.1f points apart", scarCPU[c.Name], cliCPU[c.Name], d)
			}
			if c.State != "running" || c.Service == "" || len(c.ID) != 12 || c.OnlineCPUs < 1 || c.PIDs < 1 {
				t.Errorf("state %q service %q id %q cpus %d pids %d", c.State, c.Service, c.ID, c.OnlineCPUs, c.PIDs)
			}
			// The CLI prints 3 or 4 significant digits; the memory of a Go binary
			// moves a little between two samples.
			if !near(float64(c.MemoryBytes), want.MemoryBytes, 0.15, 1<<20) {
				t.Errorf("memory %d, docker stats %.0f", c.MemoryBytes, want.MemoryBytes)
			}
			if !near(float64(c.MemoryLimitBytes), want.MemoryLimitBytes, 0.01, 0) {
				t.Errorf("memory limit %d, docker stats %.0f", c.MemoryLimitBytes, want.MemoryLimitBytes)
			}
			if !near(c.MemoryPercent, want.MemoryPercent, 0.15, 0.1) {
				t.Errorf("memory %.2f%%, docker stats %.2f%%", c.MemoryPercent, want.MemoryPercent)
			}
			if !near(float64(c.NetRxBytes), want.NetRxBytes, 0.05, 1000) || !near(float64(c.NetTxBytes), want.NetTxBytes, 0.05, 1000) {
				t.Errorf("net %d / %d, docker stats %.0f / %.0f", c.NetRxBytes, c.NetTxBytes, want.NetRxBytes, want.NetTxBytes)
			}
			if !near(float64(c.BlockReadBytes), want.BlockReadBytes, 0.05, 1000) || !near(float64(c.BlockWriteBytes), want.BlockWriteBytes, 0.05, 1000) {
				t.Errorf("block %d / %d, docker stats %.0f / %.0f", c.BlockReadBytes, c.BlockWriteBytes, want.BlockReadBytes, want.BlockWriteBytes)
			}
		})
	}
	if idle := last.Containers[1]; idle.MemoryLimitBytes != 64<<20 {
		t.Errorf("idle's memory limit %d, want the container's 64 MiB", idle.MemoryLimitBytes)
	}
	for _, c := range last.Containers[2:] {
		wantState := "exited"
		if c.Name == "ghost" {
			wantState = StateNotFound
		}
		zero := ContainerStats{Name: c.Name, ID: c.ID, Service: c.Service, State: wantState}
		if c != zero {
			t.Errorf("%s: %+v, want zeros with state %s", c.Name, c, wantState)
		}
	}
	if n := histogramCount(t, f.reg, OpStats, "shop", "success"); n != rounds {
		t.Errorf("stats observed %d times, want %d", n, rounds)
	}
}

func TestStatsOfUnknownProjectIsNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, projectMap{})
	_, err := f.svc.Stats(t.Context(), "nope")
	if !errors.Is(err, ErrUnknownProject) {
		t.Fatalf("err = %v, want ErrUnknownProject", err)
	}
	if n := histogramCount(t, f.reg, OpStats, "", OutcomeUnknownProject); n != 1 {
		t.Errorf("unknown project observed %d times, want 1", n)
	}
}

// TestStatsFigures checks the arithmetic against docker stats' on samples as the
// engine writes them under cgroup v1 and v2.
func TestStatsFigures(t *testing.T) {
	read := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	tests := []struct {
		name string
		v    container.StatsResponse
		want ContainerStats
	}{
		{
			name: "cgroup v1: one of two CPUs busy, total_inactive_file left out",
			v: container.StatsResponse{
				Read:        read,
				CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 3_000_000_000}, SystemUsage: 12_000_000_000, OnlineCPUs: 2},
				PreCPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 2_000_000_000}, SystemUsage: 10_000_000_000},
				MemoryStats: container.MemoryStats{Usage: 10 << 20, Limit: 100 << 20, Stats: map[string]uint64{"total_inactive_file": 2 << 20, "cache": 5 << 20, "inactive_file": 1 << 20}},
				Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: 100, TxBytes: 10}, "eth1": {RxBytes: 50, TxBytes: 5}},
				BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
					{Op: "Read", Value: 4096}, {Op: "Write", Value: 512}, {Op: "Sync", Value: 9}, {Op: "Total", Value: 4608}, {Op: "Read", Value: 4096},
				}},
				PidsStats: container.PidsStats{Current: 7},
			},
			want: ContainerStats{CPUPercent: 100, OnlineCPUs: 2, MemoryBytes: 8 << 20, MemoryLimitBytes: 100 << 20, MemoryPercent: 8,
				NetRxBytes: 150, NetTxBytes: 15, BlockReadBytes: 8192, BlockWriteBytes: 512, PIDs: 7},
		},
		{
			name: "cgroup v2: inactive_file, lower-case ops, CPUs counted from percpu_usage",
			v: container.StatsResponse{
				Read:        read,
				CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_500_000_000, PercpuUsage: []uint64{1, 1, 1, 1}}, SystemUsage: 14_000_000_000},
				PreCPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_000_000_000}, SystemUsage: 10_000_000_000},
				MemoryStats: container.MemoryStats{Usage: 6 << 20, Limit: 0, Stats: map[string]uint64{"inactive_file": 2 << 20}},
				BlkioStats:  container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{{Op: "read", Value: 1}, {Op: "write", Value: 2}}},
			},
			want: ContainerStats{CPUPercent: 50, OnlineCPUs: 4, MemoryBytes: 4 << 20, BlockReadBytes: 1, BlockWriteBytes: 2},
		},
		{
			name: "first sample of a stream: no previous CPU reading gives 0, not a lifetime average",
			v: container.StatsResponse{
				Read:        read,
				CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 5}, SystemUsage: 0, OnlineCPUs: 2},
				MemoryStats: container.MemoryStats{Usage: 3, Stats: map[string]uint64{"total_inactive_file": 9}},
			},
			want: ContainerStats{OnlineCPUs: 2, MemoryBytes: 3},
		},
		{
			name: "stopped since the list: the engine answers zeros",
			v:    container.StatsResponse{},
			want: ContainerStats{State: "exited"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got ContainerStats
			fillStats(&got, &tc.v)
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// cliStats is one container of docker stats --no-stream, in bytes and percent.
type cliStats struct {
	CPUPercent, MemoryPercent       float64
	MemoryBytes, MemoryLimitBytes   float64
	NetRxBytes, NetTxBytes          float64
	BlockReadBytes, BlockWriteBytes float64
}

// dockerStats runs docker stats --no-stream for the named containers.
func dockerStats(t testing.TB, names ...string) map[string]cliStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append([]string{"stats", "--no-stream", "--format", "{{json .}}"}, names...)...).Output()
	if err != nil {
		t.Fatalf("docker stats: %v", err)
	}
	got := map[string]cliStats{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		var row struct{ Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("docker stats line %q: %v", line, err)
		}
		var s cliStats
		s.CPUPercent = parseCLIPercent(t, row.CPUPerc)
		s.MemoryPercent = parseCLIPercent(t, row.MemPerc)
		s.MemoryBytes, s.MemoryLimitBytes = parseCLIPair(t, row.MemUsage)
		s.NetRxBytes, s.NetTxBytes = parseCLIPair(t, row.NetIO)
		s.BlockReadBytes, s.BlockWriteBytes = parseCLIPair(t, row.BlockIO)
		got[row.Name] = s
	}
	if len(got) != len(names) {
		t.Fatalf("docker stats gave %d containers, want %d:\n%s", len(got), len(names), out)
	}
	return got
}

func parseCLIPercent(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		t.Fatalf("docker stats percent %q: %v", s, err)
	}
	return v
}

// parseCLIPair reads "1.5MiB / 7.7GiB" or "1.2kB / 0B".
func parseCLIPair(t testing.TB, s string) (float64, float64) {
	t.Helper()
	a, b, ok := strings.Cut(s, " / ")
	if !ok {
		t.Fatalf("docker stats pair %q", s)
	}
	return parseCLISize(t, a), parseCLISize(t, b)
}

// parseCLISize reads the CLI's sizes: binary units for memory (go-units BytesSize),
// decimal ones for network and block I/O (HumanSizeWithPrecision).
func parseCLISize(t testing.TB, s string) float64 {
	t.Helper()
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				t.Fatalf("docker stats size %q: %v", s, err)
			}
			return v * u.mult
		}
	}
	t.Fatalf("docker stats size %q: unknown unit", s)
	return 0
}

// near reports whether got is within rel (a fraction of want) or abs of want.
func near(got, want, rel, abs float64) bool {
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Abs(want)
}
