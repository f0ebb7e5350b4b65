// Command suite is scar's benchmark against what users would run instead, on the same
// machine in the same run: it brings up Compose projects from the offline test image,
// starts a scar binary against them, times scar's REST API and webhook against the
// Docker CLI, Compose, raw Engine API calls, rsync, the seed bot's own approach
// (bench/peers) and a bare net/http handler, alternating the sides, and prints the
// medians and the ratio scar/peer of every row with its goal. bench/run.sh builds
// the binaries and runs it; everything it made is removed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/suite:", err)
		os.Exit(1)
	}
}

type options struct {
	root, dir, runID          string
	scarBin, bareBin          string
	filesBin                  string
	runs, restartRuns         int
	treeFiles                 int
	webhookConns, webhookRuns int
	webhookDuration           time.Duration
	latencyDuration           time.Duration
	filesFsync                bool
	webhookRates              []float64
	only                      string
	hold                      bool

	// The alerts rows.
	scarNoWatch     string
	alertDeaths     int
	alertSpacing    time.Duration
	alertIdle       time.Duration
	alertContainers int
	alertRunning    bool
	alertBurst      bool
}

// suite is one run: its fixtures, the scar under test, the peers and the results.
type suite struct {
	ctx  context.Context
	opts options
	out  io.Writer
	f    *fixtures
	scar *scarProc
	bot  *botAPI
	raw  *rawEngine
	seed *seedPeer
	al   *alertFixtures
	push *pushFixtures
	t    table

	// composeMain brings the projects up and is the seed's; V1 and V2 are the peers
	// (nil when that tool is missing).
	composeMain, composeV1, composeV2 []string

	version int
	idleRSS int64
	peakRSS int64
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o := options{webhookRates: []float64{1000, 5000}}
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.StringVar(&o.root, "root", ".", "the repository")
	fs.StringVar(&o.dir, "dir", "", "working directory (required; run.sh makes and removes it)")
	fs.StringVar(&o.runID, "run-id", "", "unique lowercase id; prefixes the Compose projects (required)")
	fs.StringVar(&o.scarBin, "scar", "", "the scar binary under test (required)")
	fs.StringVar(&o.bareBin, "barehook", "", "the bench/barehook binary (required)")
	fs.StringVar(&o.filesBin, "files", "", "the bench/files binary (plan and sync against rsync); empty: skipped")
	fs.IntVar(&o.runs, "runs", 5, "runs of each side per row (status and logs run 4× as many: they are fast)")
	fs.IntVar(&o.restartRuns, "restart-runs", 3, "runs of each side of the restart rows (deploy: 2 more)")
	fs.IntVar(&o.treeFiles, "tree", 10000, "files in the deploy project's tree")
	fs.IntVar(&o.webhookConns, "webhook-conns", 100, "connections of the webhook load")
	fs.DurationVar(&o.webhookDuration, "webhook-duration", 20*time.Second, "length of each webhook load run")
	fs.IntVar(&o.webhookRuns, "webhook-runs", 2, "saturation runs of each side")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "length of the webhook latency run of each side (at each -webhook-rate)")
	fs.BoolVar(&o.filesFsync, "files-fsync", false, "bench/files also against rsync -a --fsync (about a minute more)")
	fs.Func("webhook-rate", "updates per second of the latency runs, comma-separated (default 1000,5000)", func(v string) error {
		o.webhookRates = nil
		for f := range strings.SplitSeq(v, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || r <= 0 {
				return fmt.Errorf("rate %q: want a positive number", f)
			}
			o.webhookRates = append(o.webhookRates, r)
		}
		return nil
	})
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run (status,logs,follow,stats,plan,restart,deploy,push,files,webhook,alerts); empty: all")
	fs.StringVar(&o.scarNoWatch, "scar-nowatch", "", "scar as it was before the event watcher (the idle CPU row's peer); empty: left out")
	fs.IntVar(&o.alertDeaths, "alert-deaths", 200, "containers that die one by one in the alert latency row")
	fs.DurationVar(&o.alertSpacing, "alert-spacing", 400*time.Millisecond, "time between two deaths of the alert latency row (spread over 4 projects and alert chats)")
	fs.DurationVar(&o.alertIdle, "alert-idle", 60*time.Second, "the window of the idle CPU row")
	fs.IntVar(&o.alertContainers, "alert-containers", 500, "containers on the engine in the alerts memory row")
	fs.BoolVar(&o.alertRunning, "alert-running", true, "start the memory row's containers (else only created)")
	fs.BoolVar(&o.alertBurst, "alert-burst", false, "kill the memory row's running containers at once from the host (a burst of deaths); off by default: on Docker 20.10 with fuse-overlayfs it once left dockerd with containers it still shows running and cannot inspect or remove (BENCHMARKS.md)")
	fs.BoolVar(&o.hold, "hold", false, "after setting up, print how to reach scar and wait for Ctrl-C (to investigate by hand)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.dir == "" || o.runID == "" || o.scarBin == "" || o.bareBin == "" {
		return fmt.Errorf("-dir, -run-id, -scar and -barehook are required")
	}
	root, err := filepath.Abs(o.root)
	if err != nil {
		return err
	}
	o.root = root

	s := &suite{ctx: ctx, opts: o, out: out}
	if exec.Command("docker", "compose", "version").Run() == nil {
		s.composeV2 = []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		s.composeV1 = []string{"docker-compose"}
	}
	s.composeMain = s.composeV2
	if s.composeMain == nil {
		s.composeMain = s.composeV1
	}
	if s.composeMain == nil {
		return fmt.Errorf("no Compose tool: neither `docker compose` nor docker-compose")
	}
	if s.raw, err = newRawEngine(); err != nil {
		return err
	}

	start := time.Now()
	s.f = &fixtures{root: o.root, dir: o.dir, runID: o.runID, compose: s.composeMain}
	defer s.f.teardown()
	fmt.Fprintf(out, "setting up: image, 3 Compose projects (10 + 5 + 1 containers), a %d-file tree ...\n", o.treeFiles)
	if err := s.f.setup(ctx, o.treeFiles); err != nil {
		return fmt.Errorf("fixtures: %w", err)
	}
	var more map[string]benchProject
	if selected(o.only, "alerts") {
		if s.al, more, err = s.f.alertSetup(o.alertDeaths, o.alertContainers); err != nil {
			return fmt.Errorf("alerts fixtures: %w", err)
		}
	}
	if selected(o.only, "push") {
		var ps map[string]benchProject
		if s.push, ps, err = s.f.pushSetup(ctx, o.treeFiles); err != nil {
			return fmt.Errorf("push fixtures: %w", err)
		}
		if more == nil {
			more = map[string]benchProject{}
		}
		for name, p := range ps {
			more[name] = p
		}
	}
	if s.bot, err = startBotAPI(); err != nil {
		return err
	}
	defer s.bot.srv.Close()
	if s.scar, err = startScar(ctx, o.scarBin, o.dir, s.f, more, s.bot.url, s.composeMain); err != nil {
		return err
	}
	defer s.scar.stop()
	if s.seed, err = startSeedPeer(o.root); err != nil {
		return err
	}
	defer s.seed.stop()
	fmt.Fprintf(out, "ready in %s: scar pid %d on %s\n", time.Since(start).Round(100*time.Millisecond), s.scar.cmd.Process.Pid, s.scar.base)

	// Idle: started, ready, nothing asked of it yet but the readiness probe.
	time.Sleep(2 * time.Second)
	if s.idleRSS, _, err = s.scar.rss(); err != nil {
		return err
	}

	if o.hold {
		fmt.Fprintf(out, "holding: curl -H 'Authorization: Bearer %s' %s/api/v1/projects/status/status; projects status, restart, deploy under %s; Ctrl-C ends\n", apiToken, s.scar.base, o.dir)
		<-ctx.Done()
		return nil
	}

	sections := []struct {
		name string
		fn   func() error
	}{
		{"status", s.statusRows},
		{"logs", s.logsRows},
		{"follow", s.followRows},
		{"plan", s.planRows},
		{"restart", s.restartRows},
		{"deploy", s.deployRows},
		{"push", s.pushRows},
		{"stats", s.statsRows},
		{"files", s.filesRows},
		{"webhook", s.webhookRows},
		{"alerts", s.alertsRows},
	}
	for _, sec := range sections {
		if !selected(o.only, sec.name) {
			continue
		}
		started := time.Now()
		if err := sec.fn(); err != nil {
			return fmt.Errorf("%s: %w", sec.name, err)
		}
		fmt.Fprintf(out, "  (%s: %s)\n", sec.name, time.Since(started).Round(time.Second))
	}
	s.memoryRows()

	fmt.Fprintf(out, "\nresults (medians; scar/peer below 1: scar is faster; %s in all):\n\n", time.Since(start).Round(time.Second))
	s.t.print(out)
	if m := s.t.missed(); len(m) > 0 {
		fmt.Fprintf(out, "\ngoals missed: %s\n", strings.Join(m, "; "))
	} else {
		fmt.Fprintln(out, "\nevery goal met")
	}
	return nil
}

func (s *suite) memoryRows() {
	const mib = 1 << 20
	mem := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/mib) }
	s.t.add(row{name: "memory: RSS idle (after start)", scar: mem(s.idleRSS), goal: "≤ 25 MiB", verdict: verdict(s.idleRSS <= 25*mib)})
	if s.peakRSS > 0 {
		s.t.add(row{name: "memory: RSS under the webhook load (peak of 50 ms samples)", scar: mem(s.peakRSS), goal: "≤ 60 MiB", verdict: verdict(s.peakRSS <= 60*mib)})
	}
	if cur, hwm, err := s.scar.rss(); err == nil {
		s.t.add(row{name: "memory: RSS at the end; VmHWM (peak of the whole run)", scar: mem(cur) + "; " + mem(hwm)})
	}
}

// selected reports whether -only (comma-separated; empty: all) runs section.
func selected(only, section string) bool {
	return only == "" || slices.Contains(strings.Split(only, ","), section)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
