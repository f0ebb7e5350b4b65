package dockerops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/scar-dev/scar/projects"
)

// gate waits until every container of the deploy's targets is ready, for at most the
// project's health_timeout, then, with a health_url, until that URL answers 2xx. A
// service must run, stay running (not exit, not restart in a loop) and, with a health
// check, be healthy; a job — a container that had completed as one before the deploy
// (see readiness.go) — must exit 0, as with Compose's service_completed_successfully.
// A failure names its true cause. It returns, on failure, the container that failed.
func (s *Service) gate(ctx context.Context, p *projects.Project, dp *dockerPlan, progress Progress) (failed *member, err error) {
	timeout := p.HealthTimeout
	if timeout <= 0 {
		timeout = projects.DefaultHealthTimeout
	}
	ms, err := s.deployMembers(ctx, p)
	if err != nil {
		return nil, err
	}
	before, failedBefore := dp.completedBefore()
	var checks []*member
	for _, m := range ms {
		// An undo that runs a job which had failed before the deploy puts back its
		// failure too: the old version is back as it was.
		if dp.affects(m) && !(dp.undone && failedBefore[dp.key(m)]) {
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
			want := runOrComplete
			switch job, known := before[dp.key(m)]; {
			case failedBefore[dp.key(m)]:
				// As a restart has it: a failed job, or a crashed service.
			case known && job:
				want = mustComplete
			case known:
				want = mustRun
			}
			var r ContainerResult
			err := s.await(ctx, m.summary.ID, want, time.Until(deadline), &r)
			if err == nil {
				progress(Event{Time: s.now(), Stage: StageHealth, Container: m.name, Message: r.Condition})
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

// key is what the plan names a container by: its Compose service, or its name.
func (d *dockerPlan) key(m *member) string {
	if d.compose {
		return m.service
	}
	return m.name
}

// completedBefore tells, for each service (or plain container) the deploy recreates
// or restarts, whether it was a completed job when the plan was made: every one of
// its containers had exited 0. What the gate does not find here is new to it. failed
// names those with a container that had exited with another code (a failed job, or a
// crashed service): nothing is known of them, as for a restart, so a deploy that
// fixes a failed migration passes when it exits 0.
func (d *dockerPlan) completedBefore() (completed, failed map[string]bool) {
	completed, failed = make(map[string]bool), make(map[string]bool)
	for _, m := range append(slices.Clone(d.recreate), d.restart...) {
		if !m.found() {
			continue
		}
		code, exited := exitCodeOf(m.summary)
		k := d.key(m)
		job, seen := completed[k]
		completed[k] = (job || !seen) && exited && code == 0
		if exited && code != 0 {
			failed[k] = true
		}
	}
	return completed, failed
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
