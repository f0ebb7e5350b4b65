package dockerops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/scar-dev/scar/projects"
)

// gate waits until every container of the deploy's targets runs — and stays running,
// not restarting in a loop — and, with a health check, is healthy; then, with a
// health_url, until that URL answers 2xx. It returns the containers it checked and, on
// failure, the one that failed.
func (s *Service) gate(ctx context.Context, p *projects.Project, dp *dockerPlan, progress Progress) (failed *member, err error) {
	timeout := p.HealthTimeout
	if timeout <= 0 {
		timeout = projects.DefaultHealthTimeout
	}
	ms, err := s.members(ctx, p)
	if err != nil {
		return nil, err
	}
	var checks []*member
	for _, m := range ms {
		if dp.affects(m) {
			checks = append(checks, m)
		}
	}
	deadline := time.Now().Add(timeout)
	type outcome struct {
		m   *member
		err error
	}
	results := make(chan outcome, len(checks))
	for _, m := range checks {
		go func() {
			if !m.found() {
				results <- outcome{m, errors.New("container is gone")}
				return
			}
			var r ContainerResult
			err := s.waitReady(ctx, m.summary.ID, time.Until(deadline), true, &r)
			if err == nil {
				err = s.settle(ctx, m.summary.ID, timeout)
			}
			if err == nil {
				progress(Event{Time: s.now(), Stage: StageHealth, Container: m.name, Message: "running" + healthNote(r.Health)})
			}
			results <- outcome{m, err}
		}()
	}
	for range checks {
		o := <-results
		if o.err != nil && failed == nil {
			failed, err = o.m, fmt.Errorf("%s: %w", o.m.name, o.err)
		}
	}
	if failed != nil {
		return failed, err
	}
	if p.HealthURL != "" {
		if err := waitURL(ctx, p.HealthURL, time.Until(deadline)); err != nil {
			return nil, err
		}
		progress(Event{Time: s.now(), Stage: StageHealth, Message: p.HealthURL + " answers 2xx"})
	}
	return nil, nil
}

func healthNote(h string) string {
	if h == HealthHealthy {
		return ", healthy"
	}
	return ""
}

// settle watches a running container without a health check for a moment: one that
// exits right after starting, or that its restart policy restarts in a loop, must not
// pass the gate because it was caught running once.
func (s *Service) settle(ctx context.Context, id string, timeout time.Duration) error {
	first, err := s.inspect(ctx, id)
	if err != nil {
		return err
	}
	if first.State == nil || first.State.Health != nil {
		return nil // a passing health check has watched it already
	}
	window := min(2*time.Second, timeout/4)
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return ctx.Err()
	}
	now, err := s.inspect(ctx, id)
	if err != nil {
		return err
	}
	if !now.State.Running || now.State.Restarting || now.RestartCount != first.RestartCount || now.State.StartedAt != first.State.StartedAt {
		return fmt.Errorf("did not stay running (state %s, exit code %d, restarts %d)", now.State.Status, now.State.ExitCode, now.RestartCount)
	}
	return nil
}

// waitURL polls url until it answers 2xx or timeout passes.
func waitURL(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("health_url %s: %w", url, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("health_url %s did not answer 2xx within %s (last: %s)", url, timeout.Round(time.Second), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
