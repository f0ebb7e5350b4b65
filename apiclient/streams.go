package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// FollowLogs follows project's logs (GET .../logs?follow=true, text/plain): the tail q
// asks for, then new lines as containers write them. Each line goes to fn, without
// its newline, as it arrives: "<container> | <time> <text>" when q names no container,
// "<time> <text>" when it does, and "[scar: ...]" for the server's own notes. It returns
// nil when the server ends the follow or ctx ends (Ctrl-C), and fn's error if it
// returns one.
func (c *Client) FollowLogs(ctx context.Context, project string, q LogsQuery, fn func(line string) error) error {
	v := q.values()
	v.Set("follow", "true")
	req, err := c.request(ctx, http.MethodGet, projectPath(project, "logs"), v, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.send(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if err := fn(strings.TrimSuffix(line, "\n")); err != nil {
				return err
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("%w: the follow was cut: %v", ErrUnreachable, err)
		}
	}
}

// ParseFollowLine reads a line of FollowLogs back into its parts; container is the
// container the follow was asked for ("" for all). A line it cannot read keeps its
// whole text in Text.
func ParseFollowLine(line, container string) dockerops.FollowLine {
	if note, ok := strings.CutPrefix(line, "[scar: "); ok && strings.HasSuffix(note, "]") {
		return dockerops.FollowLine{Container: container, Text: strings.TrimSuffix(note, "]"), Note: true}
	}
	out := dockerops.FollowLine{Container: container, Text: line}
	rest := line
	if container == "" {
		name, after, ok := strings.Cut(line, " | ")
		if !ok {
			return out
		}
		out.Container, rest = name, after
		if note, ok := strings.CutPrefix(rest, "[scar: "); ok && strings.HasSuffix(note, "]") {
			out.Text, out.Note = strings.TrimSuffix(note, "]"), true
			return out
		}
	}
	stamp, text, _ := strings.Cut(rest, " ")
	if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
		out.Time, out.Text = t, text
	} else {
		out.Text = rest
	}
	return out
}

// ErrStreamCut: an event stream ended before its end event. The deployment may still
// be running: Wait finds out.
var ErrStreamCut = errors.New("the event stream ended before the deployment did")

// Events follows a deployment over Server-Sent Events (GET /deployments/{id}/events):
// fn gets each stage event, past ones first, and Events returns the deployment as it
// ended. A stream that ends early returns ErrStreamCut (with the deployment unknown);
// a server without the endpoint answers an *Error of status 404. Either way Wait,
// which polls, can take over.
func (c *Client) Events(ctx context.Context, id string, fn func(dockerops.Event)) (*dockerops.Deployment, error) {
	req, err := c.request(ctx, http.MethodGet, "/deployments/"+url.PathEscape(id)+"/events", nil, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("%w: the answer is %q, not an event stream", ErrStreamCut, ct)
	}
	var end *dockerops.Deployment
	var bad error // an event that is not scar's JSON
	readErr := readSSE(resp.Body, func(event, data string) bool {
		switch event {
		case "stage":
			var ev dockerops.Event
			if bad = json.Unmarshal([]byte(data), &ev); bad != nil {
				return false
			}
			fn(ev)
		case "end":
			var d dockerops.Deployment
			if bad = json.Unmarshal([]byte(data), &d); bad != nil {
				return false
			}
			end = &d
			return false
		}
		return true
	})
	switch {
	case end != nil:
		return end, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case bad != nil:
		return nil, fmt.Errorf("apiclient: deployment %s: an event is not valid JSON: %w", id, bad)
	default:
		return nil, fmt.Errorf("%w (%v)", ErrStreamCut, readErr)
	}
}

// readSSE reads Server-Sent Events from r and hands each (event name, data) to fn
// until fn says no more (nil) or r ends (its error: io.EOF when the server closed it).
// Comments and ids are skipped; the lines of a multi-line data field are joined with
// "\n"; a message without its closing blank line is not handed on.
func readSSE(r io.Reader, fn func(event, data string) (more bool)) error {
	br := bufio.NewReader(r)
	var event string
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(data) > 0 || event != "" {
				name := event
				if name == "" {
					name = "message"
				}
				if !fn(name, strings.Join(data, "\n")) {
					return nil
				}
			}
			event, data = "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data = append(data, value)
		}
	}
}

// Wait polls a deployment every interval until it has finished and returns it;
// onUpdate, when not nil, gets each answer (to show the events that came since).
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration, onUpdate func(*dockerops.Deployment)) (*dockerops.Deployment, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d, err := c.Deployment(ctx, id)
		if err != nil {
			return nil, err
		}
		if onUpdate != nil {
			onUpdate(d)
		}
		if d.Done() {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
