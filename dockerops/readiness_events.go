package dockerops

import (
	"context"

	"github.com/moby/moby/client"
)

// eventSource is the Engine's event stream; *client.Client has it.
type eventSource interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

// changeEvents are the events that can change what judge says of a container.
var changeEvents = []string{"start", "restart", "die", "oom", "kill", "stop", "destroy", "pause", "unpause", "health_status"}

// containerChanges wakes a wait for container id as soon as the engine reports a
// change of its state or health, so that it is looked at then rather than at its next
// poll: a restart or deploy learns "healthy" when the engine does. The channel holds
// at most one wake-up (several events make one look). It is nil — the wait polls
// alone — when the client has no event stream; when the stream breaks, the wait goes
// on polling. stop ends the subscription and waits for its goroutine.
func (s *Service) containerChanges(ctx context.Context, id string) (wake <-chan struct{}, stop func()) {
	src, ok := s.docker.(eventSource)
	if !ok {
		return nil, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	res := src.Events(ctx, client.EventsListOptions{
		Filters: client.Filters{}.Add("type", "container").Add("container", id).Add("event", changeEvents...),
	})
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-res.Messages:
				select {
				case ch <- struct{}{}:
				default:
				}
			case <-res.Err: // the stream ended (stop, or a broken connection)
				return
			}
		}
	}()
	return ch, func() { cancel(); <-done }
}
