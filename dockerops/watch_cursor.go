package dockerops

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/moby/moby/api/types/events"
)

// cursor is where the watcher is in the event stream: the Engine time of the last
// event it handled and the keys of the events it handled at that very nanosecond.
// A (re)connection asks for the events since that time, which the Engine answers
// inclusively, and skips those keys: nothing is handled twice, nothing is skipped.
//
// Order: an event is handled (its incident written to the store and published)
// before the cursor moves past it. A crash between the two repeats that one event
// at the next start; handling it again is harmless because an incident is not
// opened twice for the same event (see opensAgain), and a repeated container event
// on the feed is only a duplicate notification to a live subscriber. The other order
// would lose the event.
type cursor struct {
	at   time.Time
	seen []string
}

// eventKey identifies an event: its time, its container and its action.
func eventKey(m events.Message, at time.Time) string {
	return fmt.Sprintf("%d %s %s", at.UnixNano(), m.Actor.ID, m.Action)
}

// handled reports whether the event was handled before (the inclusive resume).
func (c *cursor) handled(at time.Time, key string) bool {
	return at.Equal(c.at) && slices.Contains(c.seen, key)
}

// advance moves the cursor past an event just handled and reports whether it moved
// (an event older than the cursor, out of order, leaves it).
func (c *cursor) advance(at time.Time, key string) bool {
	switch {
	case at.After(c.at):
		c.at, c.seen = at, []string{key}
	case at.Equal(c.at):
		c.seen = append(c.seen, key)
	default:
		return false
	}
	return true
}

// resume loads the cursor and the open incidents of the host: a watcher that never
// ran starts from now (the wall clock, which the Engine's times are in) (and says so in the store at once, so that a crash before
// the first event still resumes from there).
func (w *Watcher) resume(ctx context.Context) error {
	at, seen, err := w.cfg.Incidents.WatchCursor(ctx, w.cfg.Host)
	if err != nil {
		w.cursor = cursor{at: time.Now()}
		return err
	}
	if at.IsZero() {
		w.cursor = cursor{at: time.Now()}
		if err := w.cfg.Incidents.SetWatchCursor(ctx, w.cfg.Host, w.cursor.at, nil); err != nil {
			return err
		}
	} else {
		w.cursor = cursor{at: at, seen: seen}
	}
	return w.loadOpen(ctx)
}
