package dockerops

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/internal/engineproxy"
	"github.com/scar-dev/scar/projects"
)

// followWait bounds every wait for a line, so that a follow that never delivers fails
// the test rather than hanging it; it is no time limit on the follow itself.
const followWait = 60 * time.Second

// readUntil reads lines until one satisfies want and returns every line read, that
// one last. It fails the test when Lines closes first.
func readUntil(t *testing.T, f *Follow, what string, want func(FollowLine) bool) []FollowLine {
	t.Helper()
	var got []FollowLine
	timeout := time.NewTimer(followWait)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-f.Lines:
			if !ok {
				t.Fatalf("the follow ended (%s) before %s; lines:\n%s", f.Reason(), what, followTexts(got))
			}
			got = append(got, l)
			if want(l) {
				return got
			}
		case <-timeout.C:
			t.Fatalf("no %s within %s; lines:\n%s", what, followWait, followTexts(got))
		}
	}
}

// drain reads the rest of the lines until Lines closes and returns them.
func drain(t *testing.T, f *Follow) []FollowLine {
	t.Helper()
	var got []FollowLine
	timeout := time.NewTimer(followWait)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-f.Lines:
			if !ok {
				return got
			}
			got = append(got, l)
		case <-timeout.C:
			t.Fatalf("Lines was not closed; lines:\n%s", followTexts(got))
		}
	}
}

func followTexts(ls []FollowLine) string {
	var b strings.Builder
	for _, l := range ls {
		note := ""
		if l.Note {
			note = " [note]"
		}
		fmt.Fprintf(&b, "  %s %s %s: %s%s\n", l.Time.Format(time.RFC3339Nano), l.Container, l.Stream, l.Text, note)
	}
	return b.String()
}

func isTick(l FollowLine) bool { return !l.Note && strings.HasPrefix(l.Text, "tick ") }

// tickNumber is N of "tick N <time>", and the time the app wrote it.
func tickNumber(t *testing.T, l FollowLine) (int, time.Time) {
	t.Helper()
	f := strings.Fields(l.Text)
	if len(f) != 3 {
		t.Fatalf("tick line %q", l.Text)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("tick line %q: %v", l.Text, err)
	}
	at, err := time.Parse(time.RFC3339Nano, f[2])
	if err != nil {
		t.Fatalf("tick line %q: %v", l.Text, err)
	}
	return n, at
}

// A follow starts with the tail Logs would answer, then receives the lines the
// container writes; it is timed as operation "follow".
func TestFollowLogsReceivesNewLines(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "follow")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web"}}}
	fx := newFixture(t, ps)
	fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=3", "TICK_EVERY=200ms"}, Healthcheck: noHealthcheck})
	// The start lines are written before the first tick.
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		res, err := fx.svc.Logs(t.Context(), "app", LogsRequest{Grep: "tick"})
		return err == nil && len(res.Lines) > 0
	})

	f, err := fx.svc.FollowLogs(t.Context(), "app", FollowRequest{LogsRequest: LogsRequest{Container: "web", Lines: 2, Grep: "LINE 3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if f.Project != "app" || !slices.Equal(f.Containers, []string{cp + "-web-1"}) {
		t.Errorf("follow of %q %v, want app [%s-web-1]", f.Project, f.Containers, cp)
	}
	tail := readUntil(t, f, "the tail", func(FollowLine) bool { return true })
	tail = append(tail, readUntil(t, f, "the tail's second line", func(FollowLine) bool { return true })...)
	for _, l := range tail {
		if !strings.Contains(l.Text, "line 3") || l.Container != cp+"-web-1" || l.Time.IsZero() {
			t.Errorf("tail line %+v, want line 3 of stdout and of stderr", l)
		}
	}
	f.Stop()
	drain(t, f)
	if f.Reason() != FollowStopped {
		t.Errorf("reason %q, want %q", f.Reason(), FollowStopped)
	}

	// Without grep: ticks, each as the app wrote it.
	f, err = fx.svc.FollowLogs(t.Context(), "app", FollowRequest{LogsRequest: LogsRequest{Lines: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	first := readUntil(t, f, "the tail", func(FollowLine) bool { return true })[0]
	var latencies []time.Duration
	last := 0
	for range 3 {
		got := readUntil(t, f, "a tick", isTick)
		l := got[len(got)-1]
		n, written := tickNumber(t, l)
		latencies = append(latencies, time.Since(written))
		if last != 0 && n != last+1 {
			t.Errorf("tick %d after tick %d: a line lost or repeated", n, last)
		}
		if l.Stream != "stdout" || l.Container != cp+"-web-1" || !l.Time.After(first.Time) {
			t.Errorf("tick %+v, want stdout of web, after the tail's line %+v", l, first)
		}
		last = n
	}
	t.Logf("line written → received through FollowLogs: %v (acceptance: within 1s)", latencies)
	if n := histogramCount(t, fx.reg, OpFollow, "app", "success"); n != 2 {
		t.Errorf("%d follows timed as operation follow, want 2", n)
	}
}

// Every container of the project: the tails merged by time, then the live lines of
// both, each with its container; a TTY container's too.
func TestFollowLogsInterleavesContainers(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "followall")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, AutoDetect: true}}
	fx := newFixture(t, ps)
	fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=4", "TICK_EVERY=150ms"}, Healthcheck: noHealthcheck})
	fx.run(t, cp, "tty", dockertest.ContainerSpec{Env: []string{"LOG_LINES=4", "TICK_EVERY=150ms"}, Tty: true, Healthcheck: noHealthcheck})
	web, tty := cp+"-web-1", cp+"-tty-1"
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		for _, c := range []string{"web", "tty"} {
			res, err := fx.svc.Logs(t.Context(), "app", LogsRequest{Container: c, Grep: "tick"})
			if err != nil || len(res.Lines) == 0 {
				return false
			}
		}
		return true
	})

	f, err := fx.svc.FollowLogs(t.Context(), "app", FollowRequest{LogsRequest: LogsRequest{Grep: " line ", Lines: 16}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if !slices.Equal(slices.Sorted(slices.Values(f.Containers)), slices.Sorted(slices.Values([]string{web, tty}))) {
		t.Errorf("containers %v, want %s and %s", f.Containers, web, tty)
	}
	var tail []FollowLine
	for range 16 {
		tail = append(tail, readUntil(t, f, "the tail", func(FollowLine) bool { return true })...)
	}
	by := map[string]int{}
	for i, l := range tail {
		by[l.Container]++
		if i > 0 && l.Time.Before(tail[i-1].Time) {
			t.Errorf("tail line %d is older than the one before it:\n%s", i, followTexts(tail))
		}
	}
	if by[web] != 8 || by[tty] != 8 {
		t.Errorf("tail has %v lines by container, want 8 of each:\n%s", by, followTexts(tail))
	}
	f.Stop()
	drain(t, f)

	f, err = fx.svc.FollowLogs(t.Context(), "app", FollowRequest{LogsRequest: LogsRequest{Grep: "tick", Lines: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	from := map[string]int{}
	var got []FollowLine
	for from[web] < 3 || from[tty] < 3 {
		ls := readUntil(t, f, "ticks of both", isTick)
		l := ls[len(ls)-1]
		from[l.Container]++
		got = append(got, ls...)
		if l.Container == tty && l.Stream != streamTTY || l.Container == web && l.Stream != streamStdout {
			t.Errorf("%s's line on stream %q", l.Container, l.Stream)
		}
		if strings.HasSuffix(l.Text, "\r") {
			t.Errorf("a TTY line keeps its carriage return: %q", l.Text)
		}
	}
	if len(from) != 2 {
		t.Errorf("lines from %v, want only %s and %s:\n%s", from, web, tty, followTexts(got))
	}
}

// A container that restarts is followed across it: a note says so and the new run's
// lines follow, none lost or repeated; a stop says the exit code, and a start after
// it is followed too.
func TestFollowLogsAcrossARestart(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "followrst")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web"}}}
	fx := newFixture(t, ps)
	id := fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=1", "TICK_EVERY=100ms"}, Healthcheck: noHealthcheck})
	name := cp + "-web-1"

	f, err := fx.svc.FollowLogs(t.Context(), "app", FollowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	got := readUntil(t, f, "a tick", isTick)
	timeout := 5
	if _, err := fx.cli.ContainerRestart(t.Context(), id, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	got = append(got, readUntil(t, f, "the restart's note", func(l FollowLine) bool { return l.Note && l.Text == name+" restarted" })...)
	got = append(got, readUntil(t, f, "the new run's first line", func(l FollowLine) bool { return l.Text == "stdout line 1" })...)
	got = append(got, readUntil(t, f, "the new run's ticks", func(l FollowLine) bool { return isTick(l) && strings.HasPrefix(l.Text, "tick 3 ") })...)

	if _, err := fx.cli.ContainerStop(t.Context(), id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	got = append(got, readUntil(t, f, "the stop's note", func(l FollowLine) bool { return l.Note && strings.Contains(l.Text, "stopped") })...)
	if l := got[len(got)-1]; l.Text != name+" stopped (exit code 0)" || l.Container != name {
		t.Errorf("stop note %+v, want %q", l, name+" stopped (exit code 0)")
	}
	if _, err := fx.cli.ContainerStart(t.Context(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	got = append(got, readUntil(t, f, "the start's note", func(l FollowLine) bool { return l.Note && l.Text == name+" restarted" })...)
	got = append(got, readUntil(t, f, "the third run's ticks", func(l FollowLine) bool { return isTick(l) && strings.HasPrefix(l.Text, "tick 2 ") })...)

	// Each run's ticks count up from 1 without a gap or a repeat, and the start
	// line opens every run.
	runs, seen := 0, map[string]bool{}
	next := 0
	for _, l := range got {
		key := l.Time.String() + l.Stream + l.Text
		if !l.Note && seen[key] {
			t.Errorf("line repeated: %+v", l)
		}
		seen[key] = true
		switch {
		case l.Text == "stdout line 1":
			runs++
			next = 1
		case isTick(l):
			n, _ := tickNumber(t, l)
			if next != 0 && n != next {
				t.Errorf("run %d: tick %d where tick %d was due:\n%s", runs, n, next, followTexts(got))
			}
			next = n + 1
		}
	}
	if runs < 2 {
		t.Errorf("%d runs' start lines seen, want the restarted and the started runs':\n%s", runs, followTexts(got))
	}
}

// A reader that takes nothing while its buffer is full is dropped: a last note says
// why, Lines closes, and the reason is "the reader fell behind".
func TestFollowLogsDropsAReaderThatFallsBehind(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "followslow")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web"}}}
	fx := newFixture(t, ps, WithFollowBuffer(4, 300*time.Millisecond))
	fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=20", "TICK_EVERY=20ms"}, Healthcheck: noHealthcheck})
	dockertest.WaitFor(t, 30*time.Second, func() bool {
		res, err := fx.svc.Logs(t.Context(), "app", LogsRequest{})
		return err == nil && len(res.Lines) >= 40
	})

	f, err := fx.svc.FollowLogs(t.Context(), "app", FollowRequest{LogsRequest: LogsRequest{Lines: 40}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	// Nothing is read until the follow has given up on this reader.
	dockertest.WaitFor(t, followWait, func() bool { return f.Reason() != "" })
	got := drain(t, f)
	if f.Reason() != FollowFellBehind {
		t.Fatalf("reason %q, want %q", f.Reason(), FollowFellBehind)
	}
	if len(got) > 4 {
		t.Errorf("%d lines were held for the reader, want at most the buffer's 4", len(got))
	}
	if last := got[len(got)-1]; !last.Note || last.Text != "follow ended: the reader fell behind" || last.Container != "" {
		t.Errorf("last line %+v, want the note that the reader fell behind", last)
	}
}

// The engine going away ends the follow with a note that says so.
func TestFollowLogsEndsWhenTheEngineGoesAway(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "followgone")
	p := &projects.Project{Name: "app", ComposeProject: cp, Containers: []string{"web"}}
	fx := newFixture(t, projectMap{"app": p})
	fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"TICK_EVERY=100ms"}, Healthcheck: noHealthcheck})
	proxy := engineproxy.New(t)
	engine, err := NewClient(proxy.Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	svc := New(engine, projectMap{"app": p}, nil, nil)

	f, err := svc.FollowLogs(t.Context(), "app", FollowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	readUntil(t, f, "a tick", isTick)
	proxy.Stop()
	got := drain(t, f)
	if len(got) == 0 || !got[len(got)-1].Note || got[len(got)-1].Text != FollowEngineGone {
		t.Errorf("the follow ended with:\n%s\nwant the note %q last", followTexts(got), FollowEngineGone)
	}
	if f.Reason() != FollowEngineGone {
		t.Errorf("reason %q, want %q", f.Reason(), FollowEngineGone)
	}
}

// Bad input gets the errors Logs gives, before any line, and starts nothing.
func TestFollowLogsRejectsBadRequests(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "followbad")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web", "gone"}}}
	fx := newFixture(t, ps)
	fx.run(t, cp, "web", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	tests := []struct {
		name    string
		project string
		req     FollowRequest
		want    error
	}{
		{"unknown project", "nope", FollowRequest{}, ErrUnknownProject},
		{"bad since", "app", FollowRequest{LogsRequest: LogsRequest{Since: "yesterday"}}, ErrBadInput},
		{"negative since", "app", FollowRequest{LogsRequest: LogsRequest{Since: "-5m"}}, ErrBadInput},
		{"grep with a line break", "app", FollowRequest{LogsRequest: LogsRequest{Grep: "a\nb"}}, ErrBadInput},
		{"too many lines", "app", FollowRequest{LogsRequest: LogsRequest{Lines: MaxLogLines + 1}}, ErrBadInput},
		{"negative time limit", "app", FollowRequest{MaxDuration: -time.Second}, ErrBadInput},
		{"unknown container", "app", FollowRequest{LogsRequest: LogsRequest{Container: "nosuch"}}, ErrNotFound},
		{"container that does not exist", "app", FollowRequest{LogsRequest: LogsRequest{Container: "gone"}}, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fx.svc.FollowLogs(t.Context(), tc.project, tc.req)
			if !errors.Is(err, tc.want) || f != nil {
				t.Fatalf("FollowLogs: %v, %v; want %v", f, err, tc.want)
			}
			_, logsErr := fx.svc.Logs(t.Context(), tc.project, tc.req.LogsRequest)
			if tc.req.MaxDuration == 0 && (logsErr == nil || logsErr.Error() != strings.Replace(err.Error(), "follow logs of", "logs of", 1)) {
				t.Errorf("FollowLogs says %q, Logs says %q; want the same", err, logsErr)
			}
		})
	}
}

// Whichever way a follow ends — Stop, its context, its time limit — Lines closes and
// every goroutine it started has ended. Not parallel: it counts the process's
// goroutines.
func TestFollowLogsLeavesNoGoroutineBehind(t *testing.T) {
	cp := dockertest.UniqueName(t, "followgo")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, AutoDetect: true}}
	fx := newFixture(t, ps)
	fx.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"TICK_EVERY=50ms"}, Healthcheck: noHealthcheck})
	fx.run(t, cp, "worker", dockertest.ContainerSpec{Env: []string{"TICK_EVERY=50ms"}, Healthcheck: noHealthcheck})
	settled := func() int {
		fx.engine.Close() // idle keep-alive connections hold goroutines of their own
		return runtime.NumGoroutine()
	}
	before := settled()
	tests := []struct {
		name   string
		req    FollowRequest
		end    func(f *Follow, cancel context.CancelFunc)
		reason string
		note   string
	}{
		{"stop", FollowRequest{}, func(f *Follow, _ context.CancelFunc) { f.Stop() }, FollowStopped, ""},
		{"context", FollowRequest{}, func(_ *Follow, cancel context.CancelFunc) { cancel() }, FollowStopped, ""},
		{"time limit", FollowRequest{MaxDuration: 500 * time.Millisecond}, func(*Follow, context.CancelFunc) {}, "the time limit (500ms) passed", "follow ended: 500ms passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			f, err := fx.svc.FollowLogs(ctx, "app", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			readUntil(t, f, "a tick", isTick)
			tc.end(f, cancel)
			got := drain(t, f)
			if f.Reason() != tc.reason {
				t.Errorf("reason %q, want %q", f.Reason(), tc.reason)
			}
			if tc.note != "" && (len(got) == 0 || got[len(got)-1].Text != tc.note || !got[len(got)-1].Note) {
				t.Errorf("last lines:\n%s\nwant the note %q", followTexts(got), tc.note)
			}
			var now int
			dockertest.WaitFor(t, 30*time.Second, func() bool { now = settled(); return now <= before })
		})
	}
}
