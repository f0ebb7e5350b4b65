package dockerops

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scar-dev/scar/internal/dockertest"
	"github.com/scar-dev/scar/metrics"
)

func TestDockerUnreachableIsTypedAndFast(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "tcp://" + closed.Addr().String()
	closed.Close()
	hosts := map[string]string{
		"no socket":          "unix://" + filepath.Join(t.TempDir(), "docker.sock"),
		"connection refused": refused,
	}
	ps := projectMap{"app": {Name: "app", ComposeProject: "app", Containers: []string{"web"}}}
	ops := map[string]func(*Service) error{
		"ping":   func(s *Service) error { return s.Ping(t.Context()) },
		"status": func(s *Service) error { _, err := s.Status(t.Context(), "app"); return err },
		"logs":   func(s *Service) error { _, err := s.Logs(t.Context(), "app", LogsRequest{}); return err },
		"restart": func(s *Service) error {
			_, err := s.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, nil)
			return err
		},
	}
	for hostName, host := range hosts {
		for opName, op := range ops {
			t.Run(hostName+"/"+opName, func(t *testing.T) {
				t.Parallel()
				cli, err := NewClient(host)
				if err != nil {
					t.Fatal(err)
				}
				defer cli.Close()
				svc := New(cli, ps, nil, nil)
				start := time.Now()
				err = op(svc)
				if !errors.Is(err, ErrDockerUnavailable) {
					t.Fatalf("err = %v, want ErrDockerUnavailable", err)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %s, want an answer within 2s", took)
				}
			})
		}
	}
}

func TestMemoDialerAnswersARecentFailureAtOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	var dials atomic.Int32
	fail := errors.New("dial tcp 10.0.0.1:2375: i/o timeout")
	d := &memoDialer{network: "tcp", addr: "10.0.0.1:2375", now: func() time.Time { return now },
		dial: func(context.Context, string, string) (net.Conn, error) { dials.Add(1); return nil, fail }}

	for range 3 {
		if _, err := d.DialContext(t.Context(), "", ""); !errors.Is(err, fail) {
			t.Fatalf("err = %v, want the dial error", err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("dialled %d times within the memory, want 1", n)
	}
	now = now.Add(dialFailMemory)
	d.DialContext(t.Context(), "", "")
	if n := dials.Load(); n != 2 {
		t.Errorf("dialled %d times after the memory, want 2", n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	now = now.Add(dialFailMemory)
	d.dial = func(ctx context.Context, _, _ string) (net.Conn, error) { return nil, ctx.Err() }
	d.DialContext(ctx, "", "")
	d.dial = func(context.Context, string, string) (net.Conn, error) { dials.Add(1); return nil, fail }
	d.DialContext(t.Context(), "", "")
	if n := dials.Load(); n != 3 {
		t.Errorf("a dial its caller cancelled was remembered as a failure")
	}
}

func TestEveryOperationIsObserved(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "metrics")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	f.run(t, cp, "web", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	ctx := t.Context()

	if _, err := f.svc.Status(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Logs(ctx, "app", LogsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Logs(ctx, "app", LogsRequest{Lines: -3}); !errors.Is(err, ErrBadInput) {
		t.Fatal(err)
	}
	if _, err := f.svc.Restart(ctx, "app", RestartRequest{}, Actor{Name: "api:test"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Status(ctx, "nope"); !errors.Is(err, ErrUnknownProject) {
		t.Fatal(err)
	}

	tests := []struct {
		operation, project, outcome string
		want                        uint64
	}{
		{OpStatus, "app", metrics.OutcomeSuccess, 1},
		{OpLogs, "app", metrics.OutcomeSuccess, 1},
		{OpLogs, "app", metrics.OutcomeError, 1},
		{OpRestart, "app", metrics.OutcomeSuccess, 1},
		{OpRestart, "app", metrics.OutcomeError, 0},
		{OpStatus, "", OutcomeUnknownProject, 1},
		{OpStatus, "", metrics.OutcomeError, 0},
	}
	for _, tc := range tests {
		t.Run(tc.operation+"/"+tc.project+"/"+tc.outcome, func(t *testing.T) {
			if got := histogramCount(t, f.reg, tc.operation, tc.project, tc.outcome); got != tc.want {
				t.Errorf("observations = %d, want %d", got, tc.want)
			}
		})
	}
	for _, op := range []string{OpStatus, OpLogs, OpRestart} {
		if v := gaugeValue(t, f.reg, "scar_operations_in_flight", op); v != 0 {
			t.Errorf("%s in flight = %v after it ended, want 0", op, v)
		}
	}
}

func TestOperationsInFlightWhileRunning(t *testing.T) {
	t.Parallel()
	cp := dockertest.UniqueName(t, "inflight")
	ps := projectMap{"app": {Name: "app", ComposeProject: cp, HealthTimeout: 30 * time.Second}}
	f := newFixture(t, ps)
	f.run(t, cp, "web", dockertest.ContainerSpec{Healthcheck: noHealthcheck})
	var during float64
	progress := func(e Event) {
		if e.Result == nil {
			during = gaugeValue(t, f.reg, "scar_operations_in_flight", OpRestart)
		}
	}
	if _, err := f.svc.Restart(t.Context(), "app", RestartRequest{}, Actor{Name: "api:test"}, progress); err != nil {
		t.Fatal(err)
	}
	if during != 1 {
		t.Errorf("restarts in flight during a restart = %v, want 1", during)
	}
}

func TestNewWithoutMetricsOrLogger(t *testing.T) {
	svc := New(nil, projectMap{}, nil, nil)
	if svc.metrics == nil || svc.logger == nil || svc.locks == nil {
		t.Fatal("New left a dependency nil")
	}
}

func TestProjectOfAnotherDockerHostIsRefused(t *testing.T) {
	ps := projectMap{
		"here":  {Name: "here", ComposeProject: "here", DockerHost: "unix:///var/run/docker.sock"},
		"there": {Name: "there", ComposeProject: "there", DockerHost: "tcp://10.0.0.2:2375"},
	}
	svc := New(nil, ps, nil, nil, WithDockerHost("unix:///var/run/docker.sock"))
	if _, err := svc.projects.Resolve("here"); err != nil {
		t.Errorf("a project of this host: %v", err)
	}
	_, err := svc.Status(context.Background(), "there")
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "tcp://10.0.0.2:2375") {
		t.Errorf("status of another host's project: %v, want a bad-input error naming its host", err)
	}
}
