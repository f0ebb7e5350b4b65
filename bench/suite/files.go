package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// filesRows runs bench/files (scar's deploy file engine in process against rsync on a
// generated tree), shows its output and takes its rows into the table.
func (s *suite) filesRows() error {
	if s.opts.filesBin == "" {
		return nil
	}
	fmt.Fprintf(s.out, "\nbench/files: scar's deploy file engine against rsync, %d files:\n", s.opts.treeFiles)
	// Three runs: a fresh copy of the tree takes seconds a side.
	cmd := exec.CommandContext(s.ctx, s.opts.filesBin, "-files", strconv.Itoa(s.opts.treeFiles), "-runs", strconv.Itoa(min(s.opts.runs, 3)),
		"-dir", s.f.dir+"/files", "-fsync-peer="+strconv.FormatBool(s.opts.filesFsync))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for line := range strings.SplitSeq(strings.TrimRight(out.String(), "\n"), "\n") {
		fmt.Fprintln(s.out, "  "+line)
	}
	if err != nil {
		return fmt.Errorf("bench/files: %w", err)
	}
	rows := parseFiles(out.String())
	add := func(scenario, name, peer, goal string, ok func(scar time.Duration, ratio float64) bool) {
		r, found := rows[scenario]
		if !found {
			s.t.add(row{name: name, scar: "(not in bench/files output)", goal: goal, verdict: "MISSED"})
			return
		}
		s.t.timeRow(name, r[0], peer, r[1], goal, func(ratio float64) bool { return ok(r[0], ratio) })
	}
	n := s.opts.treeFiles
	// The walk of both trees, as a plan does when they are not watched or changed; a
	// plan of watched, unchanged trees reuses the last (the dry run row).
	add("plan, nothing changed (-n)", fmt.Sprintf("deploy plan, %d files unchanged (in process, both trees read)", n), "rsync -a -n",
		"≤ 0.5 s and ≤ 1.0×", func(d time.Duration, r float64) bool { return d <= 500*time.Millisecond && r <= 1 })
	add("sync, fresh copy", fmt.Sprintf("sync %d files, fresh (with fsync of each)", n), "rsync -a",
		"≤ 1.0×", func(_ time.Duration, r float64) bool { return r <= 1 })
	add("sync, 1 file changed", fmt.Sprintf("sync, 1 of %d files changed", n), "rsync -a",
		"≤ 1.0×", func(_ time.Duration, r float64) bool { return r <= 1 })
	for _, sc := range []string{"plan, 1 file changed (-n)", "sync, nothing changed", "sync, fresh copy (--fsync)", "sync, 1 file changed (--fsync)"} {
		if r, ok := rows[sc]; ok {
			peer := "rsync -a"
			if strings.HasSuffix(sc, "(-n)") {
				peer = "rsync -a -n"
			} else if strings.Contains(sc, "--fsync") {
				peer = "rsync -a --fsync"
			}
			s.t.timeRow("  "+strings.TrimSuffix(strings.TrimSuffix(sc, " (-n)"), " (--fsync)"), r[0], peer, r[1], "", nil)
		}
	}
	return nil
}

// parseFiles reads bench/files' table: "<scenario>  <scar>  <rsync>  <ratio>", the
// durations in Go's notation.
func parseFiles(out string) map[string][2]time.Duration {
	rows := map[string][2]time.Duration{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		scar, err1 := time.ParseDuration(f[len(f)-3])
		peer, err2 := time.ParseDuration(f[len(f)-2])
		if _, err3 := strconv.ParseFloat(f[len(f)-1], 64); err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		rows[strings.Join(f[:len(f)-3], " ")] = [2]time.Duration{scar, peer}
	}
	return rows
}
