package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/scar-dev/scar/dockerops"
)

// Events is the event watcher's feed: container events of the projects and the
// changes of incidents. *dockerops.Watcher is one.
type Events interface {
	Subscribe(project string) (<-chan dockerops.WatchEvent, func())
}

// DefaultEventsKeepAlive is how often an idle event stream sends a comment, so that
// proxies and load balancers do not close it.
const DefaultEventsKeepAlive = 15 * time.Second

// containerEventJSON is a container event as GET /events sends it ("event:
// container"). The field names are a contract.
type containerEventJSON struct {
	At          time.Time `json:"at"`
	Host        string    `json:"host"`
	Project     string    `json:"project"`
	Container   string    `json:"container"`
	ContainerID string    `json:"container_id"`
	Service     string    `json:"service"`
	Action      string    `json:"action"`
	ExitCode    *int      `json:"exit_code,omitempty"`
}

// handleEvents streams the watcher's feed as Server-Sent Events: "event: container"
// for a container event of a project, "event: incident" for an incident that
// opened, changed or ended, one JSON object a data line; of one project
// (?project=) or of all (and the Docker host's own incidents) without it. A comment
// goes out every keepAlive while nothing happens. The stream ends when the client
// goes away, when scar stops (stop closed), or when the client reads too slowly and
// the feed drops it — then with a last comment that says so.
func handleEvents(p Projects, events Events, keepAlive time.Duration, stop <-chan struct{}, audit *auditLog) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		project := r.URL.Query().Get("project")
		if project != "" {
			if _, err := p.Current().Get(project); err != nil {
				audit.record(r, "events", project, err, "")
				writeError(w, err)
				return
			}
		}
		if events == nil {
			audit.refused(r, "events", project, watchOff)
			writeProblem(w, http.StatusServiceUnavailable, "not_watching", watchOff)
			return
		}
		audit.record(r, "events", project, nil, "")
		feed, cancel := events.Subscribe(project)
		defer cancel()

		send := startStream(w, "text/event-stream", keepAlive+10*time.Second)
		if !send([]byte(": scar event stream; a comment every " + keepAlive.String() + " keeps it alive\n\n")) {
			return
		}
		tick := time.NewTicker(keepAlive)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				send([]byte(": scar is stopping; reconnect later\n\n"))
				return
			case <-tick.C:
				if !send([]byte(": keep-alive\n\n")) {
					return
				}
			case ev, ok := <-feed:
				if !ok {
					send([]byte(": this client read too slowly and fell behind the events; the stream ends here, reconnect and read /api/v1/alerts for what was missed\n\n"))
					return
				}
				if !send(sseEvent(ev)) {
					return
				}
			}
		}
	}
}

// startStream answers 200 with a stream of contentType, unbuffered by proxies, and
// returns the function that writes and flushes each piece of it. The stream outlives
// the server's write timeout; each piece gets writeTimeout instead, so that a client
// that stopped reading cannot hold the handler beyond it. send reports false once a
// write failed: the client is gone.
func startStream(w http.ResponseWriter, contentType string, writeTimeout time.Duration) (send func([]byte) bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush() // the client knows the stream is open before its first piece
	return func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
}

// sseEvent is one event of the stream: its name and its JSON on one data line.
func sseEvent(ev dockerops.WatchEvent) []byte {
	name := "container"
	var v any = containerEventJSON{At: ev.At.UTC(), Host: ev.Host, Project: ev.Project, Container: ev.Container,
		ContainerID: ev.ContainerID, Service: ev.Service, Action: ev.Action, ExitCode: ev.ExitCode}
	if ev.Incident != nil {
		name, v = "incident", toIncidentJSON(ev.Incident)
	}
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	var b bytes.Buffer
	b.WriteString("event: " + name + "\ndata: ")
	b.Write(data) // JSON has no raw newline: one data line
	b.WriteString("\n\n")
	return b.Bytes()
}
