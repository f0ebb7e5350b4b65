package dockerops

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeployCancelled is the status of a deploy that was cancelled — by a user, or by its
// stage's deadline (build_timeout, apply_timeout) — and rolled back. It is also an
// outcome of scar_deployments_total.
const DeployCancelled = "cancelled"

// ErrCancelled matches the error of a deploy stage that was cancelled, by a user or by
// its deadline.
var ErrCancelled = errors.New("cancelled")

// CancelledError says why a deploy was cancelled; it matches ErrCancelled.
type CancelledError struct {
	// Reason is "cancelled by <who>" or "<stage> took longer than its <key> of <d>".
	Reason string
}

func (e *CancelledError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrCancelled) true.
func (e *CancelledError) Is(target error) bool { return target == ErrCancelled }

// stageLimit is the deadline of a deploy stage for the project, 0 for none, and the
// project key that sets it.
func stageLimit(r *run, stage string) (time.Duration, string) {
	switch stage {
	case StageBuild:
		return r.p.BuildTimeout, "build_timeout"
	case StageApply:
		return r.p.ApplyTimeout, "apply_timeout"
	}
	return 0, ""
}

// timed runs a deploy stage as r.stage does, on a context that ends at the stage's
// deadline (see stageLimit) or when the deploy is cancelled, whichever comes first.
// The Compose tool a stage runs is killed with its whole process group when that
// context ends (see Compose.Run). A stage that fails because its context ended
// returns a *CancelledError saying why; one that ends well despite a late cancel
// returns nil (the next stage then sees the cancel before it starts).
func (r *run) timed(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if err := cancelCause(ctx); err != nil {
		return err
	}
	limit, key := stageLimit(r, name)
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if limit > 0 {
		sctx, cancel = context.WithTimeoutCause(ctx, limit, &CancelledError{
			Reason: fmt.Sprintf("%s took longer than its %s of %s", name, key, limit)})
	}
	defer cancel()
	err := r.stage(name, func() error { return fn(sctx) })
	if err == nil {
		return nil
	}
	if cause := cancelCause(sctx); cause != nil {
		return cause
	}
	return err
}

// cancelCause is the *CancelledError that ended ctx, or nil when ctx has not ended or
// ended otherwise (a shutdown, which rolls a deploy back as a failure).
func cancelCause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrCancelled) {
		return cause
	}
	return nil
}

// endOf is how a deploy that stopped at a step with cause ends when its undo worked:
// its status and the words its events use.
func endOf(cause error) (status, verb string) {
	if errors.Is(cause, ErrCancelled) {
		return DeployCancelled, "cancelled"
	}
	return DeployFailedRolledBack, "failed"
}
