package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scar-dev/scar/apiclient"
	"github.com/scar-dev/scar/dockerops"
)

// clientFlagsHelp is the part of every client command's help about the flags they share.
const clientFlagsHelp = `
  --url URL      scar's address (SCAR_URL; default ` + defaultServerURL + `)
  --token TOKEN  an API token (SCAR_TOKEN)
  --json         print the answer as JSON; a stream as one JSON object a line

With no project, the server's default project. Exit codes: see the README
(0 ok, 2 usage, 3 cannot reach scar, 4 wrong token, 5 read-only token, 6 not found,
7 busy, 8 deploy failed and rolled back, 9 rollback failed, 10 not confirmed).
`

// clientCommands are the commands that talk to a running scar.
var clientCommands = map[string]clientCommand{
	"status": {
		help: `usage: scar status [project] [--json]

Prints the project's containers: state and condition, health, uptime, ports, restarts.
` + clientFlagsHelp,
		flags: func(*flag.FlagSet) func(context.Context, *clientContext) error { return clientStatus },
	},
	"logs": {
		help: `usage: scar logs [project] [-n N] [--since 15m] [--grep TEXT] [--container NAME] [-f] [--json]

Prints a container's last lines (the primary container's unless --container).
  -n N         how many lines (default 50, at most 5000)
  --since X    a duration back from now (15m) or an RFC 3339 time
  --grep TEXT  only lines containing TEXT, in any case
  --container  a container or Compose service; with -f and none, all of them
  -f           follow: print new lines as they come until Ctrl-C
` + clientFlagsHelp,
		flags: logsFlags,
	},
	"restart": containersCommand("restart", "Restarts the named containers (none: all of the project's) and waits for them\nto be running and healthy."),
	"stop":    containersCommand("stop", "Stops the named containers (none: all of the project's)."),
	"start":   containersCommand("start", "Starts the named containers (none: all of the project's) and waits for them to be\nrunning and healthy."),
	"deploy": {
		help: `usage: scar deploy [project] [--ref REF] [--yes] [--json]

Shows what a deploy of the workspace would do, asks "Deploy? [y/N]" on a terminal,
then deploys and shows each stage as it happens. Off a terminal (a script, CI) it
deploys only with --yes. Exits 8 when the deploy failed and was rolled back, 9 when
the rollback failed too. A git project deploys its branch's head, or --ref, and
exactly the commit the plan showed.
  --ref REF    a git project's commit (full or short sha), branch or tag
  --yes        deploy without asking
` + clientFlagsHelp,
		flags: deployFlags(dockerops.KindDeploy),
	},
	"rollback": {
		help: `usage: scar rollback [project] [--yes] [--json]

Undoes the project's last deploy, after asking "Roll back? [y/N]" on a terminal; off
a terminal only with --yes. Shows each stage as deploy does.
  --yes        roll back without asking
` + clientFlagsHelp,
		flags: deployFlags(dockerops.KindRollback),
	},
	"history": {
		help: `usage: scar history [project] [-n N] [--json]

Lists the project's deploys and rollbacks, newest first.
  -n N         how many (default 20, at most 1000)
` + clientFlagsHelp,
		flags: historyFlags,
	},
}

// printJSON writes v as the server does: indented, one value.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine writes v on one line: a stream's element.
func printJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func clientStatus(ctx context.Context, cc *clientContext) error {
	if err := cc.needProject(ctx); err != nil {
		return err
	}
	if err := cc.noMoreArgs("status"); err != nil {
		return err
	}
	st, err := cc.api.Status(ctx, cc.project)
	if err != nil {
		return err
	}
	if cc.json {
		return printJSON(cc.io.stdout, st)
	}
	printStatus(cc.io.stdout, st)
	return nil
}

// printStatus writes a status as a table, then what else a person should know.
func printStatus(w io.Writer, st *dockerops.ProjectStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCONDITION\tHEALTH\tUPTIME\tPORTS\tRESTARTS")
	for _, c := range st.Containers {
		name := c.Name
		if c.Primary {
			name += " *"
		}
		uptime := "-"
		if c.State == "running" {
			uptime = shortDuration(time.Duration(c.UptimeSeconds) * time.Second)
		}
		ports := strings.Join(c.Ports, ", ")
		if ports == "" {
			ports = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", name, firstOf(c.Condition, c.State), c.Health, uptime, ports, c.RestartCount)
	}
	tw.Flush()
	if len(st.Containers) == 0 {
		fmt.Fprintln(w, "(no containers)")
	}
	if st.PendingChanges {
		fmt.Fprintf(w, "pending changes: the workspace differs from production (scar deploy %s)\n", st.Project)
	}
	for _, p := range st.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
	if !st.MutedUntil.IsZero() {
		fmt.Fprintln(w, "alerts muted until", st.MutedUntil.Local().Format(time.RFC3339))
	}
}

// shortDuration is a duration as a person reads an uptime: 45s, 12m, 3h5m, 2d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func logsFlags(fs *flag.FlagSet) func(context.Context, *clientContext) error {
	var q apiclient.LogsQuery
	fs.IntVar(&q.Lines, "n", 0, "")
	fs.StringVar(&q.Since, "since", "", "")
	fs.StringVar(&q.Grep, "grep", "", "")
	fs.StringVar(&q.Container, "container", "", "")
	follow := fs.Bool("f", false, "")
	return func(ctx context.Context, cc *clientContext) error {
		if q.Lines < 0 || q.Lines > dockerops.MaxLogLines {
			return &usageError{fmt.Sprintf("logs: -n %d: want a number of lines from 1 to %d", q.Lines, dockerops.MaxLogLines)}
		}
		if err := cc.needProject(ctx); err != nil {
			return err
		}
		if err := cc.noMoreArgs("logs"); err != nil {
			return err
		}
		if *follow {
			return followLogs(ctx, cc, q)
		}
		if cc.json {
			res, err := cc.api.Logs(ctx, cc.project, q)
			if err != nil {
				return err
			}
			return printJSON(cc.io.stdout, res)
		}
		body, err := cc.api.LogsText(ctx, cc.project, q)
		if err != nil {
			return err
		}
		defer body.Close()
		if _, err := io.Copy(cc.io.stdout, body); err != nil && ctx.Err() == nil {
			return fmt.Errorf("logs of %s: the answer was cut: %w", cc.project, err)
		}
		return nil
	}
}

// followLogs copies a follow's lines as they come; with --json each becomes a
// FollowLine object. Ctrl-C (ctx) ends it without an error.
func followLogs(ctx context.Context, cc *clientContext, q apiclient.LogsQuery) error {
	return cc.api.FollowLogs(ctx, cc.project, q, func(line string) error {
		if cc.json {
			return printJSONLine(cc.io.stdout, apiclient.ParseFollowLine(line, q.Container))
		}
		_, err := fmt.Fprintln(cc.io.stdout, line)
		return err
	})
}

// containersCommand is restart, stop or start: the project, then container names.
func containersCommand(op, does string) clientCommand {
	return clientCommand{
		help: "usage: scar " + op + " [project] [container...] [--json]\n\n" + does + "\n" + clientFlagsHelp,
		flags: func(*flag.FlagSet) func(context.Context, *clientContext) error {
			return func(ctx context.Context, cc *clientContext) error {
				if err := cc.needProject(ctx); err != nil {
					return err
				}
				call := map[string]func(context.Context, string, ...string) (*dockerops.RestartResult, error){
					"restart": cc.api.Restart, "stop": cc.api.Stop, "start": cc.api.Start,
				}[op]
				res, err := call(ctx, cc.project, cc.args...)
				if res != nil {
					if cc.json {
						printJSON(cc.io.stdout, res)
					} else {
						printContainerResults(cc.io.stdout, op, res)
					}
				}
				return err
			}
		},
	}
}

// printContainerResults writes what a restart, stop or start did to each container.
func printContainerResults(w io.Writer, op string, res *dockerops.RestartResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRESULT\tCONDITION\tHEALTH\tTOOK")
	for _, c := range res.Containers {
		result := "ok"
		switch {
		case c.Skipped:
			result = "skipped"
		case !c.OK:
			result = "FAILED: " + c.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, result, firstOf(c.Condition, c.State), c.Health, millis(c.DurationMS))
	}
	tw.Flush()
	verdict := "done"
	if !res.OK {
		verdict = "failed"
	}
	fmt.Fprintf(w, "%s of %s %s in %s\n", op, res.Project, verdict, millis(res.DurationMS))
}

// millis is a duration in milliseconds as a person reads it: 850ms, 2.4s.
func millis(ms float64) string {
	return (time.Duration(ms) * time.Millisecond).Round(100 * time.Millisecond).String()
}

func historyFlags(fs *flag.FlagSet) func(context.Context, *clientContext) error {
	n := fs.Int("n", 20, "")
	return func(ctx context.Context, cc *clientContext) error {
		if *n < 1 || *n > 1000 {
			return &usageError{fmt.Sprintf("history: -n %d: want a number from 1 to 1000", *n)}
		}
		if err := cc.needProject(ctx); err != nil {
			return err
		}
		if err := cc.noMoreArgs("history"); err != nil {
			return err
		}
		list, err := cc.api.History(ctx, cc.project, *n)
		if err != nil {
			return err
		}
		if cc.json {
			if list == nil {
				list = []dockerops.Deployment{}
			}
			return printJSON(cc.io.stdout, map[string]any{"deployments": list})
		}
		printHistory(cc.io.stdout, list)
		return nil
	}
}

// printHistory writes deployments as a table, newest first as the server lists them.
func printHistory(w io.Writer, list []dockerops.Deployment) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no deploys yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tSTARTED\tTOOK\tWHO\tDETAIL")
	for _, d := range list {
		took := "-"
		if !d.FinishedAt.IsZero() {
			took = d.FinishedAt.Sub(d.StartedAt).Round(100 * time.Millisecond).String()
		}
		detail := d.Error
		if d.FailedStep != "" {
			detail = d.FailedStep + ": " + detail
		}
		if d.Undoes != "" {
			detail = strings.TrimSpace("undoes " + d.Undoes + " " + detail)
		}
		if c := d.Plan.Commit; c != nil {
			commit := "commit " + c.Short() + " " + c.Subject
			if d.Plan.PromotedFrom != "" {
				commit += " (promoted from " + d.Plan.PromotedFrom + ")"
			}
			detail = strings.TrimSuffix(commit+"; "+detail, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Kind, d.Status,
			d.StartedAt.Local().Format("2006-01-02 15:04:05"), took, d.Who, oneLine(detail, 80))
	}
	tw.Flush()
}

// oneLine keeps a text to one line of at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
