package dockerops

import (
	"sync"
	"time"

	"github.com/scar-dev/scar/store"
)

// WatchEvent is what the event watcher publishes to its subscribers (the REST event
// stream, a deploy's bake): a container event of a project, or an incident that
// opened, changed or ended (Incident set).
type WatchEvent struct {
	At      time.Time
	Host    string
	Project string
	// A container event: the Engine's action ("die", "start", "oom",
	// "health_status: unhealthy", ...) on a container of Project.
	Container   string
	ContainerID string
	Service     string
	Action      string
	// ExitCode is the exit code of a "die", else nil.
	ExitCode *int
	// signal is the signal of a "kill" (its number, as the Engine names it).
	signal string
	// Incident is set when the event is an incident's change (its Version tells them
	// apart); the container fields above are then the incident's.
	Incident *store.Incident
}

// feedBuffer is how many events a subscriber may fall behind before it is dropped:
// a slow reader never makes the watcher wait or buffer without bound.
const feedBuffer = 256

// feed fans the watcher's events out to subscribers, each with a bounded buffer.
type feed struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	project string // "" for every project
	ch      chan WatchEvent
	closed  bool
}

// subscribe returns a channel of the events of project ("" for all) and a function
// that ends the subscription. The channel is closed when the subscription ends, by
// cancel or because the subscriber fell more than feedBuffer events behind; a
// subscriber tells the two apart by whether it called cancel.
func (f *feed) subscribe(project string) (<-chan WatchEvent, func()) {
	s := &subscription{project: project, ch: make(chan WatchEvent, feedBuffer)}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[*subscription]struct{}{}
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	return s.ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.drop(s)
	}
}

// publish hands ev to every subscriber of its project without waiting.
func (f *feed) publish(ev WatchEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.project != "" && s.project != ev.Project {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			f.drop(s)
		}
	}
}

// subscribers is how many subscriptions are live (tests check that none is left).
func (f *feed) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func (f *feed) drop(s *subscription) {
	if s.closed {
		return
	}
	s.closed = true
	delete(f.subs, s)
	close(s.ch)
}
