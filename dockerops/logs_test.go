package dockerops

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
)

func TestLogs(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "logs")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web", "tty", "quiet", "chatty"}}}
	f := newFixture(t, ps)
	web := f.run(t, cp, "web", dockertest.ContainerSpec{Env: []string{"LOG_LINES=5"}})
	tty := f.run(t, cp, "tty", dockertest.ContainerSpec{Env: []string{"LOG_LINES=2"}, Tty: true})
	quiet := f.run(t, cp, "quiet", dockertest.ContainerSpec{Env: []string{"LOG_LINES=0"}})
	chatty := f.run(t, cp, "chatty", dockertest.ContainerSpec{Env: []string{"LOG_LINES=2500"}})
	// Healthy means the server is up, and the app writes its lines before serving.
	f.waitHealthy(t, web, tty, quiet, chatty)
	afterStart := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	beforeStart, afterLines := f.startedAt(t, web).Add(-time.Second), time.Now()

	all := func(stream string, n int) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, fmt.Sprintf("%s: %s line %d", stream, stream, i))
		}
		return out
	}
	tests := []struct {
		name string
		req  LogsRequest
		// want is the lines expected, compared as a set when unordered (stdout and
		// stderr reach the engine through separate pipes).
		want      []string
		unordered bool
		wantCount int
		container string
	}{
		{name: "primary, default lines", req: LogsRequest{}, want: append(all("stdout", 5), all("stderr", 5)...), unordered: true, container: cp + "-web-1"},
		{name: "tail", req: LogsRequest{Container: "chatty", Lines: 3}, wantCount: 3, container: cp + "-chatty-1"},
		{name: "grep is case-insensitive", req: LogsRequest{Grep: "STDERR Line 4"}, want: []string{"stderr: stderr line 4"}},
		{name: "grep keeps the last matches", req: LogsRequest{Container: "chatty", Grep: "OUT LINE 249", Lines: 2}, want: []string{"stdout: stdout line 2498", "stdout: stdout line 2499"}},
		{name: "stderr only lines", req: LogsRequest{Grep: "stderr"}, want: all("stderr", 5)},
		{name: "since a duration", req: LogsRequest{Since: "1h"}, wantCount: 10},
		{name: "since an RFC 3339 time after the lines", req: LogsRequest{Since: afterStart}, wantCount: 0},
		{name: "until a time before the lines", req: LogsRequest{Until: beforeStart}, wantCount: 0},
		{name: "until a time after the lines", req: LogsRequest{Until: afterLines}, wantCount: 10},
		{name: "by container name", req: LogsRequest{Container: cp + "-tty-1"}, want: []string{"tty: stdout line 1", "tty: stderr line 1", "tty: stdout line 2", "tty: stderr line 2"}, unordered: true, container: cp + "-tty-1"},
		{name: "no logs", req: LogsRequest{Container: "quiet"}, want: []string{}},
		{name: "5000 lines", req: LogsRequest{Container: "chatty", Lines: MaxLogLines}, wantCount: 5000},
		{name: "default is 50", req: LogsRequest{Container: "chatty"}, wantCount: DefaultLogLines},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.svc.Logs(t.Context(), "app", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Lines == nil {
				t.Fatal("lines is nil, want a slice (JSON [])")
			}
			if tc.container != "" && res.Container != tc.container {
				t.Errorf("container = %q, want %q", res.Container, tc.container)
			}
			got := texts(res.Lines)
			if tc.want != nil {
				want := tc.want
				if tc.unordered {
					got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
				}
				if !slices.Equal(got, want) {
					t.Errorf("lines:\n%s\nwant:\n%s", joined(got), joined(want))
				}
			} else if len(got) != tc.wantCount {
				t.Errorf("got %d lines, want %d", len(got), tc.wantCount)
			}
			for i, l := range res.Lines {
				if l.Time.IsZero() || time.Since(l.Time) > time.Hour {
					t.Fatalf("line %d %q has time %v, want the engine's timestamp", i, l.Text, l.Time)
				}
				if i > 0 && l.Time.Before(res.Lines[i-1].Time) {
					t.Fatalf("line %d is older than the one before it", i)
				}
			}
		})
	}

	t.Run("5000 lines end with the last ones written", func(t *testing.T) {
		res, err := f.svc.Logs(t.Context(), "app", LogsRequest{Container: "chatty", Lines: 5000})
		if err != nil {
			t.Fatal(err)
		}
		got := texts(res.Lines)
		for _, want := range []string{"stdout: stdout line 1", "stderr: stderr line 2500"} {
			if !slices.Contains(got, want) {
				t.Errorf("no line %q among %d", want, len(got))
			}
		}
	})
}

func TestLogsRejectsBadRequests(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "logsbad")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, Containers: []string{"web", "gone"}}}
	f := newFixture(t, ps)
	f.run(t, cp, "web", dockertest.ContainerSpec{Healthcheck: noHealthcheck})

	tests := []struct {
		name    string
		project string
		req     LogsRequest
		want    error
		message string
	}{
		{"negative lines", "app", LogsRequest{Lines: -1}, ErrBadInput, "lines must be between 1 and 5000, got -1"},
		{"too many lines", "app", LogsRequest{Lines: 5001}, ErrBadInput, "lines must be between 1 and 5000, got 5001"},
		{"since not a time", "app", LogsRequest{Since: "yesterday"}, ErrBadInput, `since "yesterday": want a duration such as 15m or an RFC 3339 time`},
		{"negative since", "app", LogsRequest{Since: "-5m"}, ErrBadInput, "must be positive"},
		{"unknown container", "app", LogsRequest{Container: "nosuch"}, ErrNotFound, `"nosuch"`},
		{"listed container that does not exist", "app", LogsRequest{Container: "gone"}, ErrNotFound, `"gone"`},
		{"unknown project", "other", LogsRequest{}, ErrUnknownProject, "other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Logs(t.Context(), tc.project, tc.req)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.message)
			}
		})
	}
}

func TestParseLogsRequest(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  LogsRequest
		want logQuery
		bad  bool
	}{
		{name: "defaults", req: LogsRequest{}, want: logQuery{lines: 50}},
		{name: "limit", req: LogsRequest{Lines: 5000}, want: logQuery{lines: 5000}},
		{name: "duration", req: LogsRequest{Since: "15m", Lines: 3}, want: logQuery{lines: 3, since: now.Add(-15 * time.Minute)}},
		{name: "rfc3339", req: LogsRequest{Since: "2025-05-31T10:00:00+02:00"}, want: logQuery{lines: 50, since: time.Date(2025, 5, 31, 8, 0, 0, 0, time.UTC)}},
		{name: "grep kept", req: LogsRequest{Grep: "Err"}, want: logQuery{lines: 50, grep: "Err"}},
		{name: "zero duration", req: LogsRequest{Since: "0s"}, bad: true},
		{name: "date only", req: LogsRequest{Since: "2025-05-31"}, bad: true},
		{name: "too many", req: LogsRequest{Lines: 5001}, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLogsRequest(tc.req, now)
			if tc.bad {
				if !errors.Is(err, ErrBadInput) {
					t.Fatalf("err = %v, want ErrBadInput", err)
				}
				return
			}
			if err != nil || got.lines != tc.want.lines || !got.since.Equal(tc.want.since) || got.grep != tc.want.grep {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLogCollector(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		grep   string
		stream string
		input  []string // chunks written, as the engine may split them anywhere
		want   []string
	}{
		{name: "timestamps parsed and ring keeps the last", n: 2, stream: streamStdout,
			input: []string{"2025-06-01T12:00:00.000000001Z a\n2025-06-01T12:00:01Z b\n", "2025-06-01T12:00:02Z c\n"},
			want:  []string{"12:00:01 b", "12:00:02 c"}},
		{name: "line split across writes", n: 5, stream: streamStdout,
			input: []string{"2025-06-01T12:00:00Z hel", "lo wor", "ld\n"},
			want:  []string{"12:00:00 hello world"}},
		{name: "last line without newline", n: 5, stream: streamStdout,
			input: []string{"2025-06-01T12:00:00Z end"},
			want:  []string{"12:00:00 end"}},
		{name: "tty carriage returns dropped", n: 5, stream: streamTTY,
			input: []string{"2025-06-01T12:00:00Z one\r\n2025-06-01T12:00:00Z two\r\n"},
			want:  []string{"12:00:00 one", "12:00:00 two"}},
		{name: "grep case-insensitive, unicode too", n: 5, grep: "ÉTÉ", stream: streamStdout,
			input: []string{"2025-06-01T12:00:00Z un été chaud\n2025-06-01T12:00:00Z winter\n"},
			want:  []string{"12:00:00 un été chaud"}},
		{name: "no timestamp", n: 5, stream: streamStdout,
			input: []string{"plain text\n"},
			want:  []string{"00:00:00 plain text"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newLogCollector(tc.n, tc.grep)
			w := c.writer(tc.stream)
			for _, in := range tc.input {
				w.Write([]byte(in))
			}
			w.flush()
			var got []string
			for _, l := range c.result() {
				got = append(got, l.Time.UTC().Format("15:04:05")+" "+l.Text)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("long line is capped", func(t *testing.T) {
		c := newLogCollector(1, "")
		w := c.writer(streamStdout)
		w.Write([]byte("2025-06-01T12:00:00Z " + strings.Repeat("x", 3*maxLineBytes) + "\n"))
		if got := c.result(); len(got) != 1 || len(got[0].Text) > maxLineBytes {
			t.Fatalf("got %d lines, first %d bytes; want one of at most %d", len(got), len(got[0].Text), maxLineBytes)
		}
	})
}

func BenchmarkLogCollectorGrep(b *testing.B) {
	line := []byte("2025-06-01T12:00:00.123456789Z GET /api/v1/projects/po/status 200 1.2ms user=42\n")
	b.ReportAllocs()
	for b.Loop() {
		c := newLogCollector(50, "STATUS 500")
		w := c.writer(streamStdout)
		for range 1000 {
			w.Write(line)
		}
	}
}
