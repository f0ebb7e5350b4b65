package main

import (
	"fmt"
	"syscall"
	"time"
)

// alertMemoryRows: scar's RSS with -alert-containers containers of a configured
// project on the engine (running, with -alert-running), idle, then, with -alert-burst,
// during and after a
// burst: every one of them killed at once from the host (SIGKILL to its process, as
// the kernel's OOM killer or a crash would end it: the Engine sends no `kill` first,
// so each is a death scar alerts).
func (s *suite) alertMemoryRows() error {
	al, n, ctx := s.al, s.opts.alertContainers, s.ctx
	const mib = 1 << 20
	mem := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/mib) }
	before, _, err := s.scar.rss()
	if err != nil {
		return err
	}
	ids := make([]string, n)
	defer func() { s.removeAll(ids) }()
	idx := make([]int, n)
	for i := range n {
		idx[i] = i
	}
	t := time.Now()
	if err := inParallel(4, idx, func(i int) error {
		id, err := s.raw.createService(ctx, al.mem, al.mem.services[i], s.f.image, s.opts.runID, []string{"LOG_LINES=2"})
		ids[i] = id
		return err
	}); err != nil {
		return err
	}
	created := time.Since(t)
	state := "created, not started"
	var started time.Duration
	if s.opts.alertRunning {
		t = time.Now()
		if err := inParallel(4, ids, func(id string) error { return s.raw.start(ctx, id) }); err != nil {
			return err
		}
		started = time.Since(t)
		state = "running"
	}
	// Settled: the events of the creation and the starts handled.
	time.Sleep(10 * time.Second)
	idle, _, err := s.scar.rss()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "\nalerts: memory with %d containers of a configured project (%s; created in %s, started in %s; load average %s):\n",
		n, state, created.Round(100*time.Millisecond), started.Round(100*time.Millisecond), loadavg())
	fmt.Fprintf(s.out, "  scar's RSS: %s before them, %s with them (idle)\n", mem(before), mem(idle))
	s.t.add(row{name: fmt.Sprintf("memory: RSS with %d containers on the engine (%s), idle", n, state), scar: mem(idle),
		peerName: "the same scar before they were made", peer: mem(before), ratio: float64(idle) / float64(before)})
	if !s.opts.alertRunning || !s.opts.alertBurst {
		return nil
	}

	pids := make([]int, n)
	if err := inParallel(8, idx, func(i int) error {
		st, err := s.raw.state(ctx, ids[i])
		if err != nil {
			return err
		}
		if !st.Running || st.Pid <= 0 {
			return fmt.Errorf("%s is not running", al.mem.container(al.mem.services[i]))
		}
		pids[i] = st.Pid
		return nil
	}); err != nil {
		return err
	}
	dl, unwatch := s.watchDeliveries()
	defer unwatch()
	stopSampler := s.rssSampler()
	t = time.Now()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			stopSampler()
			return fmt.Errorf("kill the process %d of a container (the row needs root): %w", pid, err)
		}
	}
	all := s.until(3*time.Minute, func() bool {
		for _, name := range al.mem.containers() {
			if _, ok := dl.at(name); !ok {
				return false
			}
		}
		return true
	})
	took := time.Since(t)
	peak := stopSampler()
	time.Sleep(5 * time.Second)
	after, hwm, err := s.scar.rss()
	if err != nil {
		return err
	}
	alerted := 0
	var firstNamed time.Time
	for _, name := range al.mem.containers() {
		if at, ok := dl.at(name); ok {
			alerted++
			if firstNamed.IsZero() || at.Before(firstNamed) {
				firstNamed = at
			}
		}
	}
	sends, edits := dl.counts()
	fmt.Fprintf(s.out, "  burst: %d killed at once; %d of them named in the alert chat after %s (%d sendMessage, %d editMessageText; one chat, about a message a second)\n",
		n, alerted, took.Round(100*time.Millisecond), sends, edits)
	if !firstNamed.IsZero() {
		fmt.Fprintf(s.out, "  the first of them named %s after the kills\n", fmtDur(firstNamed.Sub(t)))
	}
	ins, err := s.incidentsOf("alertsmem")
	if err != nil {
		return err
	}
	var first, last time.Time
	for _, in := range ins {
		if first.IsZero() || in.event.Before(first) {
			first = in.event
		}
		if in.event.After(last) {
			last = in.event
		}
	}
	if !first.IsZero() {
		fmt.Fprintf(s.out, "  the Engine's die events (their times, as scar stored them): %s to %s after the kills\n", fmtDur(first.Sub(t)), fmtDur(last.Sub(t)))
	}
	s.printSplit(ins, dl, al.mem.containers())
	fmt.Fprintf(s.out, "  scar's RSS: peak %s during the burst (50 ms samples), %s 5 s after; VmHWM %s\n", mem(peak), mem(after), mem(hwm))
	s.printAlertMetrics()
	s.t.add(row{name: fmt.Sprintf("memory: RSS during a burst of %d deaths (peak of 50 ms samples)", n), scar: mem(peak),
		peerName: "idle with them", peer: mem(idle), ratio: float64(peak) / float64(idle)})
	s.t.add(row{name: fmt.Sprintf("memory: RSS after the burst (all alerted, + 5 s)"), scar: mem(after),
		peerName: "idle with them", peer: mem(idle), ratio: float64(after) / float64(idle)})
	// The issue sets no goal for a burst; the row says how long it took, or how far it
	// got in 3 minutes (the rest is still alerted afterwards: nothing is dropped).
	burst := row{name: fmt.Sprintf("burst of %d deaths at once: every container named in the alert chat", n),
		peerName: "(one chat: about a message a second)"}
	if all {
		burst.scar = took.Round(100 * time.Millisecond).String()
	} else {
		burst.scar = fmt.Sprintf("%d of %d in %s", alerted, n, took.Round(time.Second))
	}
	s.t.add(burst)
	return nil
}
