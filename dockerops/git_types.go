package dockerops

import (
	"context"

	"github.com/scar-dev/scar/gitsource"
)

// Errors of git projects, matched with errors.Is.
var (
	// ErrUnknownRef: a deploy named a ref that is not on the project's remote.
	ErrUnknownRef = gitsource.ErrUnknownRef
	// ErrGitRemote: the project's remote could not be fetched.
	ErrGitRemote = gitsource.ErrRemote
)

type refKey struct{}

type promotionKey struct{}

// WithRef returns a context under which PlanDeploy and Deploy of a git project check
// out ref (a sha, a branch or a tag) instead of the head of the project's branch. A
// ref given for a project without git is refused as bad input.
func WithRef(ctx context.Context, ref string) context.Context {
	return context.WithValue(ctx, refKey{}, ref)
}

// RefOf is the ref WithRef put in ctx, "" when none.
func RefOf(ctx context.Context) string {
	ref, _ := ctx.Value(refKey{}).(string)
	return ref
}

// WithPromotion returns a context under which a deploy records that it promotes the
// commit project from runs (DeployPlan.PromotedFrom). The commit itself is given
// with WithRef; PromoteCommit finds it.
func WithPromotion(ctx context.Context, from string) context.Context {
	return context.WithValue(ctx, promotionKey{}, from)
}

// PromotionOf is the project WithPromotion put in ctx, "" when none.
func PromotionOf(ctx context.Context) string {
	from, _ := ctx.Value(promotionKey{}).(string)
	return from
}

// Push is a push to a git project's remote, as a webhook told of it.
type Push struct {
	// Branch is the pushed branch, without refs/heads/.
	Branch string
	// SHA is the pushed commit (the branch's new head).
	SHA string
	// Provider is github, gitea, forgejo, gitlab or signed (the plain signed form).
	Provider string
	// Delivery is the provider's delivery id, "" when it sends none.
	Delivery string
	// Pusher is who pushed, as the payload names them.
	Pusher string
}

// Outcomes of a push.
const (
	// PushStarted: a deploy of the pushed commit started.
	PushStarted = "started"
	// PushQueued: a deploy of the project is running; the newest push is deployed
	// once it ends.
	PushQueued = "queued"
)

// PushOutcome is what became of a push at once.
type PushOutcome struct {
	Status string `json:"status"`
	// Deployment is the started deploy (status started).
	Deployment *Deployment `json:"deployment,omitempty"`
	Message    string      `json:"message"`
}
