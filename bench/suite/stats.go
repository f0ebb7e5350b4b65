package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// median is the middle of ds (the mean of the two middle ones for an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile is the q-quantile of ds by the nearest-rank method.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// fmtDur prints a duration with three significant digits in a fitting unit.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// row is one line of the results table: scar's figure against a peer's.
type row struct {
	name string
	// scar and peer are the figures as printed; ratio is scar/peer (0: none).
	scar, peer string
	peerName   string
	ratio      float64
	goal       string
	// verdict is "met", "MISSED" or "" (no goal on this line).
	verdict string
}

// table collects the rows of one run and prints them.
type table struct {
	rows []row
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

// timeRow adds scar's median against a peer's, with an optional goal checked by ok.
func (t *table) timeRow(name string, scar time.Duration, peerName string, peer time.Duration, goal string, ok func(ratio float64) bool) {
	r := row{name: name, scar: fmtDur(scar), peerName: peerName, peer: fmtDur(peer), goal: goal}
	if peer > 0 && scar > 0 {
		r.ratio = float64(scar) / float64(peer)
	}
	if ok != nil {
		r.verdict = verdict(ok(r.ratio))
	}
	t.add(r)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// print writes the table in Markdown, so that a run pastes into BENCHMARKS.md as it is.
func (t *table) print(w io.Writer) {
	fmt.Fprintln(w, "| row | scar | peer | peer's figure | scar/peer | goal | |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---|")
	for _, r := range t.rows {
		ratio := ""
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, r.scar, r.peerName, r.peer, ratio, r.goal, r.verdict)
	}
}

// missed lists the rows whose goal was missed.
func (t *table) missed() []string {
	var out []string
	for _, r := range t.rows {
		if r.verdict == "MISSED" {
			out = append(out, strings.TrimSpace(r.name+" vs "+r.peerName))
		}
	}
	return out
}
