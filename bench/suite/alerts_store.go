package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver scar's store uses

	"github.com/scar-dev/scar/store"
)

// incidentTimes are an incident's times as scar's store has them: the Engine's time
// of its event and when the watcher wrote it (after inspecting the container and
// reading its log tail).
type incidentTimes struct {
	event, opened time.Time
}

// incidentsOf reads, read-only from the state store of the scar under test, the first
// incident of each container of a Compose project (by scar's project name). It splits
// an alert's delay in the watcher's part and the notifier's.
func (s *suite) incidentsOf(project string) (map[string]incidentTimes, error) {
	path := filepath.Join(s.opts.dir, "scar-state", store.FileName)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, `SELECT container, MIN(event_at), MIN(opened_at) FROM incidents WHERE project = ? GROUP BY container`, project)
	if err != nil {
		return nil, fmt.Errorf("read the incidents of %s in %s: %w", project, path, err)
	}
	defer rows.Close()
	out := map[string]incidentTimes{}
	for rows.Next() {
		var name string
		var ev, op int64
		if err := rows.Scan(&name, &ev, &op); err != nil {
			return nil, err
		}
		out[name] = incidentTimes{event: time.Unix(0, ev), opened: time.Unix(0, op)}
	}
	return out, rows.Err()
}

// split prints an alert delay's two parts over the containers named: event → incident
// written (the watcher), incident written → first Bot API call naming it (the notifier).
func (s *suite) printSplit(ins map[string]incidentTimes, dl *deliveries, names []string) {
	var watcher, notifier, total []time.Duration
	for _, n := range names {
		in, ok := ins[n]
		at, named := dl.at(n)
		if !ok || !named {
			continue
		}
		watcher = append(watcher, in.opened.Sub(in.event))
		notifier = append(notifier, at.Sub(in.opened))
		total = append(total, at.Sub(in.event))
	}
	for _, x := range []struct {
		name string
		ds   []time.Duration
	}{
		{"  scar's store: event → incident written (watcher)", watcher},
		{"  scar's store: incident written → Bot API (notifier)", notifier},
		{"  event (store's time) → Bot API, in all", total},
	} {
		fmt.Fprintf(s.out, "%-54s min %s, p50 %s, p90 %s, p99 %s, max %s (%d incidents)\n", x.name, fmtDur(quantile(x.ds, 0)),
			fmtDur(quantile(x.ds, 0.5)), fmtDur(quantile(x.ds, 0.9)), fmtDur(quantile(x.ds, 0.99)), fmtDur(quantile(x.ds, 1)), len(x.ds))
	}
}
