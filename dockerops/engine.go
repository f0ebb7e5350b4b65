package dockerops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Engine is the part of the Docker Engine API that status, logs, restart and stats use.
// *client.Client satisfies it.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerRestart(ctx context.Context, id string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerStats(ctx context.Context, id string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
}

var _ Engine = (*client.Client)(nil)

// dialTimeout bounds connecting to the engine, so that an unreachable engine is
// reported within seconds rather than after the client's default 10s.
const dialTimeout = 2 * time.Second

// dialFailMemory is how long a failed dial is remembered: the client makes up to
// three connections per call while it negotiates the API version (HEAD and GET
// /_ping, then the call), and each would wait the full timeout again.
const dialFailMemory = time.Second

// UserAgent is the User-Agent of scar's own Engine API calls, so that the daemon's
// logs and a socket proxy tell them from those of the Compose tool that deploys run.
const UserAgent = "scar"

// NewClient returns a Docker Engine client for host ("unix:///var/run/docker.sock",
// "tcp://10.0.0.2:2375"); an empty host means DOCKER_HOST, else the default socket.
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and DOCKER_API_VERSION work as with the docker
// CLI. The API version is negotiated on first use, so it talks to old and new engines.
func NewClient(host string) (*client.Client, error) {
	if host == "" {
		host = os.Getenv(client.EnvOverrideHost)
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	u, err := client.ParseHostURL(host)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", host, err)
	}
	// Status inspects a project's containers concurrently; keeping that many idle
	// connections (net/http keeps 2 per host by default) saves a dial per inspect.
	// HTTP/1 only, as the engine speaks: an HTTP/2-ready transport carries a TLS
	// config, which would make the client talk HTTPS to a plain socket.
	var http1 http.Protocols
	http1.SetHTTP1(true)
	hc := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns: 32, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second,
			Protocols: &http1,
		},
		CheckRedirect: client.CheckRedirect,
	}
	opts := []client.Opt{client.WithHTTPClient(hc), client.FromEnv, client.WithHost(host), client.WithUserAgent(UserAgent)}
	if u.Scheme == "unix" || u.Scheme == "tcp" {
		d := &memoDialer{network: u.Scheme, addr: u.Host, dial: (&net.Dialer{Timeout: dialTimeout}).DialContext, now: time.Now}
		opts = append(opts, client.WithDialContext(d.DialContext))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return cli, nil
}

// memoDialer dials the engine's address, answering at once with the last error for
// dialFailMemory after a dial failed on its own (not because its caller gave up).
type memoDialer struct {
	network, addr string
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	now           func() time.Time

	mu       sync.Mutex
	failedAt time.Time
	err      error
}

func (d *memoDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	d.mu.Lock()
	if d.err != nil && d.now().Sub(d.failedAt) < dialFailMemory {
		err := d.err
		d.mu.Unlock()
		return nil, err
	}
	d.mu.Unlock()
	conn, err := d.dial(ctx, d.network, d.addr)
	if err != nil && ctx.Err() == nil {
		d.mu.Lock()
		d.failedAt, d.err = d.now(), err
		d.mu.Unlock()
	}
	return conn, err
}

// engineError marks an error of an Engine call that means the engine cannot be
// reached, so that it matches ErrDockerUnavailable; other errors pass unchanged.
func engineError(err error) error {
	if err == nil || !unreachable(err) {
		return err
	}
	return &unavailableError{err: err}
}

func unreachable(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNRESET)
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return "docker unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrDockerUnavailable }

// isNotFound reports whether the engine answered that the object does not exist.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
