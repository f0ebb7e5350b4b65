// Package dockertest holds the fixtures of scar's tests that run against the real
// Docker Engine: a client that skips (or, with SCAR_TEST_DOCKER=required, fails) when
// no engine answers, the demo app image built offline from source, Compose projects
// and plain containers with Compose labels, each with a unique name and removed when
// the test ends.
package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// RequiredEnv names the variable that turns "Docker unreachable" from a skip into a failure.
const RequiredEnv = "SCAR_TEST_DOCKER"

// cleanupTimeout bounds each teardown call; t.Context is already cancelled when
// cleanups run, so they use their own.
const cleanupTimeout = 30 * time.Second

// Client returns a client of the engine named by DOCKER_HOST (or the default socket).
// It skips the test when the engine does not answer, unless SCAR_TEST_DOCKER=required.
func Client(tb testing.TB) *client.Client {
	tb.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		unavailable(tb, "docker client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		unavailable(tb, "docker engine at %s does not answer: %v", cli.DaemonHost(), err)
	}
	return cli
}

// unavailable skips, or fails when the run requires Docker.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(RequiredEnv) == "required" {
		tb.Fatalf(format+" (%s=required)", append(args, RequiredEnv)...)
	}
	tb.Skipf(format+" (skipping; set %s=required to fail instead)", append(args, RequiredEnv)...)
}

// UniqueName returns a short lowercase name, valid as a Compose project or container
// name, that no other test run uses: prefix, the Compose flavour (v1, v2, or nc when
// there is no Compose tool) so that runs under v1 and v2 never collide, and random hex.
func UniqueName(tb testing.TB, prefix string) string {
	tb.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("unique name: %v", err)
	}
	prefix = strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(prefix))
	return prefix + ComposeFlavour() + hex.EncodeToString(b)
}

// WaitFor polls cond every 50ms until it is true, failing the test after timeout.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RepoRoot is the directory of scar's go.mod, found from this source file.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("repo root: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Body polls url until it answers 200 and returns what it served, failing the test
// after timeout: a container's port can refuse connections for a moment after the
// engine reports it running.
func Body(tb testing.TB, url string, timeout time.Duration) string {
	tb.Helper()
	var body string
	WaitFor(tb, timeout, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	return body
}
