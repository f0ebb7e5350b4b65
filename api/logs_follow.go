package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
)

// LogFollower starts log follows; *dockerops.Service is one.
type LogFollower interface {
	FollowLogs(ctx context.Context, project string, req dockerops.FollowRequest) (*dockerops.Follow, error)
}

var _ LogFollower = (*dockerops.Service)(nil)

// followWriteTimeout bounds the write of one piece of a follow: a client that stops
// reading (a stuck TCP peer) ends its follow after it, rather than holding the
// handler and the follow's goroutines for the whole SCAR_FOLLOW_MAX.
const followWriteTimeout = 30 * time.Second

// followStopping is the reason a follow gives when scar shuts down under it.
const followStopping = "scar is stopping"

// followLogs answers GET /projects/{project}/logs?follow=true: the tail, then the
// lines as they are written, as text/plain (one line each, flushed each) or, with
// Accept: text/event-stream, as Server-Sent Events. Bad input is answered as a logs
// request's is, before the stream starts. The stream ends when the client goes away,
// when the follow ends (its time limit, a reader too slow, the engine gone: the last
// line says which), or when scar stops; an idle event stream sends a comment every
// keepAlive; the follow's goroutines have ended by the
// time the handler returns.
func followLogs(w http.ResponseWriter, r *http.Request, follows LogFollower, req dockerops.FollowRequest, keepAlive time.Duration, stop <-chan struct{}, audit *auditLog) {
	project := chi.URLParam(r, "project")
	if follows == nil {
		writeProblem(w, http.StatusServiceUnavailable, "not_available", "this scar cannot follow logs")
		return
	}
	f, err := follows.FollowLogs(r.Context(), project, req)
	audit.record(r, "logs_follow", project, err, req.Container)
	if err != nil {
		writeError(w, err)
		return
	}
	defer func() {
		f.Stop()
		for range f.Lines { // until the follow's goroutines have ended
		}
	}()
	var format followFormat = textFollow{prefix: req.Container == ""}
	contentType := "text/plain; charset=utf-8"
	if wantsEvents(r) {
		format, contentType = sseFollow{}, "text/event-stream"
	}
	send := startStream(w, contentType, followWriteTimeout)
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if b := format.keepAlive(); b != nil && !send(b) {
				return
			}
		case <-stop:
			send(format.end(followStopping, true))
			return
		case l, ok := <-f.Lines:
			if !ok {
				send(format.end(f.Reason(), false))
				return
			}
			if !send(format.line(l)) {
				return
			}
		}
	}
}

// wantsEvents reports whether the client asked for Server-Sent Events.
func wantsEvents(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// followFormat writes a follow's lines and its end.
type followFormat interface {
	line(l dockerops.FollowLine) []byte
	// end is what the stream ends with; unsaid is true when no line of the follow
	// has said why (scar is stopping), false after the follow's own last note.
	end(reason string, unsaid bool) []byte
	// keepAlive is what an idle stream sends to stay open; nil when the format has
	// nothing that a reader would not take for a line.
	keepAlive() []byte
}

// textFollow writes one line per line: "<time> <text>", after "<container> | " when
// the follow is of every container; notes as "[scar: <text>]".
type textFollow struct{ prefix bool }

func (t textFollow) line(l dockerops.FollowLine) []byte {
	var b bytes.Buffer
	if t.prefix && l.Container != "" {
		b.WriteString(l.Container + " | ")
	}
	switch {
	case l.Note:
		b.WriteString("[scar: " + l.Text + "]")
	case l.Time.IsZero():
		b.WriteString(l.Text)
	default:
		b.WriteString(l.Time.UTC().Format(time.RFC3339Nano) + " " + l.Text)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func (textFollow) keepAlive() []byte { return nil }

func (textFollow) end(reason string, unsaid bool) []byte {
	if !unsaid {
		return nil // the follow's own last note said it, or the client stopped it
	}
	return []byte("[scar: follow ended: " + reason + "]\n")
}

// sseFollow writes "event: line" (or "note") with the FollowLine as JSON, and at the
// end "event: end" with {"reason": ...}.
type sseFollow struct{}

func (sseFollow) line(l dockerops.FollowLine) []byte {
	name := "line"
	if l.Note {
		name = "note"
	}
	return sseData(name, l)
}

func (sseFollow) keepAlive() []byte { return []byte(": keep-alive\n\n") }

func (sseFollow) end(reason string, _ bool) []byte {
	return sseData("end", map[string]string{"reason": reason})
}

// sseData is one event of a stream: its name and its JSON on one data line.
func sseData(name string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	var b bytes.Buffer
	b.WriteString("event: " + name + "\ndata: ")
	b.Write(data) // JSON has no raw newline: one data line
	b.WriteString("\n\n")
	return b.Bytes()
}
