package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
)

// DeploymentFollower follows one deploy or rollback: the stream of
// GET /deployments/{id}/events and the wait of ?wait=true. *dockerops.Service is one.
type DeploymentFollower interface {
	FollowDeployment(ctx context.Context, id string) (*dockerops.DeploymentFollow, error)
}

// deployFollow is what the follow routes need beside the operations.
type deployFollow struct {
	follower  DeploymentFollower
	keepAlive time.Duration
	// stop, closed when scar begins to shut down, ends the streams and the waits,
	// which http.Server.Shutdown would otherwise wait for — and the deploys' own
	// grace period after it would be spent.
	stop <-chan struct{}
}

// followUnavailable is the answer when the server was built without a follower.
const followUnavailable = "following deployments is not available in this server"

// handleDeploymentEvents streams a deploy's or rollback's stage events as Server-Sent
// Events: "event: stage" with a dockerops.Event for each event already past, then for
// each new one as it is recorded, and at the end "event: end" with the final record
// as GET /deployments/{id} answers it; then the stream closes. A finished deployment
// is all of that at once. An unknown id is a 404 before the stream starts. It is not
// audited, like GET /deployments/{id}: it reads what the audited deploy records.
func handleDeploymentEvents(f deployFollow) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.follower == nil {
			writeProblem(w, http.StatusServiceUnavailable, "not_available", followUnavailable)
			return
		}
		follow, err := f.follower.FollowDeployment(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			writeError(w, err)
			return
		}
		defer follow.Stop()
		sse, ok := startSSE(w, f.keepAlive, "deployment "+follow.ID+" events")
		if !ok {
			return
		}
		for _, e := range follow.Past {
			if !sse.event("stage", e) {
				return
			}
		}
		tick := time.NewTicker(f.keepAlive)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-f.stop:
				sse.comment("scar is stopping; the deployment goes on: follow it again once scar is back")
				return
			case <-tick.C:
				if !sse.comment("keep-alive") {
					return
				}
			case e, ok := <-follow.Events:
				if ok {
					if !sse.event("stage", e) {
						return
					}
					continue
				}
				d, err := follow.End(r.Context())
				if errors.Is(err, dockerops.ErrSlowFollower) {
					sse.comment("this client read too slowly and fell behind the events; the stream ends here: follow again, the events already past come first")
					return
				}
				if err != nil {
					sse.comment("the deployment's end could not be read: " + err.Error())
					return
				}
				sse.event("end", d)
				return
			}
		}
	}
}

// waitParam reads ?wait= of a deploy or rollback: true or false (strconv.ParseBool's
// spellings), absent is false.
func waitParam(r *http.Request) (bool, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return false, nil
	}
	wait, err := strconv.ParseBool(s)
	if err != nil {
		return false, badQuery(fmt.Sprintf("wait: %q is neither true nor false", s))
	}
	return wait, nil
}

// writeEnded answers a deploy or rollback started with ?wait=true once it has ended:
// 200 and its final record, as GET /deployments/{id} answers it, whatever its status
// (the status field says success, failed_rolled_back or rollback_failed). The headers
// go out at once, with the Location of the deployment; while it runs, a newline every
// keepAlive keeps proxies from closing the connection (JSON allows whitespace before
// the value). No deadline of ours is shorter than the deploy's own (its stages' and
// health gate's). A client that goes away leaves the deploy running; when scar
// begins to stop, the answer is the record as it is then, still running.
func writeEnded(w http.ResponseWriter, r *http.Request, ops Operations, f deployFollow, d *dockerops.Deployment) {
	if f.follower == nil {
		writeProblem(w, http.StatusServiceUnavailable, "not_available", followUnavailable)
		return
	}
	follow, err := f.follower.FollowDeployment(r.Context(), d.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	// The follow is replaced when it falls behind (below): Stop the current one.
	defer func() { follow.Stop() }()
	w.Header().Set("Location", "/api/v1/deployments/"+d.ID)
	send := startStream(w, "application/json; charset=utf-8", f.keepAlive+10*time.Second)
	if !send([]byte("\n")) {
		return
	}
	tick := time.NewTicker(f.keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return // the deploy goes on; its record tells how it ended
		case <-f.stop:
			now, err := ops.Deployment(context.WithoutCancel(r.Context()), d.ID)
			if err != nil {
				now = d
			}
			writeBody(w, now)
			return
		case <-tick.C:
			if !send([]byte("\n")) {
				return
			}
		case _, open := <-follow.Events:
			if open {
				continue // only the end matters here
			}
			end, err := follow.End(r.Context())
			if errors.Is(err, dockerops.ErrSlowFollower) {
				// A keep-alive waited on a slow client while the events went on: follow
				// again (a follow that ended has nothing to fall behind on).
				if again, ferr := f.follower.FollowDeployment(r.Context(), d.ID); ferr == nil {
					follow.Stop()
					follow = again
					continue
				}
			}
			if err != nil {
				// The end is recorded; the record as GET answers it is the answer.
				if end, err = ops.Deployment(context.WithoutCancel(r.Context()), d.ID); err != nil {
					end = d
				}
			}
			writeBody(w, end)
			return
		}
	}
}

// writeBody writes v as the JSON body of an answer whose headers are sent.
func writeBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing left to tell it
}
