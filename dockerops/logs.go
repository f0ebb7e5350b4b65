package dockerops

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// grepScanLines is how far back a grep looks: the engine sends at most this many of
// the newest lines and the matches among them are kept, the last N of them in a
// ring, so memory stays bounded by N whatever the log's size.
const grepScanLines = 100_000

// logQuery is a validated LogsRequest.
type logQuery struct {
	lines int
	since time.Time
	// until, when set, keeps the lines written at or before it.
	until time.Time
	grep  string
	// maxBytes bounds the kept text; 0: no bound.
	maxBytes int
}

// Logs returns the last lines of the project's primary container, or of the
// container named in req (a container name or Compose service), oldest first.
func (s *Service) Logs(ctx context.Context, project string, req LogsRequest) (*LogsResult, error) {
	done := s.track(OpLogs)
	p, err := s.projects.Resolve(project)
	if err != nil {
		done("", true)
		return nil, err
	}
	res, err := s.logs(ctx, p, req)
	done(p.Name, err != nil)
	return res, err
}

func (s *Service) logs(ctx context.Context, p *projects.Project, req LogsRequest) (*LogsResult, error) {
	q, err := parseLogsRequest(req, s.now())
	if err != nil {
		return nil, err
	}
	// The engine's logs call for the container this request resolved to last time
	// starts now, while the members are listed; its lines are used only when the
	// list resolves the request to that same container (logs_early.go).
	key := logTargetKey{project: p.Name, name: req.Container}
	early := s.startEarlyLogs(ctx, key, q)
	m, err := s.resolveLogTarget(ctx, p, req.Container)
	if err != nil {
		early.drop()
		return nil, fmt.Errorf("logs of %s: %w", p.Name, err)
	}
	var col *logCollector
	if early.of(m.summary.ID) {
		col, err = early.wait()
	} else {
		early.drop()
		var tty bool
		if col, tty, err = s.collectLogs(ctx, m.summary.ID, q); err == nil {
			s.logTargets.remember(key, knownTarget{id: m.summary.ID, tty: tty})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %s: %w", p.Name, m.name, err)
	}
	return &LogsResult{Project: p.Name, Container: m.name, Lines: col.result(), Truncated: col.truncated}, nil
}

// resolveLogTarget is the member of p that a logs request naming name (the primary
// when "") reads: only a project's own containers' logs are ever read for it.
func (s *Service) resolveLogTarget(ctx context.Context, p *projects.Project, name string) (*member, error) {
	ms, err := s.members(ctx, p)
	if err == nil {
		err = s.requireMembers(ctx, p, ms)
	}
	if err != nil {
		return nil, err
	}
	return logTarget(ms, name)
}

func parseLogsRequest(req LogsRequest, now time.Time) (logQuery, error) {
	q := logQuery{lines: req.Lines, grep: req.Grep, maxBytes: req.MaxBytes, until: req.Until}
	if q.lines == 0 {
		q.lines = DefaultLogLines
	}
	if q.lines < 1 || q.lines > MaxLogLines {
		return q, badInput("lines must be between 1 and %d, got %d", MaxLogLines, req.Lines)
	}
	// A grep that no line can hold would answer nothing, which reads as "no such
	// lines" rather than as the mistake it is.
	if strings.ContainsAny(req.Grep, "\r\n") {
		return q, badInput("grep %q: a line never holds a line break", req.Grep)
	}
	if len(req.Grep) > maxLineBytes {
		return q, badInput("grep is %d bytes long; a line holds at most %d", len(req.Grep), maxLineBytes)
	}
	if req.Since == "" {
		return q, nil
	}
	if d, err := time.ParseDuration(req.Since); err == nil {
		if d <= 0 {
			return q, badInput("since %q: the duration must be positive", req.Since)
		}
		q.since = now.Add(-d)
		return q, nil
	}
	t, err := time.Parse(time.RFC3339, req.Since)
	if err != nil {
		return q, badInput("since %q: want a duration such as 15m or an RFC 3339 time such as 2006-01-02T15:04:05Z", req.Since)
	}
	q.since = t
	return q, nil
}

// logTarget is the member named by name, else the primary one.
func logTarget(ms []*member, name string) (*member, error) {
	for _, m := range ms {
		if (name == "" && m.primary) || (name != "" && m.matches(name)) {
			if !m.found() {
				return nil, fmt.Errorf("container %q: %w", m.name, ErrNotFound)
			}
			return m, nil
		}
	}
	if name == "" {
		return nil, fmt.Errorf("no containers: %w", ErrNotFound)
	}
	return nil, fmt.Errorf("container %q: %w", name, ErrNotFound)
}

// readLogs returns the lines collectLogs kept.
func (s *Service) readLogs(ctx context.Context, id string, q logQuery) ([]LogLine, error) {
	col, _, err := s.collectLogs(ctx, id, q)
	if err != nil {
		return nil, err
	}
	return col.result(), nil
}

// collectLogs asks the engine for the log and, at the same time, inspects the
// container: a TTY container's log is one raw stream, any other's is multiplexed. It
// also returns whether the container has a TTY.
func (s *Service) collectLogs(ctx context.Context, id string, q logQuery) (*logCollector, bool, error) {
	type inspected struct {
		c   *container.InspectResponse
		err error
	}
	tty := make(chan inspected, 1)
	go func() {
		c, err := s.inspect(ctx, id)
		tty <- inspected{c, err}
	}()

	rc, err := s.docker.ContainerLogs(ctx, id, logsOptions(q))
	in := <-tty
	if err != nil {
		return nil, false, notFound(engineError(err))
	}
	defer rc.Close()
	if in.err != nil {
		return nil, false, notFound(in.err)
	}
	isTTY := in.c.Config != nil && in.c.Config.Tty
	col, err := readLogStream(rc, isTTY, q)
	return col, isTTY, err
}

// collectKnownLogs is collectLogs of a container known to have a TTY or not: the
// logs call alone.
func (s *Service) collectKnownLogs(ctx context.Context, id string, tty bool, q logQuery) (*logCollector, error) {
	rc, err := s.docker.ContainerLogs(ctx, id, logsOptions(q))
	if err != nil {
		return nil, notFound(engineError(err))
	}
	defer rc.Close()
	return readLogStream(rc, tty, q)
}

// logsOptions is the engine's logs call for q.
func logsOptions(q logQuery) client.ContainerLogsOptions {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: strconv.Itoa(q.lines)}
	if q.grep != "" {
		opts.Tail = strconv.Itoa(grepScanLines)
	}
	if !q.since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", q.since.Unix(), q.since.Nanosecond())
	}
	if !q.until.IsZero() {
		opts.Until = fmt.Sprintf("%d.%09d", q.until.Unix(), q.until.Nanosecond())
	}
	return opts
}

// readLogStream keeps what q asks for of the engine's logs answer r.
func readLogStream(r io.Reader, tty bool, q logQuery) (*logCollector, error) {
	col := newLogCollector(q.lines, q.grep)
	col.maxBytes = q.maxBytes
	if err := col.read(r, tty); err != nil {
		return nil, engineError(err)
	}
	return col, nil
}

// read takes the log as the engine sends it: a TTY container's as one raw stream,
// any other's multiplexed.
func (c *logCollector) read(r io.Reader, tty bool) error {
	if tty {
		w := c.writer(streamTTY)
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		w.flush()
		return nil
	}
	stdout, stderr := c.writer(streamStdout), c.writer(streamStderr)
	if err := demux(r, stdout, stderr); err != nil {
		return err
	}
	stdout.flush()
	stderr.flush()
	return nil
}

// notFound makes the engine's "no such container" match ErrNotFound.
func notFound(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
