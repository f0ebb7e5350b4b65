package dockerops

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
)

// streamConfirm is how long a new connection must last before the stream counts as
// back (and the reconnection backoff starts again from its first wait): a stream
// that breaks every second, with or without events, is one outage, logged once, not
// a flap of "lost" and "back".
const streamConfirm = 3 * time.Second

// streamHealth is whether the event stream works, for the log, the gauge and the
// docker_unreachable incident.
type streamHealth struct {
	down      bool
	downSince time.Time // monotonic
	logged    bool      // the outage was logged
	started   bool      // the stream worked once since Run began
}

// Run follows the event stream until ctx is done, reconnecting when it breaks, and
// returns once every goroutine it started has ended. It takes up where the watcher
// of this host stopped last time (the cursor and the open incidents in the store).
func (w *Watcher) Run(ctx context.Context) {
	up := w.cfg.Metrics.EventStreamUp.WithLabelValues(w.cfg.Host)
	up.Set(0)
	w.stream = streamHealth{down: true, downSince: time.Now()}
	if err := w.resume(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		// Without the store's cursor the watcher starts from now rather than not at
		// all; the error is what the log says.
		w.logger.Error("event watcher: resume", "err", err)
	}
	backoff := w.cfg.ReconnectBackoff
	for {
		began := time.Now()
		err := w.follow(ctx, up)
		up.Set(0)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= streamConfirm {
			backoff = w.cfg.ReconnectBackoff
		}
		w.lost(err)
		if !w.waitReconnect(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, w.cfg.ReconnectBackoffMax)
	}
}

// jitter spreads d over [d/2, d] so that watchers do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// waitReconnect waits d before the next connection, opening the docker_unreachable
// incident when the outage passes UnreachableAfter meanwhile. It reports false when
// ctx ended.
func (w *Watcher) waitReconnect(ctx context.Context, d time.Duration) bool {
	wait := time.NewTimer(d)
	defer wait.Stop()
	var unreachable <-chan time.Time
	if w.unreachable == nil {
		t := time.NewTimer(max(0, w.cfg.UnreachableAfter-time.Since(w.stream.downSince)))
		defer t.Stop()
		unreachable = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wait.C:
			return true
		case <-unreachable:
			unreachable = nil
			w.openUnreachable(ctx)
		}
	}
}

// follow reads one connection of the event stream until it breaks or ctx ends and
// returns why it ended.
func (w *Watcher) follow(ctx context.Context, up prometheus.Gauge) error {
	sctx, cancel := context.WithCancel(ctx)
	res := w.cfg.Engine.Events(sctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", w.cursor.at.Unix(), w.cursor.at.Nanosecond()),
		Filters: watchedEvents,
	})
	// The client's reader goroutine ends once its context is cancelled and has said
	// why on Err, which it then closes: wait for that, so that nothing is left.
	defer func() {
		cancel()
		for range res.Err {
		}
	}()
	select {
	case err := <-res.Err:
		return fmt.Errorf("watch events of host %q: %w", w.cfg.Host, streamEnd(err))
	default:
	}
	up.Set(1)
	confirm := time.NewTimer(streamConfirm)
	defer confirm.Stop()
	for {
		check := w.nextCheck()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-res.Err:
			return fmt.Errorf("watch events of host %q: %w", w.cfg.Host, streamEnd(err))
		case <-confirm.C:
			w.back(ctx)
		case <-check:
			w.runChecks(ctx)
		case m := <-res.Messages:
			if err := w.handle(ctx, m); err != nil {
				return err
			}
		}
	}
}

// streamEnd names the end of a stream that ended without an error.
func streamEnd(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// watchedEvents selects the container events the watcher acts on, so that the
// engine does not send the exec events of every health check. "health_status"
// matches every health_status event (the engine compares it as a prefix).
var watchedEvents = client.Filters{}.Add("type", "container").
	Add("event", "start", "restart", "die", "oom", "kill", "stop", "destroy", "health_status")

// lost records that the stream broke: the gauge is already 0; the log says it once
// per outage.
func (w *Watcher) lost(err error) {
	if !w.stream.down {
		w.stream.down, w.stream.downSince = true, time.Now()
	}
	if !w.stream.logged {
		w.stream.logged = true
		w.logger.Warn("event stream of the Docker host lost; reconnecting", "err", err)
	}
}

// back records that the stream works again: logged once, the docker_unreachable
// incident resolved.
func (w *Watcher) back(ctx context.Context) {
	if !w.stream.down {
		return
	}
	if w.stream.started || w.stream.logged {
		w.logger.Info("event stream of the Docker host back", "after", time.Since(w.stream.downSince).Round(time.Millisecond))
	} else {
		w.logger.Info("watching the Docker host's container events", "since", w.cursor.at)
	}
	w.stream = streamHealth{started: true}
	w.resolveUnreachable(ctx)
	// What the engine no longer had for since (it keeps its last 256 events) is
	// made up for by looking at the containers of the open incidents as they are.
	for _, c := range w.containers {
		if c.exit != nil || c.health != nil {
			c.check = time.Now()
		}
	}
}
