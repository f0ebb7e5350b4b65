// Command app is the example service of scar's demo project and the container that
// scar's Docker tests run. It is built static (CGO_ENABLED=0) so that it runs in a
// FROM scratch image, which has no shell and no curl: the image's HEALTHCHECK runs
// this same binary with -healthcheck.
//
// Environment:
//
//	PORT            listen port (8000)
//	VERSION         served on / when there is no content file
//	CONTENT_FILE    file whose text / serves (/srv/index.txt)
//	UNHEALTHY       "1": /health answers 500
//	UNHEALTHY_FILE  while this file exists, /health answers 500
//	LOG_LINES       numbered lines written at start to stdout and to stderr (5)
//	LOG_RAW_HEX     bytes, in hex, written at start to stdout as one more line, as
//	                they are: for tests of output that is not valid UTF-8
//	EXIT_AT_START   "1": exit at once with code 3
//	EXIT_CODE       run as a one-shot job: write the start lines, wait RUN_FOR, then
//	                exit with this code instead of serving
//	EXIT_CODE_FILE  as EXIT_CODE, the code read from this file (a job's bind-mounted
//	                input); it wins over EXIT_CODE when both are set
//	RUN_FOR         how long a job runs before it exits (0s), e.g. "2s"
//	ALLOCATE_MIB    MiB of memory allocated and touched at start and held while
//	                serving: under a lower memory limit the kernel kills the app
//	CRASH_AFTER     serve (healthy), then exit with code 1 after this long, e.g.
//	                "5s": a new version that passes a deploy's gate and fails later
//	EXIT_FILE       while serving, once this file exists the app exits with code 3
//	                by itself (a crash on demand, after restarts and deploys)
//	BURN_CPU        while serving, this many goroutines spin, each keeping a core
//	                busy: a container whose CPU % tests can compare with docker stats
//	TICK_EVERY      while serving, write "tick N <time written, RFC 3339 with
//	                nanoseconds>" to stdout at this interval, e.g. "100ms": lines
//	                that a log follow can wait for and time
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// exitError asks main to exit with a code and print nothing more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	healthcheck := fs.Bool("healthcheck", false, "GET /health on the local server and exit 0 when it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	port := getenv("PORT")
	if port == "" {
		port = "8000"
	}
	if *healthcheck {
		return probe(port)
	}

	if getenv("EXIT_AT_START") == "1" {
		fmt.Fprintln(stderr, "exiting at start as EXIT_AT_START=1 asks")
		return exitError{code: 3}
	}
	if err := writeStartLines(getenv, stdout, stderr); err != nil {
		return err
	}
	if code, isJob, err := jobExitCode(getenv); err != nil {
		return err
	} else if isJob {
		return runJob(getenv, code, stdout)
	}
	held, err := allocate(getenv)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(held)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	crash, err := crashAfter(getenv)
	if err != nil {
		return err
	}
	exitFile := exitWhenFileAppears(ctx, getenv("EXIT_FILE"))
	if err := burnCPU(ctx, getenv("BURN_CPU")); err != nil {
		return err
	}
	if err := tick(ctx, getenv("TICK_EVERY"), stdout); err != nil {
		return err
	}
	stopServing := make(chan struct{})
	var why exitError
	go func() {
		select {
		case <-crash:
			why = exitError{code: 1}
			fmt.Fprintln(stderr, "crashing as CRASH_AFTER asks")
		case <-exitFile:
			why = exitError{code: 3}
			fmt.Fprintln(stderr, "exiting with code 3: EXIT_FILE appeared")
		case <-ctx.Done():
			return
		}
		close(stopServing)
	}()
	if err := serve(ctx, net.JoinHostPort("", port), newHandler(getenv), stopServing); err != nil {
		return err
	}
	select {
	case <-stopServing:
		return why
	default:
		return nil
	}
}

// exitWhenFileAppears returns a channel closed once path exists (looked at every
// 100ms until ctx ends); with no path it is never closed.
func exitWhenFileAppears(ctx context.Context, path string) <-chan struct{} {
	appeared := make(chan struct{})
	if path == "" {
		return appeared
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := os.Stat(path); err == nil {
				close(appeared)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return appeared
}

// burnCPU starts n (from BURN_CPU) goroutines that spin until ctx ends.
func burnCPU(ctx context.Context, v string) error {
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("BURN_CPU=%q: want a count of goroutines", v)
	}
	for range n {
		go func() {
			for ctx.Err() == nil {
			}
		}()
	}
	return nil
}

// tick writes a numbered line with the time it was written every interval (a
// duration such as "100ms") until ctx ends; with no interval it does nothing.
func tick(ctx context.Context, every string, stdout io.Writer) error {
	if every == "" {
		return nil
	}
	d, err := time.ParseDuration(every)
	if err != nil || d <= 0 {
		return fmt.Errorf("TICK_EVERY=%q: want a positive duration", every)
	}
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fmt.Fprintf(stdout, "tick %d %s\n", n, time.Now().UTC().Format(time.RFC3339Nano))
			}
		}
	}()
	return nil
}

// jobExitCode is the code a one-shot job exits with, from EXIT_CODE_FILE or
// EXIT_CODE; isJob is false when neither is set.
func jobExitCode(getenv func(string) string) (code int, isJob bool, err error) {
	v, from := getenv("EXIT_CODE"), "EXIT_CODE"
	if f := getenv("EXIT_CODE_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, false, fmt.Errorf("EXIT_CODE_FILE: %w", err)
		}
		v, from = strings.TrimSpace(string(b)), "EXIT_CODE_FILE "+f
	}
	if v == "" {
		return 0, false, nil
	}
	code, err = strconv.Atoi(v)
	if err != nil || code < 0 || code > 255 {
		return 0, false, fmt.Errorf("%s=%q: want a code from 0 to 255", from, v)
	}
	return code, true, nil
}

// runJob waits RUN_FOR, says so, and exits with code.
func runJob(getenv func(string) string, code int, stdout io.Writer) error {
	if v := getenv("RUN_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("RUN_FOR=%q: want a duration", v)
		}
		time.Sleep(d)
	}
	fmt.Fprintf(stdout, "job done, exit code %d\n", code)
	if code == 0 {
		return nil
	}
	return exitError{code: code}
}

// allocate allocates ALLOCATE_MIB MiB and writes to every page, so that the memory
// is really used rather than only reserved.
func allocate(getenv func(string) string) ([]byte, error) {
	v := getenv("ALLOCATE_MIB")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("ALLOCATE_MIB=%q: want a count of MiB", v)
	}
	b := make([]byte, n<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b, nil
}

// writeStartLines writes the lines LOG_LINES and LOG_RAW_HEX ask for.
func writeStartLines(getenv func(string) string, stdout, stderr io.Writer) error {
	lines := 5
	if v := getenv("LOG_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("LOG_LINES=%q: want a count", v)
		}
		lines = n
	}
	var raw []byte
	if v := getenv("LOG_RAW_HEX"); v != "" {
		b, err := hex.DecodeString(v)
		if err != nil {
			return fmt.Errorf("LOG_RAW_HEX=%q: want hex digits", v)
		}
		raw = append(b, '\n')
	}
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(stdout, "stdout line %d\n", i)
		fmt.Fprintf(stderr, "stderr line %d\n", i)
	}
	if raw != nil {
		if _, err := stdout.Write(raw); err != nil {
			return err
		}
	}
	return nil
}

func newHandler(getenv func(string) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if unhealthy(getenv) {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		path := getenv("CONTENT_FILE")
		if path == "" {
			path = "/srv/index.txt"
		}
		if b, err := os.ReadFile(path); err == nil {
			w.Write(b)
			return
		}
		io.WriteString(w, getenv("VERSION"))
	})
	return mux
}

func unhealthy(getenv func(string) string) bool {
	if getenv("UNHEALTHY") == "1" {
		return true
	}
	if f := getenv("UNHEALTHY_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

// crashAfter is a timer of CRASH_AFTER, nil (never firing) when it is not set.
func crashAfter(getenv func(string) string) (<-chan time.Time, error) {
	v := getenv("CRASH_AFTER")
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("CRASH_AFTER=%q: want a duration", v)
	}
	return time.After(d), nil
}

// serve runs until ctx ends or stop is closed, then shuts down within a second so
// that a restart of the container does not wait for Docker's stop timeout.
func serve(ctx context.Context, addr string, h http.Handler, stop <-chan struct{}) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-stop:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 900*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return srv.Close()
	}
	return nil
}

func probe(port string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}
