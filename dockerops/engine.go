package dockerops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Engine is the part of the Docker Engine API that status, logs and restart use.
// *client.Client satisfies it.
type Engine interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerRestart(ctx context.Context, id string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
}

var _ Engine = (*client.Client)(nil)

// dialTimeout bounds connecting to the engine, so that an engine that is down or
// unreachable is reported within seconds instead of the client's default 10s per
// attempt (and it makes up to three attempts per call while negotiating the version).
const dialTimeout = 2 * time.Second

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
	opts := []client.Opt{client.FromEnv, client.WithHost(host)}
	if u.Scheme == "unix" || u.Scheme == "tcp" {
		opts = append(opts, client.WithDialContext(dialer(u.Scheme, u.Host)))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return cli, nil
}

func dialer(network, addr string) func(ctx context.Context, _, _ string) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
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
