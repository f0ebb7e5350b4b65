package dockerops

import (
	"context"
	"sync"
	"time"

	"github.com/scar-dev/scar/projects"
)

// inOrder does one container operation (a restart, stop or start) to every target,
// each once the targets in deps[i] have finished (all at once when there are none),
// reports its beginning and its result to progress as events of stage op, and returns
// the results, OK when every one is. one calls begin("restarting") when it begins its
// work; message says how a result ended. start is when the operation began.
func (s *Service) inOrder(ctx context.Context, op string, p *projects.Project, targets []*member, deps [][]int, start time.Time,
	progress Progress, one func(m *member, begin func(what string)) ContainerResult, message func(ContainerResult) string) *RestartResult {
	report := serialize(progress)
	finished := make([]chan struct{}, len(targets))
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	results := make([]ContainerResult, len(targets))
	var wg sync.WaitGroup
	for i, m := range targets {
		wg.Go(func() {
			defer close(finished[i])
			for _, d := range deps[i] {
				select {
				case <-finished[d]:
				case <-ctx.Done():
				}
			}
			r := one(m, func(what string) {
				report(Event{Time: s.now(), Stage: op, Container: m.name, Message: what})
			})
			results[i] = r
			report(Event{Time: s.now(), Stage: op, Container: m.name, Message: message(r), Result: &r})
		})
	}
	wg.Wait()

	res := &RestartResult{Project: p.Name, OK: true, Containers: results, DurationMS: millis(time.Since(start))}
	for _, r := range results {
		res.OK = res.OK && r.OK
	}
	return res
}
