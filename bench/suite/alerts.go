package main

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The alerts rows (issue #14): how soon a container's death reaches the Bot API
// through scar's event watcher and Telegram notifier, against the bare event stream;
// the CPU of an idle scar with the watcher against scar without it (alerts_idle.go);
// scar's memory with 500 containers on the engine and after a burst of their deaths
// (alerts_memory.go).

// alertFixtures are the alerts rows' projects. Their containers are made by the rows
// themselves (and removed by them), as Compose would label them.
type alertFixtures struct {
	// deaths are the projects whose containers die one by one, each with an alert
	// chat of its own so that Telegram's limit of a message a second per chat is not
	// what the row measures (the goal is p99 < 1 s outside Telegram's own limits).
	deaths []*composeProject
	chats  []int64
	// mem holds the memory row's containers; its alerts go to memChat.
	mem     *composeProject
	memChat int64
	// idle is a project with no containers, for the idle row's third scar.
	idle *composeProject
}

const alertDeathProjects = 4

// alertSetup lays out the alerts rows' projects and returns them as scar is given
// them (beside the fixtures' own).
func (f *fixtures) alertSetup(deaths, memContainers int) (*alertFixtures, map[string]benchProject, error) {
	al := &alertFixtures{memChat: 9100}
	ps := map[string]benchProject{}
	add := func(name string, p *composeProject, chat int64) {
		ps[name] = benchProject{Workspace: p.workspace, Production: p.production, ComposeProject: p.name,
			AutoDetect: true, HealthTimeout: "60s", AlertChats: []int64{chat}}
	}
	for k := range alertDeathProjects {
		svcs := map[string]string{}
		var names []string
		for i := k; i < deaths; i += alertDeathProjects {
			names = append(names, deathService(i))
			svcs[deathService(i)] = ""
		}
		p, err := f.newProject(fmt.Sprintf("al%d", k), f.composeYAML(svcs), names, 0)
		if err != nil {
			return nil, nil, err
		}
		chat := int64(9001 + k)
		al.deaths, al.chats = append(al.deaths, p), append(al.chats, chat)
		add(fmt.Sprintf("alerts%d", k), p, chat)
	}
	svcs := map[string]string{}
	var names []string
	for i := range memContainers {
		names = append(names, fmt.Sprintf("m%03d", i))
		svcs[names[i]] = ""
	}
	var err error
	if al.mem, err = f.newProject("am", f.composeYAML(svcs), names, 0); err != nil {
		return nil, nil, err
	}
	add("alertsmem", al.mem, al.memChat)
	if al.idle, err = f.newProject("nn", f.composeYAML(map[string]string{"x": ""}), []string{"x"}, 0); err != nil {
		return nil, nil, err
	}
	return al, ps, nil
}

// deathService is the service of the death row's container i; container i belongs to
// death project i % alertDeathProjects.
func deathService(i int) string { return fmt.Sprintf("d%03d", i) }

// deliveries records, for every container an alert names, when the fake Bot API
// first received a call (sendMessage or editMessageText) naming it.
type deliveries struct {
	mu           sync.Mutex
	first        map[string]time.Time
	sends, edits int
}

// alertNamed finds the containers in an alert's text: "🔴 <b>shop</b> · web-1 — died: …".
var alertNamed = regexp.MustCompile(`· (\S+) — `)

func (s *suite) watchDeliveries() (*deliveries, func()) {
	d := &deliveries{first: map[string]time.Time{}}
	obs := func(method string, m botMessage, at time.Time) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if method == "sendMessage" {
			d.sends++
		} else {
			d.edits++
		}
		for _, sm := range alertNamed.FindAllStringSubmatch(m.Text, -1) {
			if _, ok := d.first[sm[1]]; !ok {
				d.first[sm[1]] = at
			}
		}
	}
	s.bot.observe.Store(&obs)
	return d, func() { s.bot.observe.Store(nil) }
}

func (d *deliveries) at(name string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.first[name]
	return t, ok
}

func (d *deliveries) counts() (sends, edits int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sends, d.edits
}

// removeAll removes the containers a row made, also when the run is being cancelled.
func (s *suite) removeAll(ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inParallel(8, ids, func(id string) error {
		if id != "" {
			s.raw.remove(ctx, id)
		}
		return nil
	})
}

// until polls cond every 100 ms until it holds or d has passed; it reports whether
// cond held.
func (s *suite) until(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || s.ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func (s *suite) alertsRows() error {
	if err := s.alertIdleRows(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := s.alertDeathRows(); err != nil {
		return fmt.Errorf("deaths: %w", err)
	}
	if err := s.alertMemoryRows(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	return nil
}

// jobRunFor is how long a dying container runs before its process exits by itself.
const jobRunFor = "1s"

// alertDeathRows: containers of configured projects exit by themselves with code 3,
// one every -alert-spacing; each death is timed from the Engine's die time (the
// event's timeNano) to the first Bot API call that names the container, and to the
// bare event client decoding the same die.
func (s *suite) alertDeathRows() error {
	al, n, ctx := s.al, s.opts.alertDeaths, s.ctx
	type death struct {
		name, id      string
		p             *composeProject
		dieAt, peerAt time.Time
		detailAt      time.Time // the second peer's inspect and log tail done
		code          string
	}
	ds := make([]*death, n)
	byName := map[string]*death{}
	for i := range n {
		p := al.deaths[i%alertDeathProjects]
		ds[i] = &death{name: p.container(deathService(i)), p: p}
		byName[ds[i].name] = ds[i]
	}
	ids := make([]string, n)
	defer func() { s.removeAll(ids) }()
	env := []string{"EXIT_CODE=3", "RUN_FOR=" + jobRunFor, "LOG_LINES=3"}
	created := time.Now()
	var idx []int
	for i := range n {
		idx = append(idx, i)
	}
	if err := inParallel(4, idx, func(i int) error {
		id, err := s.raw.createService(ctx, ds[i].p, deathService(i), s.f.image, s.opts.runID, env)
		ds[i].id, ids[i] = id, id
		return err
	}); err != nil {
		return err
	}
	createTook := time.Since(created)

	var mu sync.Mutex
	stopPeer, err := s.raw.followDies(ctx, s.opts.runID, func(ev engineEvent, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if d := byName[ev.Actor.Attributes["name"]]; d != nil && d.dieAt.IsZero() {
			d.dieAt, d.peerAt, d.code = time.Unix(0, ev.TimeNano), at, ev.Actor.Attributes["exitCode"]
		}
	})
	if err != nil {
		return err
	}
	defer stopPeer()
	// The floor of what the watcher does for a die: a second bare client on the stream
	// that, like the watcher, inspects the container and reads its last 10 log lines,
	// one event after another.
	stopDetail, err := s.raw.followDies(ctx, s.opts.runID, func(ev engineEvent, _ time.Time) {
		d := byName[ev.Actor.Attributes["name"]]
		if d == nil {
			return
		}
		if _, err := s.raw.state(ctx, ev.Actor.ID); err != nil {
			return
		}
		until := time.Unix(0, ev.TimeNano).Add(time.Second).Unix()
		if _, err := s.raw.call(ctx, "GET", fmt.Sprintf("/containers/%s/logs?stdout=1&stderr=1&timestamps=1&tail=10&until=%d", ev.Actor.ID, until)); err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if d.detailAt.IsZero() {
			d.detailAt = time.Now()
		}
	})
	if err != nil {
		return err
	}
	defer stopDetail()
	dl, unwatch := s.watchDeliveries()
	defer unwatch()

	// The starts, paced: container i is started at i × spacing and dies by itself
	// jobRunFor later.
	t0 := time.Now()
	var wg sync.WaitGroup
	startErrs := make([]error, n)
	for i, d := range ds {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-time.After(time.Until(t0.Add(time.Duration(i) * s.opts.alertSpacing))):
		}
		wg.Go(func() { startErrs[i] = s.raw.start(ctx, d.id) })
	}
	wg.Wait()
	for _, err := range startErrs {
		if err != nil {
			return err
		}
	}
	s.until(60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range ds {
			if _, ok := dl.at(d.name); !ok || d.dieAt.IsZero() || d.detailAt.IsZero() {
				return false
			}
		}
		return true
	})

	mu.Lock()
	var scarLat, peerLat, detailLat []time.Duration
	var notSeen, notAlerted int
	var codes []string
	for _, d := range ds {
		if d.dieAt.IsZero() {
			notSeen++
			continue
		}
		peerLat = append(peerLat, d.peerAt.Sub(d.dieAt))
		if !d.detailAt.IsZero() {
			detailLat = append(detailLat, d.detailAt.Sub(d.dieAt))
		}
		if at, ok := dl.at(d.name); ok {
			scarLat = append(scarLat, at.Sub(d.dieAt))
		} else {
			notAlerted++
		}
		if d.code != "3" {
			codes = append(codes, d.name+": "+d.code)
		}
	}
	mu.Unlock()
	sends, edits := dl.counts()
	load := loadavg()
	fmt.Fprintf(s.out, "\nalerts: %d deaths (containers of %d projects, each with its own alert chat, exiting by themselves with code 3 after %s; one started every %s; created in %s; load average %s):\n",
		n, alertDeathProjects, jobRunFor, s.opts.alertSpacing, createTook.Round(100*time.Millisecond), load)
	fmt.Fprintf(s.out, "  %-52s p50 %s, p90 %s, p99 %s, max %s; %d of %d alerted (%d sendMessage, %d editMessageText)\n",
		"scar: die → first Bot API call naming the container", fmtDur(quantile(scarLat, 0.5)), fmtDur(quantile(scarLat, 0.9)),
		fmtDur(quantile(scarLat, 0.99)), fmtDur(quantile(scarLat, 1)), len(scarLat), n, sends, edits)
	fmt.Fprintf(s.out, "  %-52s p50 %s, p90 %s, p99 %s, max %s; %d of %d seen\n",
		"raw Engine /events: die → event decoded (bare Go)", fmtDur(quantile(peerLat, 0.5)), fmtDur(quantile(peerLat, 0.9)),
		fmtDur(quantile(peerLat, 0.99)), fmtDur(quantile(peerLat, 1)), len(peerLat), n)
	fmt.Fprintf(s.out, "  %-52s p50 %s, p90 %s, p99 %s, max %s; %d of %d\n",
		"raw Engine: die → inspect + 10-line log tail (bare Go)", fmtDur(quantile(detailLat, 0.5)), fmtDur(quantile(detailLat, 0.9)),
		fmtDur(quantile(detailLat, 0.99)), fmtDur(quantile(detailLat, 1)), len(detailLat), n)
	if len(codes) > 0 {
		fmt.Fprintf(s.out, "  unexpected exit codes: %s\n", strings.Join(codes, ", "))
	}
	ins := map[string]incidentTimes{}
	for k := range alertDeathProjects {
		m, err := s.incidentsOf(fmt.Sprintf("alerts%d", k))
		if err != nil {
			return err
		}
		maps.Copy(ins, m)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.name)
	}
	s.printSplit(ins, dl, names)
	s.printAlertMetrics()

	peer := "raw Engine /events: die → event decoded (bare Go client)"
	detail := "raw Engine: die → inspect + 10-line log tail, serially (bare Go client)"
	p50name := fmt.Sprintf("alert: die → Bot API call naming the container, p50 of %d deaths", n)
	s.t.timeRow(p50name, quantile(scarLat, 0.5), peer, quantile(peerLat, 0.5), "", nil)
	s.t.timeRow("", quantile(scarLat, 0.5), detail, quantile(detailLat, 0.5), "", nil)
	p99 := quantile(scarLat, 0.99)
	goal := "p99 < 1 s, all alerted"
	s.t.timeRow(fmt.Sprintf("alert: die → Bot API call naming the container, p99 of %d deaths", n), p99, peer, quantile(peerLat, 0.99), goal,
		func(float64) bool { return p99 > 0 && p99 < time.Second && notAlerted == 0 && notSeen == 0 })
	s.t.timeRow("", p99, detail, quantile(detailLat, 0.99), "", nil)
	if notSeen > 0 {
		return fmt.Errorf("%d of %d deaths never reached the event stream", notSeen, n)
	}
	return nil
}

// printAlertMetrics prints scar's own count of its alerts and their delay.
func (s *suite) printAlertMetrics() {
	m, err := s.scar.do("GET", "/metrics", "")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(m), "\n") {
		if strings.HasPrefix(line, "scar_alerts_total{") || strings.HasPrefix(line, "scar_alert_delay_seconds_sum") ||
			strings.HasPrefix(line, "scar_alert_delay_seconds_count") || strings.HasPrefix(line, "scar_event_stream_up") {
			fmt.Fprintln(s.out, "   ", line)
		}
	}
}
