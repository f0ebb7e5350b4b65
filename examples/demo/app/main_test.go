package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	content := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(content, []byte("from file"), 0o644); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(dir, "sick")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthy", nil, "/health", 200, "ok"},
		{"unhealthy by env", map[string]string{"UNHEALTHY": "1"}, "/health", 500, "unhealthy\n"},
		{"unhealthy by file", map[string]string{"UNHEALTHY_FILE": flag}, "/health", 500, "unhealthy\n"},
		{"healthy while the file is absent", map[string]string{"UNHEALTHY_FILE": flag + ".no"}, "/health", 200, "ok"},
		{"content file", map[string]string{"CONTENT_FILE": content, "VERSION": "v9"}, "/", 200, "from file"},
		{"version without a file", map[string]string{"CONTENT_FILE": content + ".no", "VERSION": "v9"}, "/", 200, "v9"},
		{"unknown path", nil, "/nope", 404, "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(newHandler(func(k string) string { return tc.env[k] }))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestRunExitsAtStartAndWritesNoLines(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"EXIT_AT_START": "1", "LOG_LINES": "3"}
	err := run(nil, func(k string) string { return env[k] }, &out, &errOut)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 3 {
		t.Fatalf("err = %v, want exit code 3", err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "EXIT_AT_START") {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestRunRejectsABadLineCount(t *testing.T) {
	env := map[string]string{"LOG_LINES": "many"}
	if err := run(nil, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "LOG_LINES") {
		t.Fatalf("err = %v, want one naming LOG_LINES", err)
	}
}

func TestRunRejectsABadBurnCount(t *testing.T) {
	for _, v := range []string{"lots", "-1"} {
		env := map[string]string{"BURN_CPU": v, "PORT": "0"}
		if err := run(nil, func(k string) string { return env[k] }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "BURN_CPU") {
			t.Errorf("BURN_CPU=%s: err = %v, want one naming BURN_CPU", v, err)
		}
	}
}

func TestStartLines(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantOut    string
		wantErrOut string
		wantErr    string
	}{
		{"default count", nil, "stdout line 1\nstdout line 2\nstdout line 3\nstdout line 4\nstdout line 5\n", "stderr line 1\nstderr line 2\nstderr line 3\nstderr line 4\nstderr line 5\n", ""},
		{"raw bytes after the lines", map[string]string{"LOG_LINES": "1", "LOG_RAW_HEX": "ff3c623ec328"}, "stdout line 1\n\xff<b>\xc3(\n", "stderr line 1\n", ""},
		{"raw bytes alone", map[string]string{"LOG_LINES": "0", "LOG_RAW_HEX": "FEFF00"}, "\xfe\xff\x00\n", "", ""},
		{"bad hex", map[string]string{"LOG_RAW_HEX": "zz"}, "", "", "LOG_RAW_HEX"},
		{"odd hex", map[string]string{"LOG_RAW_HEX": "abc"}, "", "", "LOG_RAW_HEX"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := writeStartLines(func(k string) string { return tc.env[k] }, &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wantOut || errOut.String() != tc.wantErrOut {
				t.Errorf("stdout %q stderr %q, want %q and %q", out.String(), errOut.String(), tc.wantOut, tc.wantErrOut)
			}
		})
	}
}

func TestRunAsAJob(t *testing.T) {
	dir := t.TempDir()
	codeFile := filepath.Join(dir, "exit-code")
	if err := os.WriteFile(codeFile, []byte("4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"exit 0", map[string]string{"EXIT_CODE": "0"}, 0, ""},
		{"exit 2 after a while", map[string]string{"EXIT_CODE": "2", "RUN_FOR": "10ms"}, 2, ""},
		{"code from a file wins", map[string]string{"EXIT_CODE": "0", "EXIT_CODE_FILE": codeFile}, 4, ""},
		{"missing code file", map[string]string{"EXIT_CODE_FILE": codeFile + ".no"}, 0, "EXIT_CODE_FILE"},
		{"bad code", map[string]string{"EXIT_CODE": "256"}, 0, "EXIT_CODE"},
		{"bad duration", map[string]string{"EXIT_CODE": "0", "RUN_FOR": "soon"}, 0, "RUN_FOR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["LOG_LINES"] = "1"
			var out bytes.Buffer
			err := run(nil, func(k string) string { return tc.env[k] }, &out, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			var ee exitError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("err = %v, want a clean exit", err)
			case tc.wantCode != 0 && (!errors.As(err, &ee) || ee.code != tc.wantCode):
				t.Fatalf("err = %v, want exit code %d", err, tc.wantCode)
			}
			if !strings.Contains(out.String(), "job done") {
				t.Errorf("stdout %q lacks the job's last line", out.String())
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	b, err := allocate(func(string) string { return "3" })
	if err != nil || len(b) != 3<<20 || b[4096] != 1 {
		t.Fatalf("allocate 3 MiB: %d bytes, %v", len(b), err)
	}
	if _, err := allocate(func(string) string { return "-1" }); err == nil || !strings.Contains(err.Error(), "ALLOCATE_MIB") {
		t.Fatalf("err = %v, want one naming ALLOCATE_MIB", err)
	}
}

func TestRunCrashesAfterServing(t *testing.T) {
	port := freePort(t)
	env := map[string]string{"PORT": port, "LOG_LINES": "0", "CRASH_AFTER": "300ms"}
	var errOut bytes.Buffer
	errc := make(chan error, 1)
	go func() { errc <- run(nil, func(k string) string { return env[k] }, io.Discard, &errOut) }()
	// It serves first: healthy, as a deploy's gate wants.
	deadline := time.Now().Add(5 * time.Second)
	for probe(port) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the app never answered /health")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-errc:
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(errOut.String(), "CRASH_AFTER") {
			t.Fatalf("err = %v, stderr %q; want exit code 1 saying CRASH_AFTER", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app did not crash")
	}
	if err := run(nil, func(k string) string { return map[string]string{"CRASH_AFTER": "later"}[k] }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "CRASH_AFTER") {
		t.Fatalf("a bad CRASH_AFTER: %v, want an error naming it", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// A serving app exits by itself with code 3 once EXIT_FILE appears, and not before.
func TestRunExitsWhenTheExitFileAppears(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "exit")
	env := map[string]string{"PORT": "0", "LOG_LINES": "0", "EXIT_FILE": flag}
	done := make(chan error, 1)
	go func() { done <- run(nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
	select {
	case err := <-done:
		t.Fatalf("the app ended before the file appeared: %v", err)
	case <-time.After(300 * time.Millisecond): // three looks at the missing file
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 3 {
			t.Fatalf("err = %v, want exit code 3", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app did not exit within 10s of the file appearing")
	}
}

// TICK_EVERY numbers its lines and stamps each with the time it was written; it
// stops with the context, and a bad interval is refused.
func TestTick(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := tick(ctx, "10ms", pw); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(pr)
	for n := 1; n <= 3; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "tick" || f[1] != strconv.Itoa(n) {
			t.Fatalf("line %d is %q, want tick %d <time>", n, line, n)
		}
		if at, err := time.Parse(time.RFC3339Nano, f[2]); err != nil || time.Since(at) > time.Minute {
			t.Fatalf("line %q: time %v (%v)", line, at, err)
		}
	}
	cancel()
	go io.Copy(io.Discard, pr) // a tick written as it stops
	for _, bad := range []string{"soon", "0s", "-1s"} {
		if err := tick(t.Context(), bad, io.Discard); err == nil || !strings.Contains(err.Error(), "TICK_EVERY") {
			t.Errorf("TICK_EVERY=%q: %v, want an error naming it", bad, err)
		}
	}
}
