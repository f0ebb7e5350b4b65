package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// collectorIdle is longer than the engine's stats collector interval (1s): after it,
// the collector has no subscriber left and samples at once when asked, as it does for
// a user who asks for stats now and then.
const collectorIdle = 1200 * time.Millisecond

// statsRows times the stats of the status project's 10 containers through scar's REST
// API against docker stats --no-stream for the same 10, with the engine's collector
// idle before each call and back to back, and compares what the two say side by side.
func (s *suite) statsRows() error {
	p := s.f.status
	names := p.containers()
	var scarLast, cliLast map[string][2]float64 // CPU %, memory bytes
	scar := contender{name: "scar GET /stats (REST)", run: func() error {
		m, err := s.scarStats()
		scarLast = m
		if err == nil && len(m) != len(names) {
			err = fmt.Errorf("stats: %d containers", len(m))
		}
		return err
	}}
	cli := contender{name: "docker stats --no-stream (CLI)", run: func() error {
		m, err := dockerStatsCLI(s, names)
		cliLast = m
		if err == nil && len(m) != len(names) {
			err = fmt.Errorf("docker stats: %d containers", len(m))
		}
		return err
	}}
	if err := warm(scar, cli); err != nil {
		return err
	}
	idle := func() error { time.Sleep(collectorIdle); return nil }
	scarIdle, cliIdle := scar, cli
	scarIdle.prepare, cliIdle.prepare = idle, idle
	res, err := s.alternate("stats of 10 containers, the engine's collector idle before each", s.opts.runs, scarIdle, cliIdle)
	if err != nil {
		return err
	}
	s.t.timeRow("stats, 10 containers, via REST (collector idle)", median(res[0]), cli.name, median(res[1]), "faster (< 1)", func(r float64) bool { return r < 1 })
	res, err = s.alternate("stats of 10 containers, back to back", s.opts.runs, scar, cli)
	if err != nil {
		return err
	}
	s.t.timeRow("stats, 10 containers, back to back", median(res[0]), cli.name, median(res[1]), "", nil)

	// Same numbers: both at once, so that they read the same collector rounds.
	var wg sync.WaitGroup
	var errScar, errCLI error
	wg.Go(func() { errScar = scar.run() })
	wg.Go(func() { errCLI = cli.run() })
	wg.Wait()
	if errScar != nil || errCLI != nil {
		return fmt.Errorf("side by side: %v, %v", errScar, errCLI)
	}
	var cpu, mem float64
	for name, c := range cliLast {
		sc := scarLast[name]
		cpu = max(cpu, math.Abs(sc[0]-c[0]))
		if c[1] > 0 {
			mem = max(mem, math.Abs(sc[1]-c[1])/c[1]*100)
		}
	}
	s.t.add(row{name: "stats, side by side: largest difference of CPU %; of memory", scar: fmt.Sprintf("%.2f points; %.1f%%", cpu, mem),
		peerName: cli.name, goal: "≤ 5 points; ≤ 5%", verdict: verdict(cpu <= 5 && mem <= 5)})
	return nil
}

// scarStats is GET /stats of the status project: CPU % and memory bytes by name.
func (s *suite) scarStats() (map[string][2]float64, error) {
	body, err := s.scar.do("GET", "/api/v1/projects/status/stats", "")
	if err != nil {
		return nil, err
	}
	var st struct {
		Containers []struct {
			Name        string  `json:"name"`
			CPUPercent  float64 `json:"cpu_percent"`
			MemoryBytes float64 `json:"memory_bytes"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, err
	}
	out := map[string][2]float64{}
	for _, c := range st.Containers {
		out[c.Name] = [2]float64{c.CPUPercent, c.MemoryBytes}
	}
	return out, nil
}

// dockerStatsCLI runs docker stats --no-stream for names: CPU % and memory bytes.
func dockerStatsCLI(s *suite, names []string) (map[string][2]float64, error) {
	out, err := exec.CommandContext(s.ctx, "docker", append([]string{"stats", "--no-stream", "--format", "{{json .}}"}, names...)...).Output()
	if err != nil {
		return nil, err
	}
	got := map[string][2]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var row struct{ Name, CPUPerc, MemUsage string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, err
		}
		cpu, err := strconv.ParseFloat(strings.TrimSuffix(row.CPUPerc, "%"), 64)
		if err != nil {
			return nil, err
		}
		used, _, _ := strings.Cut(row.MemUsage, " / ")
		mem, err := binaryBytes(used)
		if err != nil {
			return nil, err
		}
		got[row.Name] = [2]float64{cpu, mem}
	}
	return got, nil
}

// binaryBytes reads the CLI's memory figures: "3.5MiB", "812KiB", "0B".
func binaryBytes(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			return v * u.mult, err
		}
	}
	return 0, fmt.Errorf("memory %q: unknown unit", s)
}
