// Command files times scar's deploy file engine against rsync on the same generated
// tree, in one run, alternating the two: the plan against rsync -a -n, the sync
// against rsync -a, for a fresh copy, one file changed and nothing changed. It prints
// the median of each and the ratio scar/rsync (below 1: scar is faster).
//
// scar runs in this process, as it does in the service; rsync is started per run, as
// a deploy script would. scar's sync is the whole file half of a deploy — plan,
// backup, journal, fsync of every file, commit — while plain rsync -a does not fsync,
// so rsync -a --fsync is timed too, for the like-for-like figure.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/scar-dev/scar/bench/files/gentree"
	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench/files:", err)
		os.Exit(1)
	}
}

var rsyncExcludes = []string{"--exclude", ".git", "--exclude", "__pycache__", "--exclude", "*.pyc"}

type bench struct {
	ctx      context.Context
	eng      *deployments.Engine
	project  projects.Project
	ws       string
	prodScar string
	prodRs   string
	ids      int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("files", flag.ContinueOnError)
	files := fs.Int("files", 10000, "files in the generated tree")
	runs := fs.Int("runs", 5, "timed runs of each side per scenario")
	dir := fs.String("dir", "", "working directory (default: a new temporary one, removed after)")
	fsyncPeer := fs.Bool("fsync-peer", true, "also time rsync -a --fsync for the syncs")
	workers := fs.Int("workers", 0, "scar's copy workers (0: its default)")
	only := fs.String("only", "", "run only the scenarios whose name contains this")
	verbose := fs.Bool("v", false, "print every run's time, not just the medians")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("rsync not found (apt-get install -y rsync): %w", err)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "scar-bench-files-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	b, cleanup, err := setup(ctx, *dir, *files, *workers)
	if err != nil {
		return err
	}
	defer cleanup()

	fmt.Fprintf(out, "tree: %d files; %d runs each, alternating; medians\n\n", *files, *runs)
	fmt.Fprintf(out, "%-32s %12s %12s %8s\n", "scenario", "scar", "rsync", "ratio")
	report := func(name string, scar, peer []time.Duration) {
		s, r := median(scar), median(peer)
		fmt.Fprintf(out, "%-32s %12s %12s %8.2f\n", name, round(s), round(r), float64(s)/float64(r))
		if *verbose {
			fmt.Fprintf(out, "    scar  %v\n    rsync %v\n", roundAll(scar), roundAll(peer))
		}
	}
	rsync := func(extra ...string) func(dst string) error {
		return func(dst string) error {
			a := append(append([]string{"-a"}, extra...), rsyncExcludes...)
			return exec.Command("rsync", append(a, b.ws+"/", dst+"/")...).Run()
		}
	}

	// Both production copies start identical to the workspace.
	if err := b.deploy(); err != nil {
		return err
	}
	if err := rsync()(b.prodRs); err != nil {
		return err
	}
	round := 0
	change := func() error { round++; _, err := gentree.ChangeOne(b.ws, round); return err }
	wipe := func() error {
		for _, d := range []string{b.prodScar, b.prodRs} {
			if err := os.RemoveAll(d); err != nil {
				return err
			}
		}
		return nil
	}
	rsyncN := func() error { return rsync("-n")(b.prodRs) }
	rsyncA := func() error { return rsync()(b.prodRs) }
	rsyncF := func() error { return rsync("--fsync")(b.prodRs) }
	scenarios := []struct {
		name string
		// once runs before the scenario's runs, each before every pair of runs.
		once, each  func() error
		scar, peer  func() error
		fsyncHeader bool
	}{
		{name: "plan, nothing changed (-n)", scar: b.plan, peer: rsyncN},
		{name: "plan, 1 file changed (-n)", once: change, scar: b.plan, peer: rsyncN},
		// Each side syncs the change made before the pair.
		{name: "sync, 1 file changed", each: change, scar: b.deploy, peer: rsyncA},
		{name: "sync, nothing changed", scar: b.deploy, peer: rsyncA},
		{name: "sync, fresh copy", each: wipe, scar: b.deploy, peer: rsyncA},
		{name: "sync, fresh copy (--fsync)", each: wipe, scar: b.deploy, peer: rsyncF, fsyncHeader: true},
		{name: "sync, 1 file changed (--fsync)", each: change, scar: b.deploy, peer: rsyncF},
	}
	for _, sc := range scenarios {
		if !strings.Contains(sc.name, *only) || (!*fsyncPeer && strings.Contains(sc.name, "--fsync")) {
			continue
		}
		if sc.fsyncHeader {
			fmt.Fprintf(out, "\nagainst rsync -a --fsync (rsync also syncing every file, as scar does):\n")
		}
		if sc.once != nil {
			if err := sc.once(); err != nil {
				return err
			}
		}
		scar, peer, err := alternate(*runs, sc.each, sc.scar, sc.peer)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		report(sc.name, scar, peer)
	}
	return nil
}

func setup(ctx context.Context, dir string, files, workers int) (*bench, func(), error) {
	b := &bench{ctx: ctx, ws: filepath.Join(dir, "ws"), prodScar: filepath.Join(dir, "prod-scar"), prodRs: filepath.Join(dir, "prod-rsync")}
	if _, err := gentree.Generate(b.ws, files, 1); err != nil {
		return nil, nil, fmt.Errorf("generate tree: %w", err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "state"))
	if err != nil {
		return nil, nil, err
	}
	eng, err := deployments.New(deployments.Config{StateDir: filepath.Join(dir, "state"), Journal: db, Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	b.eng = eng
	b.project = projects.Project{Name: "bench", Workspace: b.ws, Production: b.prodScar, Rebuild: projects.RebuildAuto}
	return b, func() { db.Close() }, nil
}

func (b *bench) plan() error {
	_, err := b.eng.Plan(b.ctx, &b.project)
	return err
}

// deploy is the file half of a deploy: plan, and if there is anything to do, backup,
// journal, sync and commit.
func (b *bench) deploy() error {
	p, err := b.eng.Plan(b.ctx, &b.project)
	if err != nil || p.Empty() {
		return err
	}
	b.ids++
	d, err := b.eng.Begin(b.ctx, fmt.Sprintf("bench-%d", b.ids), p)
	if err != nil {
		return err
	}
	if err := d.Sync(b.ctx, nil); err != nil {
		return err
	}
	return d.Commit(b.ctx)
}

// alternate times scar and the peer runs times each, switching which goes first every
// run. prepare, if set, runs untimed before each pair; the disks are synced before
// each timed run so that one side's write-back does not land on the other's clock.
func alternate(runs int, prepare, scar, peer func() error) (s, p []time.Duration, err error) {
	timed := func(fn func() error) (time.Duration, error) {
		syscall.Sync()
		start := time.Now()
		err := fn()
		return time.Since(start), err
	}
	for i := range runs {
		if prepare != nil {
			if err := prepare(); err != nil {
				return nil, nil, err
			}
		}
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, isScar := range order {
			fn := peer
			if isScar {
				fn = scar
			}
			d, err := timed(fn)
			if err != nil {
				return nil, nil, err
			}
			if isScar {
				s = append(s, d)
			} else {
				p = append(p, d)
			}
		}
	}
	return s, p, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = round(d)
	}
	return out
}
