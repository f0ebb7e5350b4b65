package handlers

import (
	"context"
	"strings"

	"github.com/scar-dev/scar/dockerops"
)

// deployArgs reads "/docker_deploy [project] [sha|branch]". A lone argument that
// names no project is a ref for the default project when that is a git project;
// otherwise it is taken as a project name (and answered as an unknown one).
func (b *Bot) deployArgs(cmd Command) (project, ref string, err error) {
	switch len(cmd.Args) {
	case 0:
		return "", "", nil
	case 1:
		arg := cmd.Args[0]
		if _, err := b.projects.Resolve(arg); err == nil {
			return arg, "", nil
		}
		if def, err := b.projects.Resolve(""); err == nil && def.IsGit() {
			return "", arg, nil
		}
		return arg, "", nil
	case 2:
		return cmd.Args[0], cmd.Args[1], nil
	}
	return "", "", &usageError{usage: "/docker_deploy [project] [sha|branch]"}
}

// deployDetail is what a deploy's confirmation pins: the plan's fingerprint and, for a
// git project, the commit the plan was made of and the project it is promoted from.
// It travels as confirm.Pending's Detail.
type deployDetail struct {
	fingerprint string
	sha         string
	from        string
}

// detailSep cannot occur in a fingerprint, a sha or a project name.
const detailSep = "\x1f"

func (d deployDetail) encode() string {
	if d.sha == "" && d.from == "" {
		return d.fingerprint
	}
	return strings.Join([]string{d.fingerprint, d.sha, d.from}, detailSep)
}

func decodeDetail(s string) deployDetail {
	parts := strings.SplitN(s, detailSep, 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return deployDetail{fingerprint: parts[0], sha: parts[1], from: parts[2]}
}

// context is the deploy's context: the confirmed plan, its commit and its promotion.
func (d deployDetail) context(ctx context.Context) context.Context {
	if d.fingerprint != "" {
		ctx = dockerops.WithConfirmedPlan(ctx, d.fingerprint)
	}
	if d.sha != "" {
		ctx = dockerops.WithRef(ctx, d.sha)
	}
	if d.from != "" {
		ctx = dockerops.WithPromotion(ctx, d.from)
	}
	return ctx
}

// planDetail is the detail a confirmation of plan pins.
func planDetail(plan *dockerops.DeployPlan, from string) deployDetail {
	d := deployDetail{fingerprint: plan.Fingerprint, from: from}
	if plan.Commit != nil {
		d.sha = plan.Commit.SHA
	}
	return d
}
