package dockerops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// How a follow waits before it reads a container's log again when the engine ended
// the stream of a container that still runs: from the first wait, doubling up to the
// cap.
const (
	followRetryFirst = 100 * time.Millisecond
	followRetryMax   = 5 * time.Second
)

// eventsEngine is the engine's event stream; *client.Client has it. A follow uses it
// to wait for a stopped container to start again; without it, it inspects the
// container every poll interval.
type eventsEngine interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

// followed is one container of a follow and where its log has been read to. Only
// its own goroutine touches it once the follow runs.
type followed struct {
	name, id string
	tty      bool
	// run is the StartedAt of the run being followed.
	run time.Time
	// since is where the next read of the log starts: just after the last line
	// handled, so that a read again after a restart neither loses nor repeats one.
	since time.Time
	// seen is the time of the tail's last line: the first live read drops what
	// is not newer (the tail had it).
	seen time.Time
	// stopNoted is the FinishedAt of the stop already said.
	stopNoted time.Time
}

// followContainer follows one container until the follow ends or the container is
// removed. It reads the log with the engine's follow, which ends when the container
// stops; what inspect then says decides what comes next. Why not the event stream
// throughout: the end of the log stream is exactly where the run's lines end, so the
// next read starts after the last line handled; events are needed only while the
// container is stopped and there is no log stream to wait on.
func (f *follower) followContainer(c *followed, st *container.State) {
	first, retry := true, followRetryFirst
	for {
		if started := stateTime(st.StartedAt); !started.Equal(c.run) {
			if !first && !f.sendNote(c.name, started, "restarted") {
				return
			}
			c.run, retry = started, followRetryFirst
		}
		first = false
		began := time.Now()
		streamErr := f.readLog(c)
		if f.ctx.Err() != nil {
			return
		}
		in, err := f.svc.inspect(f.ctx, c.id)
		switch {
		case f.ctx.Err() != nil:
			return
		case isNotFound(err):
			f.sendNote(c.name, time.Now().UTC(), "was removed")
			return
		case errors.Is(err, ErrDockerUnavailable) || (err == nil && in.State == nil):
			f.end(FollowEngineGone, FollowEngineGone)
			return
		case err != nil:
			f.svc.logger.Warn("log follow: inspect", "container", c.name, "err", err)
			if !f.wait(retry) {
				return
			}
			retry = min(2*retry, followRetryMax)
			continue
		}
		st = in.State
		if running(st) {
			if stateTime(st.StartedAt).Equal(c.run) {
				// The engine ended the stream of a container that still runs.
				if streamErr != nil {
					f.svc.logger.Warn("log follow: the log stream ended", "container", c.name, "err", streamErr)
				}
				if time.Since(began) > streamConfirm {
					retry = followRetryFirst
				}
				if !f.wait(jitter(retry)) {
					return
				}
				retry = min(2*retry, followRetryMax)
			}
			continue
		}
		finished := stateTime(st.FinishedAt)
		if !finished.Equal(c.stopNoted) {
			c.stopNoted = finished
			if !f.sendNote(c.name, finished, "%s", stoppedNote(st)) {
				return
			}
		}
		if st = f.waitStart(c, finished); st == nil {
			return
		}
	}
}

// readLog reads the container's log from c.since until the engine ends the stream
// (the container stopped), the follow ends, or the stream breaks.
func (f *follower) readLog(c *followed) error {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: true,
		Since: fmt.Sprintf("%d.%09d", c.since.Unix(), c.since.Nanosecond())}
	rc, err := f.svc.docker.ContainerLogs(f.ctx, c.id, opts)
	if err != nil {
		return engineError(err)
	}
	defer rc.Close()
	if c.tty {
		w := f.lineWriter(c, streamTTY)
		_, err = io.Copy(w, rc)
		w.flush()
	} else {
		stdout, stderr := f.lineWriter(c, streamStdout), f.lineWriter(c, streamStderr)
		_, err = stdcopy.StdCopy(stdout, stderr, rc)
		stdout.flush()
		stderr.flush()
	}
	return engineError(err)
}

// waitStart waits for the stopped container to start again and returns its state
// then; nil when the follow ended or the container was removed.
func (f *follower) waitStart(c *followed, since time.Time) *container.State {
	ev, ok := f.svc.docker.(eventsEngine)
	retry := followRetryFirst
	for {
		var started bool
		if ok {
			var err error
			started, err = f.startEvent(ev, c, since)
			if f.ctx.Err() != nil {
				return nil
			}
			if err != nil {
				f.svc.logger.Warn("log follow: event stream", "container", c.name, "err", err)
			}
		} else if !f.wait(f.svc.pollInterval) {
			return nil
		}
		in, err := f.svc.inspect(f.ctx, c.id)
		switch {
		case f.ctx.Err() != nil:
			return nil
		case isNotFound(err):
			f.sendNote(c.name, time.Now().UTC(), "was removed")
			return nil
		case errors.Is(err, ErrDockerUnavailable) || (err == nil && in.State == nil):
			f.end(FollowEngineGone, FollowEngineGone)
			return nil
		case err == nil && (running(in.State) || started):
			return in.State
		}
		if ok && !f.wait(jitter(retry)) {
			return nil
		}
		retry = min(2*retry, followRetryMax)
	}
}

// startEvent reads the container's events from since until it starts (true), is
// destroyed, or the stream breaks.
func (f *follower) startEvent(ev eventsEngine, c *followed, since time.Time) (bool, error) {
	ctx, cancel := context.WithCancel(f.ctx)
	res := ev.Events(ctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		Filters: client.Filters{}.Add("type", string(events.ContainerEventType)).Add("container", c.id).Add("event", "start", "destroy"),
	})
	// The client's reader ends once ctx is cancelled and closes Err: wait for it.
	defer func() {
		cancel()
		for range res.Err {
		}
	}()
	for {
		select {
		case err := <-res.Err:
			return false, streamEnd(err)
		case m := <-res.Messages:
			return m.Action == events.ActionStart, nil
		}
	}
}

// wait waits d unless the follow ends first; false when it did.
func (f *follower) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func running(st *container.State) bool {
	return st.Status == container.StateRunning || st.Status == container.StatePaused
}

// stoppedNote says how a container's run ended: "stopped (exit code 1)".
func stoppedNote(st *container.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stopped (exit code %d", st.ExitCode)
	if st.OOMKilled {
		b.WriteString(", OOM killed")
	}
	b.WriteString(")")
	return b.String()
}

func stateTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// lineWriter cuts one stream of a container's log into lines and sends each that
// passes the grep filter; its Write fails once the follow has ended, which ends the
// copy from the engine.
func (f *follower) lineWriter(c *followed, stream string) *lineCutter {
	return &lineCutter{line: func(b []byte) bool { return f.sendLine(c, stream, b) }}
}

// sendLine sends one line of c's stream unless the tail had it or grep drops it;
// false once the follow has ended.
func (f *follower) sendLine(c *followed, stream string, b []byte) bool {
	ts, raw := splitStamp(stream, b)
	if !ts.IsZero() {
		if !ts.After(c.seen) {
			return true // the tail had it
		}
		c.since = later(c.since, ts.Add(time.Nanosecond))
	}
	if !f.grep.keeps(raw) {
		return true
	}
	return f.send(FollowLine{Time: ts, Container: c.name, Stream: stream, Text: strings.ToValidUTF8(string(raw), "\uFFFD")})
}
