package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scar-dev/scar/apiclient"
	"github.com/scar-dev/scar/dockerops"
)

// pollInterval is how often a deploy is polled when its event stream is not there
// (a server without GET /deployments/{id}/events, a stream cut by a proxy).
const pollInterval = 500 * time.Millisecond

// deployFlags is scar deploy or scar rollback (kind): the plan (a deploy's), a
// confirmation, then the run followed stage by stage to its end.
func deployFlags(kind string) func(fs *flag.FlagSet) func(context.Context, *clientContext) error {
	return func(fs *flag.FlagSet) func(context.Context, *clientContext) error {
		yes := fs.Bool("yes", false, "")
		fs.BoolVar(yes, "y", false, "")
		ref := new(string)
		if kind == dockerops.KindDeploy {
			fs.StringVar(ref, "ref", "", "")
		}
		return func(ctx context.Context, cc *clientContext) error {
			if err := cc.needProject(ctx); err != nil {
				return err
			}
			if err := cc.noMoreArgs(kind); err != nil {
				return err
			}
			return deployOrRollback(ctx, cc, kind, *yes, *ref)
		}
	}
}

func deployOrRollback(ctx context.Context, cc *clientContext, kind string, yes bool, ref string) error {
	out := cc.io.stdout
	var fingerprint string
	if kind == dockerops.KindDeploy {
		plan, err := cc.api.PlanDeployRef(ctx, cc.project, ref)
		if err != nil {
			return err
		}
		if cc.json {
			printJSONLine(out, plan)
		} else {
			printPlan(out, cc.project, &plan.Plan)
		}
		if plan.NothingToDeploy {
			if !cc.json {
				fmt.Fprintln(out, "nothing to deploy: production already matches the workspace")
			}
			return nil
		}
		fingerprint = plan.Plan.Fingerprint
		if c := plan.Plan.Commit; c != nil {
			// The commit shown is the one deployed, whatever the branch does meanwhile.
			ref = c.SHA
		}
	} else if !cc.json {
		fmt.Fprintf(out, "rollback of %s: production goes back to what it was before its last deploy\n", cc.project)
	}
	if err := confirm(cc, kind, yes); err != nil {
		return err
	}

	var d *dockerops.Deployment
	var err error
	if kind == dockerops.KindDeploy {
		// The plan shown is the one deployed: if the workspace changed since, the
		// server deploys nothing and says so (409 plan_changed).
		d, err = cc.api.DeployRef(ctx, cc.project, fingerprint, ref)
	} else {
		d, err = cc.api.Rollback(ctx, cc.project)
	}
	if err != nil {
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) && apiErr.Code == "plan_changed" {
			return &exitError{exitFailed, fmt.Errorf("%w: nothing was deployed; run scar deploy again to see the new plan", err)}
		}
		return err
	}
	if d.Status == dockerops.DeployNothingToDo {
		if cc.json {
			return printJSONLine(out, d)
		}
		fmt.Fprintln(out, "nothing to deploy: production already matches the workspace")
		return nil
	}
	if !cc.json {
		fmt.Fprintf(out, "%s %s started\n", kind, d.ID)
	}
	p := newProgress(cc.io, cc.json, d.StartedAt)
	final, err := followDeployment(ctx, cc.api, d.ID, p)
	p.close()
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{exitFailed, fmt.Errorf("interrupted: the %s goes on on the server; see scar history %s (deployment %s)", kind, cc.project, d.ID)}
		}
		return err
	}
	if cc.json {
		printJSONLine(out, final)
	}
	return deploymentOutcome(out, final, cc.json)
}

// confirm asks the person at the terminal, unless --yes. Off a terminal nobody can
// answer: the deploy is refused rather than run unasked.
func confirm(cc *clientContext, kind string, yes bool) error {
	if yes {
		return nil
	}
	question := "Deploy? [y/N] "
	if kind == dockerops.KindRollback {
		question = "Roll back? [y/N] "
	}
	if !cc.io.interactive {
		return &exitError{exitNotConfirmed, fmt.Errorf("not a terminal, so nobody can confirm the %s: nothing was done; add --yes to %s without asking", kind, kind)}
	}
	fmt.Fprint(cc.io.stdout, question)
	answer, _ := bufio.NewReader(cc.io.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return &exitError{exitNotConfirmed, fmt.Errorf("%s not confirmed: nothing was done", kind)}
}

// followDeployment shows a deployment's stages as they happen until it ends: from its
// event stream, or, when there is none or it is cut, by polling the deployment. Both
// list the events in order, so polling shows only those the stream had not.
func followDeployment(ctx context.Context, api *apiclient.Client, id string, p *progress) (*dockerops.Deployment, error) {
	final, err := api.Events(ctx, id, p.event)
	if err == nil {
		return final, nil
	}
	var apiErr *apiclient.Error
	if ctx.Err() != nil || (errors.As(err, &apiErr) && (apiErr.Status == 401 || apiErr.Status == 403)) {
		return nil, err
	}
	return api.Wait(ctx, id, pollInterval, p.catchUp)
}

// deploymentOutcome says how a deploy or rollback ended, and exits as it did.
func deploymentOutcome(out io.Writer, d *dockerops.Deployment, asJSON bool) error {
	took := d.FinishedAt.Sub(d.StartedAt).Round(100 * time.Millisecond)
	what := fmt.Sprintf("%s of %s (%s)", d.Kind, d.Project, d.ID)
	if !asJSON && len(d.LogTail) > 0 && d.Status != dockerops.DeploySuccess {
		fmt.Fprintln(out, "last log lines of the failing container:")
		for _, l := range d.LogTail {
			fmt.Fprintln(out, "  "+l)
		}
	}
	failure := d.Error
	if d.FailedStep != "" {
		failure = "at " + d.FailedStep + ": " + d.Error
	}
	switch d.Status {
	case dockerops.DeploySuccess:
		if !asJSON {
			fmt.Fprintf(out, "%s succeeded in %s\n", what, took)
			if d.Bake != "" {
				fmt.Fprintln(out, "bake:", d.Bake)
			}
		}
		return nil
	case dockerops.DeployFailedRolledBack, dockerops.DeployCancelled:
		return &exitError{exitDeployFailed, fmt.Errorf("%s %s %s; production was rolled back to what it was", what, d.Status, failure)}
	case dockerops.DeployRollbackFailed:
		return &exitError{exitRollbackFail, fmt.Errorf("%s failed %s, and rolling it back failed too: production needs a look", what, failure)}
	default:
		return &exitError{exitFailed, fmt.Errorf("%s ended %s %s", what, d.Status, failure)}
	}
}

// printPlan writes a deploy plan as a person reads it before saying yes.
func printPlan(w io.Writer, project string, p *dockerops.DeployPlan) {
	fmt.Fprintf(w, "plan for %s:\n", project)
	if c := p.Commit; c != nil {
		fmt.Fprintf(w, "  %-9s %s %s (%s)\n", "commit:", c.Short(), c.Subject, c.Author)
		if p.PromotedFrom != "" {
			fmt.Fprintf(w, "  %-9s %s\n", "from:", p.PromotedFrom)
		}
	}
	list := func(label string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(w, "  %-9s %s\n", label+":", strings.Join(names, ", "))
		}
	}
	list("added", p.Added)
	list("changed", p.Changed)
	list("deleted", p.Deleted)
	list("dirs", p.Dirs)
	if p.Empty() {
		return
	}
	fmt.Fprintf(w, "  %-9s %d bytes\n", "copy:", p.Bytes)
	if p.Rebuild {
		fmt.Fprintf(w, "  %-9s yes (%s)\n", "rebuild:", p.RebuildReason)
	} else {
		fmt.Fprintf(w, "  %-9s no\n", "rebuild:")
	}
	for _, a := range p.ServiceActions {
		if a.Action == dockerops.ActionNone {
			continue
		}
		fmt.Fprintf(w, "  service %s: %s (%s)\n", a.Service, a.Action, a.Reason)
	}
	if len(p.ServiceActions) == 0 {
		list("recreate", p.Recreate)
		list("restart", p.Restart)
	}
	list("kept", p.Kept)
	list("edited in production", p.EditedInProduction)
}
