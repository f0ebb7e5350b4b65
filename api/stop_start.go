package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/store"
)

// StopStarter is what POST .../stop and .../start call; *dockerops.Service has it.
// The routes ask it of Deps.Ops rather than growing Operations, which every other
// route's fake would then have to carry.
type StopStarter interface {
	Stop(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
	Start(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
}

var _ StopStarter = (*dockerops.Service)(nil)

// errNoStopStart answers a stop or start when Deps.Ops cannot do them.
var errNoStopStart = errors.New("this server's operations cannot stop or start containers")

// handleStopStart answers POST .../stop and .../start (op is dockerops.OpStop or
// OpStart) as handleRestart answers a restart: the same optional body, the same
// answer (200 with every container's result, or 500 <op>_failed with them when one
// did not stop or come up), the same bound, and it runs to its end when the client
// goes away.
func handleStopStart(ops Operations, audit *auditLog, op string) http.HandlerFunc {
	ss, _ := ops.(StopStarter)
	return func(w http.ResponseWriter, r *http.Request) {
		project := chi.URLParam(r, "project")
		var req dockerops.RestartRequest
		if err := decodeOptional(r, &req); err != nil {
			audit.record(r, op, project, err, "")
			writeError(w, err)
			return
		}
		if ss == nil {
			audit.record(r, op, project, errNoStopStart, "")
			writeError(w, errNoStopStart)
			return
		}
		call := ss.Start
		if op == dockerops.OpStop {
			call = ss.Stop
		}
		// A start waits for health checks and a stop for stop timeouts; let them
		// outlive the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(restartBound))
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), restartBound)
		defer cancel()
		res, err := call(ctx, project, req, actor(r), nil)
		detail := strings.Join(req.Containers, ",")
		if err != nil {
			audit.record(r, op, project, err, detail)
			writeError(w, err)
			return
		}
		if !res.OK {
			code := op + "_failed"
			msg := fmt.Sprintf("%s of %s: %s", op, res.Project, notDone(op, res))
			audit.write(r, store.AuditEntry{Action: op, Project: res.Project, Outcome: code, Detail: msg})
			noteError(w, errors.New(msg))
			writeJSON(w, http.StatusInternalServerError, restartFailure{RestartResult: res, Error: errorDetail{Code: code, Message: msg}})
			return
		}
		audit.record(r, op, res.Project, nil, detail)
		writeJSON(w, http.StatusOK, res)
	}
}

// notDone says which containers of a stop or start failed, and why.
func notDone(op string, res *dockerops.RestartResult) string {
	var failed []string
	for _, c := range res.Containers {
		if !c.OK {
			failed = append(failed, c.Name+": "+c.Error)
		}
	}
	what := "come up"
	if op == dockerops.OpStop {
		what = "stop"
	}
	return fmt.Sprintf("%d of %d containers did not %s: %s", len(failed), len(res.Containers), what, strings.Join(failed, "; "))
}
