package dockerops

import "time"

// quietWindow is a span of time during which scar itself operates on a project:
// the container events it causes are published but open no incident.
type quietWindow struct {
	start time.Time
	end   time.Time // zero while the operation runs
}

// Quiet marks scar's own operation on project from now until end is called: the
// events whose Engine time lies in that window open no incident (they are still
// published). end may be called more than once.
func (w *Watcher) Quiet(project string) (end func()) {
	if w == nil {
		return func() {}
	}
	q := &quietWindow{start: w.cfg.Now()}
	w.quietMu.Lock()
	w.quiet[project] = append(w.quiet[project], q)
	w.quietMu.Unlock()
	return func() {
		w.quietMu.Lock()
		defer w.quietMu.Unlock()
		if q.end.IsZero() {
			q.end = w.cfg.Now()
		}
	}
}
