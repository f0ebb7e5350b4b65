package dockerops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrPlanChanged: a deploy was confirmed for a plan that is no longer what the
// workspace and production say; nothing was deployed. A *PlanChangedError carries the
// new plan.
var ErrPlanChanged = errors.New("plan changed")

// PlanChangedError says that the plan changed since it was confirmed, with the new one.
type PlanChangedError struct {
	Confirmed string
	Plan      DeployPlan
}

func (e *PlanChangedError) Error() string {
	return fmt.Sprintf("the deploy plan of %s changed since it was confirmed (the workspace or production changed): nothing was deployed; confirm the new plan %s", e.Plan.Project, e.Plan.Fingerprint)
}

// Is makes errors.Is(err, ErrPlanChanged) true.
func (e *PlanChangedError) Is(target error) bool { return target == ErrPlanChanged }

type confirmedPlanKey struct{}

// WithConfirmedPlan returns a context under which Deploy runs only the plan whose
// Fingerprint is fingerprint: when the plan it makes differs, it deploys nothing and
// returns a *PlanChangedError with the new plan. An empty fingerprint checks nothing.
func WithConfirmedPlan(ctx context.Context, fingerprint string) context.Context {
	return context.WithValue(ctx, confirmedPlanKey{}, fingerprint)
}

// ConfirmedPlanOf is the fingerprint WithConfirmedPlan put in ctx, "" when none.
func ConfirmedPlanOf(ctx context.Context) string {
	s, _ := ctx.Value(confirmedPlanKey{}).(string)
	return s
}

// fingerprint is a hash of what a deploy would do: the files it writes — each with
// the workspace's size, mode and modification time, so that a file edited again after
// the plan was shown changes it — the files it deletes, the directories it makes, the
// rebuild and every service's action.
func fingerprint(workspace string, p *DeployPlan) string {
	h := sha256.New()
	line := func(format string, args ...any) { fmt.Fprintf(h, format+"\n", args...) }
	for _, list := range []struct {
		mark  string
		paths []string
	}{{"A", p.Added}, {"C", p.Changed}} {
		for _, rel := range list.paths {
			fi, err := os.Lstat(filepath.Join(workspace, filepath.FromSlash(rel)))
			if err != nil {
				line("%s %s gone", list.mark, rel)
				continue
			}
			line("%s %s %d %o %d", list.mark, rel, fi.Size(), fi.Mode(), fi.ModTime().UnixNano())
		}
	}
	for _, rel := range p.Deleted {
		line("D %s", rel)
	}
	for _, rel := range p.Dirs {
		line("M %s", rel)
	}
	line("R %t %s", p.Rebuild, p.RebuildReason)
	for _, a := range p.ServiceActions {
		line("S %s %s %s", a.Service, a.Action, a.Reason)
	}
	line("P %v %v", p.Recreate, p.Restart)
	if p.Commit != nil {
		line("G %s %s", p.Commit.SHA, p.PromotedFrom)
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
