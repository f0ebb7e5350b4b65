package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// rawEngine makes Engine API calls with nothing but net/http on the socket: the
// physical floor of each operation, with no client library in the way.
type rawEngine struct {
	http *http.Client
}

func newRawEngine() (*rawEngine, error) {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			return nil, fmt.Errorf("DOCKER_HOST=%s: the raw peer speaks to a unix socket only", h)
		}
		sock = strings.TrimPrefix(h, "unix://")
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:        32,
		MaxIdleConnsPerHost: 32,
	}
	return &rawEngine{http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

// call sends one request to the engine and returns the body; a status over 299 fails.
func (e *rawEngine) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// list returns the ids of a Compose project's containers.
func (e *rawEngine) list(ctx context.Context, project string) ([]string, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {"com.docker.compose.project=" + project}})
	body, err := e.call(ctx, http.MethodGet, "/containers/json?all=1&filters="+url.QueryEscape(string(filters)))
	if err != nil {
		return nil, err
	}
	var cs []struct{ ID string }
	if err := json.Unmarshal(body, &cs); err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids, nil
}

// status is what a status needs from the engine at least: the list, then every
// container inspected, concurrently, each answer decoded.
func (e *rawEngine) status(ctx context.Context, project string, want int) error {
	ids, err := e.list(ctx, project)
	if err != nil {
		return err
	}
	if len(ids) != want {
		return fmt.Errorf("raw status: %d containers, want %d", len(ids), want)
	}
	return e.each(ids, func(id string) error {
		body, err := e.call(ctx, http.MethodGet, "/containers/"+id+"/json")
		if err != nil {
			return err
		}
		var c map[string]any
		return json.Unmarshal(body, &c)
	})
}

// logs reads a container's last n lines, both streams, with timestamps, and checks
// that it got n lines: it splits the engine's multiplexed answer into its frames (an
// 8-byte header: the stream, 1 or 2, and the frame's size) and counts the lines in
// them, the least a client does to know what it got, as scar's side of the row counts
// the lines of its answer.
func (e *rawEngine) logs(ctx context.Context, container string, n int) error {
	body, err := e.call(ctx, http.MethodGet, fmt.Sprintf("/containers/%s/logs?stdout=1&stderr=1&timestamps=1&tail=%d", container, n))
	if err != nil {
		return err
	}
	lines := 0
	for len(body) > 0 {
		if len(body) < 8 || (body[0] != 1 && body[0] != 2) {
			return fmt.Errorf("raw logs: a frame header %q is not one of stdout or stderr", body[:min(len(body), 8)])
		}
		size := int(binary.BigEndian.Uint32(body[4:8]))
		if len(body) < 8+size {
			return fmt.Errorf("raw logs: a frame of %d bytes has %d", size, len(body)-8)
		}
		lines += bytes.Count(body[8:8+size], []byte{'\n'})
		body = body[8+size:]
	}
	if lines != n {
		return fmt.Errorf("raw logs: %d lines, want %d", lines, n)
	}
	return nil
}

// restart restarts the containers concurrently, as the engine's API allows, and
// returns when the engine has answered for each (running again; no health wait).
func (e *rawEngine) restart(ctx context.Context, containers []string) error {
	return e.each(containers, func(c string) error {
		_, err := e.call(ctx, http.MethodPost, "/containers/"+c+"/restart")
		return err
	})
}

// health returns a container's health status ("healthy", "starting", ...).
func (e *rawEngine) health(ctx context.Context, container string) (string, error) {
	body, err := e.call(ctx, http.MethodGet, "/containers/"+container+"/json")
	if err != nil {
		return "", err
	}
	var c struct {
		State struct {
			Health *struct{ Status string }
		}
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", err
	}
	if c.State.Health == nil {
		return "none", nil
	}
	return c.State.Health.Status, nil
}

// each runs fn for every item concurrently and returns the first error.
func (e *rawEngine) each(items []string, fn func(string) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { errs[i] = fn(it) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
