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
	// The wall clock, not cfg.Now: the window is compared with the Engine's times.
	q := &quietWindow{start: time.Now()}
	w.quietMu.Lock()
	w.pruneQuiet(project, q.start)
	w.quiet[project] = append(w.quiet[project], q)
	w.quietMu.Unlock()
	return func() {
		w.quietMu.Lock()
		defer w.quietMu.Unlock()
		if q.end.IsZero() {
			q.end = time.Now()
		}
	}
}

// quietKeep is how long an ended quiet window is kept: events of its time can
// still arrive after it ended, replayed after a reconnection.
const quietKeep = time.Hour

// quieted reports whether an event at Engine time at on project happened during
// scar's own operation on it.
func (w *Watcher) quieted(project string, at time.Time) bool {
	w.quietMu.Lock()
	defer w.quietMu.Unlock()
	for _, q := range w.quiet[project] {
		if !at.Before(q.start) && (q.end.IsZero() || !at.After(q.end)) {
			return true
		}
	}
	return false
}

// pruneQuiet forgets the windows of project that ended more than quietKeep ago.
// The caller holds quietMu.
func (w *Watcher) pruneQuiet(project string, now time.Time) {
	kept := w.quiet[project][:0]
	for _, q := range w.quiet[project] {
		if q.end.IsZero() || now.Sub(q.end) < quietKeep {
			kept = append(kept, q)
		}
	}
	w.quiet[project] = kept
}

// lockQuiet takes the project's lock for one of scar's own operations (a restart, a
// deploy, a rollback, a recovery) and marks the operation's time quiet on the
// watcher, when there is one, until the returned unlock: what the operation does to
// the containers (stops, kills, dies, recreations) is scar's own, not an incident.
func (s *Service) lockQuiet(project, op string, who Actor) (unlock func(), err error) {
	unlockProject, err := s.locks.TryLock(project, op, who)
	if err != nil {
		return nil, err
	}
	end := s.watcher.Quiet(project)
	return func() {
		end()
		unlockProject()
	}, nil
}

// stopSent records a kill or stop sent to the container through the Engine (docker
// stop, docker kill, compose down or restart: all send a kill event before the die).
// A stop event after the die (docker stop sends one when done) changes nothing.
func (c *tracked) stopSent(at time.Time) {
	if c.diedAt.IsZero() {
		c.stoppedAt = at
	}
}

// killSent records a kill event: with a stop signal (KILL, TERM, INT, QUIT, or none
// named) it is a stop; with another (docker kill -s HUP to make nginx reload) it is
// a signal the process is meant to handle, and only a die within signalGrace of it
// is its effect.
func (c *tracked) killSent(at time.Time, signal string) {
	switch signal {
	case "", "9", "15", "2", "3", "SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "KILL", "TERM", "INT", "QUIT":
		c.stopSent(at)
	default:
		if c.diedAt.IsZero() {
			c.signalAt = at
		}
	}
}

// deliberate reports whether the container's die at at follows a kill or stop sent
// since it last started, or comes right after a signal it was sent: someone stopped
// it, it did not exit on its own. A process that exits or is OOM-killed on its own
// sends no kill first. (A kill with a stop signal that the process survives, followed
// much later by a crash of its own, is taken for deliberate too.)
func (c *tracked) deliberate(at time.Time) bool {
	return !c.stoppedAt.IsZero() || (!c.signalAt.IsZero() && at.Sub(c.signalAt) <= signalGrace)
}

// signalGrace is how long after a kill with a signal that is not a stop signal
// (HUP, USR1, WINCH: sent for the process to handle) a die still counts as its
// effect: the process did not survive what it was sent.
const signalGrace = 5 * time.Second
