package dockerops

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// detailTimeout bounds what the watcher asks the engine about one event (an inspect,
// a log tail): the stream waits meanwhile.
const detailTimeout = 5 * time.Second

// tailLines is how many log lines a died incident carries.
const tailLines = 10

// exitDetails is what the engine tells of a container that exited.
type exitDetails struct {
	oomKilled   bool
	memoryLimit int64
	logTail     string
}

// describeExit inspects a container that exited and, when at is set, reads its last
// log lines up to at. A container gone meanwhile has no details; that is not an
// error of the watcher (the incident is opened without them).
func (w *Watcher) describeExit(ctx context.Context, id string, at time.Time, code int) exitDetails {
	ctx, cancel := context.WithTimeout(ctx, detailTimeout)
	defer cancel()
	var d exitDetails
	res, err := w.cfg.Engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		w.detailMissing(id, "inspect", err)
		return d
	}
	c := res.Container
	if c.State != nil {
		d.oomKilled = c.State.OOMKilled && c.State.ExitCode == code
	}
	if c.HostConfig != nil {
		d.memoryLimit = c.HostConfig.Memory
	}
	if !at.IsZero() {
		d.logTail = w.logTail(ctx, id, at, c.Config != nil && c.Config.Tty)
	}
	return d
}

// logTail returns the container's last tailLines log lines written up to at, "" when
// they cannot be read.
func (w *Watcher) logTail(ctx context.Context, id string, at time.Time, tty bool) string {
	// The engine's until is inclusive to the second it is given in.
	until := at.Add(time.Second)
	rc, err := w.cfg.Engine.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(tailLines),
		Until: fmt.Sprintf("%d.%09d", until.Unix(), until.Nanosecond()),
	})
	if err != nil {
		w.detailMissing(id, "logs", err)
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	lim := &limitedWriter{w: &buf, n: 64 << 10}
	if tty {
		_, err = io.Copy(lim, rc)
	} else {
		_, err = stdcopy.StdCopy(lim, lim, rc)
	}
	if err != nil {
		w.detailMissing(id, "logs", err)
	}
	lines := strings.Split(strings.TrimRight(strings.ToValidUTF8(buf.String(), "\uFFFD"), "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return strings.Join(lines, "\n")
}

// limitedWriter keeps at most n bytes and drops the rest: a container that logs
// megabyte lines must not make an incident that large.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	keep := p
	if len(keep) > l.n {
		keep = keep[:l.n]
	}
	l.n -= len(keep)
	if _, err := l.w.Write(keep); err != nil {
		return 0, err
	}
	return len(p), nil
}

// healthOutput returns the output of the container's last health check.
func (w *Watcher) healthOutput(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(ctx, detailTimeout)
	defer cancel()
	res, err := w.cfg.Engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		w.detailMissing(id, "inspect", err)
		return ""
	}
	return lastHealthOutput(res.Container.State)
}

func lastHealthOutput(st *container.State) string {
	if st == nil || st.Health == nil || len(st.Health.Log) == 0 {
		return ""
	}
	last := st.Health.Log[len(st.Health.Log)-1]
	if last == nil {
		return ""
	}
	return strings.TrimSpace(last.Output)
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// detailMissing logs, once per kind of call, that what an incident would carry
// could not be read (the container is gone, the engine went away): the incident
// is opened without it.
func (w *Watcher) detailMissing(id, call string, err error) {
	w.warnOnce("detail "+call, "event watcher: incident details unavailable", "container", id, "call", call, "err", err)
}
