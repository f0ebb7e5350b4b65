package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// contender is one side of a timed comparison.
type contender struct {
	name string
	// prepare runs untimed before each of its runs.
	prepare func() error
	run     func() error
}

// alternate runs every contender runs times, round by round, each round starting
// with the next contender so that none always goes first (or always right after the
// same neighbour). It returns each contender's durations, in the order given.
func (s *suite) alternate(what string, runs int, cs ...contender) ([][]time.Duration, error) {
	res := make([][]time.Duration, len(cs))
	for i := range runs {
		for j := range cs {
			k := (i + j) % len(cs)
			c := cs[k]
			if err := s.ctx.Err(); err != nil {
				return nil, err
			}
			if c.prepare != nil {
				if err := c.prepare(); err != nil {
					return nil, fmt.Errorf("%s, preparing %s: %w", what, c.name, err)
				}
			}
			start := time.Now()
			if err := c.run(); err != nil {
				return nil, fmt.Errorf("%s, %s: %w", what, c.name, err)
			}
			res[k] = append(res[k], time.Since(start))
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(s.out, "\n%s (%d runs each, alternating; median [min … max]; load average %s):\n", what, runs, strings.Join(strings.Fields(string(load))[:3], " "))
	for k, c := range cs {
		fmt.Fprintf(s.out, "  %-44s %10s  [%s … %s]\n", c.name, fmtDur(median(res[k])), fmtDur(slices.Min(res[k])), fmtDur(slices.Max(res[k])))
	}
	return res, nil
}

// warm runs each contender once, untimed: connections, caches and interpreters warm.
func warm(cs ...contender) error {
	for _, c := range cs {
		if c.prepare != nil {
			if err := c.prepare(); err != nil {
				return err
			}
		}
		if err := c.run(); err != nil {
			return fmt.Errorf("warm-up of %s: %w", c.name, err)
		}
	}
	return nil
}

func (s *suite) statusRows() error {
	p := s.f.status
	ctx := s.ctx
	cs := []contender{
		{name: "scar GET /status (REST)", run: func() error {
			body, err := s.scar.do("GET", "/api/v1/projects/status/status", "")
			if err != nil {
				return err
			}
			var st struct{ Containers []json.RawMessage }
			if err := json.Unmarshal(body, &st); err != nil || len(st.Containers) != 10 {
				return fmt.Errorf("status: %d containers (%v)", len(st.Containers), err)
			}
			return nil
		}},
		{name: "raw Engine API (list + 10 inspects)", run: func() error { return s.raw.status(ctx, p.name, 10) }},
		{name: "docker ps + docker inspect (CLI)", run: func() error {
			out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+p.name).Output()
			if err != nil {
				return err
			}
			return cli(ctx, "", append([]string{"docker", "inspect"}, strings.Fields(string(out))...)...)()
		}},
		{name: "seed: docker-py loop", run: func() error { return s.seed.do("status", p.containers()...) }},
	}
	if err := warm(cs...); err != nil {
		return err
	}
	res, err := s.alternate("status of 10 containers", s.opts.runs*6, cs...)
	if err != nil {
		return err
	}
	scar := median(res[0])
	// Issue #18: within 1.2× of the raw calls a status cannot avoid.
	s.t.timeRow("status, 10 containers, via REST", scar, cs[1].name, median(res[1]), "≤ 1.2×", func(r float64) bool { return r <= 1.2 })
	s.t.timeRow("", scar, cs[2].name, median(res[2]), "", nil)
	s.t.timeRow("", scar, cs[3].name, median(res[3]), "faster (< 1)", func(r float64) bool { return r < 1 })

	// Compose takes a second or more a call: fewer runs, against scar again.
	slow := []contender{cs[0]}
	if s.composeV1 != nil {
		slow = append(slow, contender{name: "docker-compose ps (v1)", run: cli(ctx, p.production, append(slices.Clone(s.composeV1), "-p", p.name, "ps")...)})
	}
	if s.composeV2 != nil {
		slow = append(slow, contender{name: "docker compose ps (v2)", run: cli(ctx, p.production, append(slices.Clone(s.composeV2), "-p", p.name, "ps")...)})
	}
	if err := warm(slow[1:]...); err != nil {
		return err
	}
	res, err = s.alternate("status of 10 containers, against Compose", s.opts.runs, slow...)
	if err != nil {
		return err
	}
	for k := 1; k < len(slow); k++ {
		goal, ok := "", (func(float64) bool)(nil)
		if k == 1 {
			goal, ok = "≥ 20× faster (≤ 0.05)", func(r float64) bool { return r <= 0.05 }
		}
		s.t.timeRow("", median(res[0]), slow[k].name, median(res[k]), goal, ok)
	}
	return nil
}

func (s *suite) logsRows() error {
	p := s.f.status
	ctx := s.ctx
	primary := p.container(p.services[0])
	const logsPath = "/api/v1/projects/status/logs?lines=1000"
	cs := []contender{
		{name: "scar GET /logs?lines=1000 (REST, JSON)", prepare: func() error {
			// Once, the whole answer decoded: 1000 lines, each with its stream and text.
			body, err := s.scar.do("GET", logsPath, "")
			if err != nil {
				return err
			}
			var res struct {
				Lines []struct {
					Stream, Text *string
				}
			}
			if err := json.Unmarshal(body, &res); err != nil || len(res.Lines) != 1000 || res.Lines[999].Stream == nil || res.Lines[999].Text == nil {
				return fmt.Errorf("logs: %d lines (%v)", len(res.Lines), err)
			}
			return logsLines(body, 1000)
		}, run: func() error {
			body, err := s.scar.do("GET", logsPath, "")
			if err != nil {
				return err
			}
			return logsLines(body, 1000)
		}},
		{name: "docker logs --tail 1000 (CLI)", run: cli(ctx, "", "docker", "logs", "--tail", "1000", primary)},
		{name: "raw Engine API (logs, tail=1000)", run: func() error { return s.raw.logs(ctx, primary, 1000) }},
	}
	if err := warm(cs...); err != nil {
		return err
	}
	res, err := s.alternate("logs, 1000 lines", s.opts.runs*4, cs...)
	if err != nil {
		return err
	}
	scar := median(res[0])
	s.t.timeRow("logs, 1000 lines, via REST", scar, cs[1].name, median(res[1]), "faster (< 1)", func(r float64) bool { return r < 1 })
	// Issue #18: within 1.3× of the engine's own logs call.
	s.t.timeRow("", scar, cs[2].name, median(res[2]), "≤ 1.3×", func(r float64) bool { return r <= 1.3 })
	return nil
}

// logsLines checks that a JSON logs answer is whole and holds n lines. It counts them
// as the raw peer counts its own, without decoding the ~100 KB: scar writes each line
// as "\n  {...}" (a log line's own line breaks are escaped inside its strings), and
// ends the answer with "\n],\"truncated\":false}\n". The row's setup decodes one answer
// whole (logsRows).
func logsLines(body []byte, n int) error {
	if !bytes.HasPrefix(body, []byte(`{"container":`)) || !bytes.HasSuffix(body, []byte("\n],\"truncated\":false}\n")) {
		return fmt.Errorf("logs: not a whole answer: %.100q … %.100q", body, body[max(len(body)-100, 0):])
	}
	if got := bytes.Count(body, []byte("\n  {")); got != n {
		return fmt.Errorf("logs: %d lines, want %d", got, n)
	}
	return nil
}

// waitHealthy polls the containers every 10 ms until each is healthy.
func (s *suite) waitHealthy(containers []string) error {
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range containers {
		for {
			h, err := s.raw.health(s.ctx, c)
			if err != nil {
				return err
			}
			if h == "healthy" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not healthy within 60s (%s)", c, h)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

func (s *suite) restartRows() error {
	p := s.f.restart
	ctx := s.ctx
	all := p.containers()
	healthy := func() error { return s.waitHealthy(all) }
	round := 0
	// Each run of a single restart takes the next container, so that every one is timed.
	nextOne := func() string { round++; return p.services[round%len(p.services)] }
	var one string
	var busy, total int64 // the machine's CPU time during the engine's 5 restarts
	cs := []contender{
		{name: "scar POST /restart, 5 containers (REST)", prepare: healthy, run: func() error {
			return s.restartOK("restart", `{}`, 5)
		}},
		{name: "scar POST /restart, 1 container (REST)", prepare: healthy, run: func() error {
			return s.restartOK("restart", fmt.Sprintf(`{"containers":[%q]}`, nextOne()), 1)
		}},
		{name: "raw Engine API: 5 restarts at once, until healthy", prepare: healthy, run: func() error {
			if err := s.raw.restart(ctx, all); err != nil {
				return err
			}
			return s.waitHealthy(all)
		}},
		{name: "raw Engine API: 1 restart, until healthy", prepare: func() error { one = p.container(nextOne()); return healthy() }, run: func() error {
			if err := s.raw.restart(ctx, []string{one}); err != nil {
				return err
			}
			return s.waitHealthy([]string{one})
		}},
		{name: "raw Engine API: 5 restarts at once (no health wait)", prepare: healthy, run: func() error {
			b0, t0 := cpuBusy()
			err := s.raw.restart(ctx, all)
			b1, t1 := cpuBusy()
			busy, total = busy+b1-b0, total+t1-t0
			return err
		}},
		{name: "raw Engine API: 1 restart (no health wait)", prepare: func() error { one = p.container(nextOne()); return healthy() }, run: func() error {
			return s.raw.restart(ctx, []string{one})
		}},
		{name: "docker restart of the 5 (CLI, no health wait)", prepare: healthy, run: cli(ctx, "", append([]string{"docker", "restart"}, all...)...)},
		{name: "seed: docker-py loop (no health wait)", prepare: healthy, run: func() error { return s.seed.do("restart", all...) }},
	}
	if s.composeV1 != nil {
		cs = append(cs, contender{name: "docker-compose restart (v1, no health wait)", prepare: healthy, run: cli(ctx, p.production, append(slices.Clone(s.composeV1), "-p", p.name, "restart")...)})
	} else if s.composeV2 != nil {
		cs = append(cs, contender{name: "docker compose restart (v2, no health wait)", prepare: healthy, run: cli(ctx, p.production, append(slices.Clone(s.composeV2), "-p", p.name, "restart")...)})
	}
	res, err := s.alternate("restart of 5 containers", s.opts.restartRuns, cs...)
	if err != nil {
		return err
	}
	if err := healthy(); err != nil {
		return err
	}
	five := median(res[0])
	slowest := slices.Max(res[1])
	s.t.timeRow("restart 5 containers, via REST, until healthy", five, "scar, slowest single restart", slowest, "≤ 1.3×", func(r float64) bool { return r <= 1.3 })
	s.t.timeRow("", five, "scar, median single restart", median(res[1]), "", nil)
	for k := 2; k < len(cs); k++ {
		s.t.timeRow("", five, cs[k].name, median(res[k]), "", nil)
	}
	// What bounds the row: the engine's own time for five restarts at once against
	// one, with and without the health check's first run, and how busy the machine's
	// cores were meanwhile (all processes: Docker's own are most of it).
	fmt.Fprintf(s.out, "  the engine alone: 5 restarts at once %s vs 1 %s (%.2f×); until healthy %s vs %s (%.2f×); scar %.2f×\n",
		fmtDur(median(res[4])), fmtDur(median(res[5])), ratio(median(res[4]), median(res[5])),
		fmtDur(median(res[2])), fmtDur(median(res[3])), ratio(median(res[2]), median(res[3])), ratio(five, median(res[1])))
	if total > 0 {
		fmt.Fprintf(s.out, "  CPU busy while the engine restarted 5 at once: %.0f%% of %d cores\n", 100*float64(busy)/float64(total), runtime.NumCPU())
	}
	return nil
}

// restartOK posts a restart and checks that it reports n containers back.
func (s *suite) restartOK(project, body string, n int) error {
	data, err := s.scar.do("POST", "/api/v1/projects/"+project+"/restart", body)
	if err != nil {
		return err
	}
	var res struct {
		OK         bool
		Containers []json.RawMessage
	}
	if err := json.Unmarshal(data, &res); err != nil || !res.OK || len(res.Containers) != n {
		return fmt.Errorf("restart: ok=%v, %d containers (%v): %s", res.OK, len(res.Containers), err, data)
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// cpuBusy reads the machine's CPU time (all cores, in clock ticks) spent busy and in all.
func cpuBusy() (busy, total int64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return busy, total
}
