package engineproxy

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/internal/dockertest"
)

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		rule         Rule
		method, path string
		want         bool
	}{
		{Rule{"GET", "/_ping"}, "GET", "/_ping", true},
		{Rule{"GET", "/_ping"}, "HEAD", "/_ping", false},
		{Rule{"GET", "/containers/{id}/json"}, "GET", "/containers/abc/json", true},
		{Rule{"GET", "/containers/{id}/json"}, "GET", "/containers/json", false},
		{Rule{"GET", "/containers/{id}/json"}, "GET", "/containers//json", false},
		{Rule{"GET", "/containers/{id}/json"}, "GET", "/containers/a/b/json", false},
		{Rule{"GET", "/images/{name...}/json"}, "GET", "/images/scar-rollback/p/web:1/json", true},
		{Rule{"GET", "/images/{name...}/json"}, "GET", "/images/sha256:abc/json", true},
		{Rule{"GET", "/images/{name...}/json"}, "GET", "/images/json", false},
		{Rule{"POST", "/containers/{id}/restart"}, "POST", "/containers/abc/restart/extra", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" vs "+tc.rule.Path, func(t *testing.T) {
			if got := tc.rule.Matches(tc.method, tc.path); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUnversioned(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.41/containers/json": "/containers/json",
		"/v1.41":                 "/",
		"/_ping":                 "/_ping",
		"/version":               "/version",
		"/v1/containers":         "/v1/containers",
	} {
		if got := Unversioned(in); got != want {
			t.Errorf("Unversioned(%q) = %q, want %q", in, got, want)
		}
	}
}

func newClient(t *testing.T, p *Proxy) *client.Client {
	t.Helper()
	cli, err := client.New(client.WithHost(p.Host()), client.WithUserAgent("engineproxy-test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestProxyForwardsStopsAndComesBack: requests and a streamed log pass through; a
// stopped proxy refuses connections like a stopped daemon; started again, it serves.
func TestProxyForwardsStopsAndComesBack(t *testing.T) {
	real := dockertest.Client(t)
	p := New(t)
	cli := newClient(t, p)
	ctx := context.Background()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}
	id := dockertest.RunContainer(t, real, dockertest.ContainerSpec{Name: dockertest.UniqueName(t, "ep"), Image: dockertest.BuildAppImage(t)})
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	first := make([]byte, 8)
	if _, err := io.ReadFull(rc, first); err != nil {
		t.Fatalf("reading a followed log through the proxy: %v", err)
	}

	p.Stop()
	if _, err := io.Copy(io.Discard, rc); err == nil {
		// A clean end is fine too; what matters is that the read ended.
		t.Log("the followed log ended cleanly at stop")
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); !client.IsErrConnectionFailed(err) {
		t.Fatalf("ping of a stopped proxy: %v, want a connection failure", err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
		t.Fatalf("inspect after the proxy came back: %v", err)
	}
	if !p.Seen("GET", "/containers/{id}/logs") || !p.Seen("GET", "/containers/{id}/json") {
		t.Errorf("requests not recorded: %v", p.Requests())
	}
}

func TestProxyPolicyRefuses(t *testing.T) {
	dockertest.Client(t)
	allowed := Allowlist{{"GET", "/_ping"}, {"HEAD", "/_ping"}, {"GET", "/version"}}
	p := New(t, WithPolicy(func(r Request) bool { return allowed.Allows(r.Method, r.Path) }))
	cli := newClient(t, p)
	ctx := context.Background()
	if _, err := cli.ServerVersion(ctx, client.ServerVersionOptions{}); err != nil {
		t.Fatalf("an allowed call: %v", err)
	}
	_, err := cli.ContainerList(ctx, client.ContainerListOptions{})
	if !cerrdefs.IsPermissionDenied(err) && (err == nil || !strings.Contains(err.Error(), "allowlist")) {
		t.Fatalf("a call outside the list: %v, want 403", err)
	}
	denied := p.Denied()
	if len(denied) != 1 || denied[0].Method != "GET" || denied[0].Path != "/containers/json" || denied[0].UserAgent != "engineproxy-test" {
		t.Errorf("denied %v, want the container list recorded with its user agent", denied)
	}
	// The client's next call, on a new connection, works.
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		t.Errorf("ping after a refusal: %v", err)
	}
}

// TestProxyHookHoldsARequestUntilStop: a hook blocked on ctx lets a test stop the
// daemon while a call is in flight; the call fails at once instead of hanging.
func TestProxyHookHoldsARequestUntilStop(t *testing.T) {
	dockertest.Client(t)
	held := make(chan struct{}, 1)
	p := New(t, WithHook(func(ctx context.Context, r Request) {
		if r.Path == "/containers/json" {
			held <- struct{}{}
			<-ctx.Done()
		}
	}))
	cli := newClient(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := cli.ContainerList(context.Background(), client.ContainerListOptions{})
		errc <- err
	}()
	<-held
	p.Stop()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a call cut by the stop succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call cut by the stop did not return")
	}
}
