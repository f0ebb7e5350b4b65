package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The Engine calls of the alerts rows, with nothing but net/http on the socket, like
// the raw peer's: containers are created here rather than by Compose, with the labels
// Compose gives a service container, because the rows need hundreds of them quickly.

// send makes one request with a JSON body (nil: none) and returns the answer.
func (e *rawEngine) send(ctx context.Context, method, path string, body any) ([]byte, error) {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

// createService creates (does not start) the container of service in Compose project p
// as Compose would name and label it, from image, with env, no health check and no
// network (nothing here is reached over one; a bridge would only slow the starts).
func (e *rawEngine) createService(ctx context.Context, p *composeProject, service, image, runID string, env []string) (string, error) {
	body := map[string]any{
		"Image": image,
		"Env":   env,
		"Labels": map[string]string{
			"com.docker.compose.project":             p.name,
			"com.docker.compose.service":             service,
			"com.docker.compose.container-number":    "1",
			"com.docker.compose.oneoff":              "False",
			"com.docker.compose.project.working_dir": p.production,
			benchLabel:                               runID,
		},
		"Healthcheck": map[string]any{"Test": []string{"NONE"}},
		"HostConfig":  map[string]any{"NetworkMode": "none"},
	}
	data, err := e.send(ctx, http.MethodPost, "/containers/create?name="+url.QueryEscape(p.container(service)), body)
	if err != nil {
		return "", err
	}
	var c struct{ ID string }
	if err := json.Unmarshal(data, &c); err != nil {
		return "", err
	}
	return c.ID, nil
}

func (e *rawEngine) start(ctx context.Context, id string) error {
	_, err := e.send(ctx, http.MethodPost, "/containers/"+id+"/start", nil)
	return err
}

// remove removes a container, running or not, with its anonymous volumes.
func (e *rawEngine) remove(ctx context.Context, id string) error {
	_, err := e.send(ctx, http.MethodDelete, "/containers/"+id+"?force=1&v=1", nil)
	return err
}

// state is what the alerts rows read of a container's state.
type containerState struct {
	Running bool
	Pid     int
}

func (e *rawEngine) state(ctx context.Context, id string) (containerState, error) {
	data, err := e.send(ctx, http.MethodGet, "/containers/"+id+"/json", nil)
	if err != nil {
		return containerState{}, err
	}
	var c struct{ State containerState }
	err = json.Unmarshal(data, &c)
	return c.State, err
}

// inParallel runs fn for every item, at most n at a time, and returns the first error.
func inParallel[T any](n int, items []T, fn func(T) error) error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(it)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// engineEvent is an event of the Engine's /events stream.
type engineEvent struct {
	Type, Action string
	Actor        struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

// followDies is the floor of an alert: a bare Go client on the Engine's event stream,
// decoding each `die` of the run's containers. It returns once the Engine has answered
// (so no death after that is missed) and calls seen for every die, with the time it
// was decoded; stop ends the stream and waits for its reader.
func (e *rawEngine) followDies(ctx context.Context, runID string, seen func(ev engineEvent, at time.Time)) (stop func(), err error) {
	return e.followEvents(ctx, map[string][]string{"type": {"container"}, "event": {"die"}, "label": {benchLabel + "=" + runID}}, seen)
}

// watcherFilters select the events scar's watcher asks the Engine for
// (dockerops/watch_stream.go).
var watcherFilters = map[string][]string{"type": {"container"},
	"event": {"start", "restart", "die", "oom", "kill", "stop", "destroy", "health_status"}}

// followEvents follows the Engine's event stream with filters; see followDies.
func (e *rawEngine) followEvents(ctx context.Context, f map[string][]string, seen func(ev engineEvent, at time.Time)) (stop func(), err error) {
	filters, _ := json.Marshal(f)
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?filters="+url.QueryEscape(string(filters)), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	// No client timeout: the stream lasts as long as the row.
	resp, err := (&http.Client{Transport: e.http.Transport}).Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("events: %s", resp.Status)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var ev engineEvent
			if err := dec.Decode(&ev); err != nil {
				return // cancelled, or the stream ended: the row reports what is missing
			}
			seen(ev, time.Now())
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}
