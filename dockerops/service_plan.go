package dockerops

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/scar-dev/scar/deployments"
	"github.com/scar-dev/scar/projects"
)

// planServices decides, for a Compose project, what the deploy does to each service
// from Compose's own view: the services and config hashes of production before the
// deploy and of the synced tree after it, the images the deploy rebuilds, the bind
// mounts that hold changed paths, and the containers that run (by their labels).
//
//   - create: in the Compose file after, no container yet (a new service, or a first
//     deploy);
//   - remove: has containers, gone from the Compose file;
//   - recreate: its image is rebuilt, it runs an image the deploy rebuilds ("same
//     image as web"), or its config hash changed;
//   - restart: it bind-mounts a changed path;
//   - none: nothing of it changed (a database keeps running).
//
// With the project's services key, services outside it are left as they are.
func (s *Service) planServices(p *projects.Project, files *deployments.Plan, found []*member, before, after composeView, dp *dockerPlan) error {
	running := map[string][]*member{}
	for _, m := range found {
		if m.service != "" {
			running[m.service] = append(running[m.service], m)
		}
	}
	for _, name := range p.Services {
		if _, ok := after.services[name]; !ok && len(running[name]) == 0 {
			return badInput("project %s: service %q is not in the Compose file of %s", p.Name, name, p.Workspace)
		}
	}
	allowed := func(name string) bool { return len(p.Services) == 0 || slices.Contains(p.Services, name) }

	changed := changedPaths(p, files)
	composeOwn := map[string]bool{filepath.Join(p.Production, ".env"): true}
	for _, rel := range files.ComposeFiles {
		composeOwn[filepath.Join(p.Production, filepath.FromSlash(rel))] = true
	}
	// Files an image can hold: Compose files and .env are Compose's, not the image's.
	imageFiles := slices.DeleteFunc(slices.Clone(changed), func(f string) bool { return composeOwn[f] })
	rebuildFiles := map[string]bool{}
	for _, rel := range files.RebuildFiles {
		if abs := filepath.Join(p.Production, filepath.FromSlash(rel)); !composeOwn[abs] {
			rebuildFiles[abs] = true
		}
	}

	// Which built services are rebuilt, and why.
	why := map[string]string{}
	for _, name := range sortedKeys(after.services) {
		svc := after.services[name]
		if svc.BuildContext == "" || !allowed(name) || p.Rebuild == projects.RebuildNever {
			continue
		}
		old, existed := before.services[name]
		dockerfile := filepath.Join(svc.BuildContext, svc.Dockerfile)
		switch {
		case p.Rebuild == projects.RebuildAlways:
			why[name] = "rebuild: always"
		case len(running[name]) == 0:
			why[name] = "new service, built for the first time here"
		case existed && old.Build != svc.Build:
			why[name] = "its build changed in the Compose file"
		default:
			for _, f := range imageFiles {
				if rebuildFiles[f] && (within(f, svc.BuildContext) || f == dockerfile) {
					why[name] = rel(p, f) + " changed"
					break
				}
			}
			if why[name] == "" {
				if f := bakedFile(imageFiles, svc.BuildContext, running[name]); f != "" {
					why[name] = rel(p, f) + " is baked into the image, not bind-mounted"
				}
			}
		}
		if why[name] != "" {
			dp.build = append(dp.build, name)
		}
	}
	var reasons []string
	for _, b := range dp.build {
		reasons = append(reasons, b+": "+why[b])
	}
	dp.rebuildReason = strings.Join(reasons, "; ")

	// sharesRebuilt names a rebuilt service whose image this one runs too.
	sharesRebuilt := func(name string) string {
		svc := after.services[name]
		for _, b := range dp.build {
			if b == name {
				continue
			}
			if img := after.services[b].Image; img != "" && svc.Image == img {
				return b
			}
			for _, m := range running[name] {
				for _, bm := range running[b] {
					if m.summary.ImageID != "" && m.summary.ImageID == bm.summary.ImageID {
						return b
					}
				}
			}
		}
		return ""
	}

	all := sortedKeys(after.services)
	for name := range running {
		if _, ok := after.services[name]; !ok {
			all = append(all, name)
		}
	}
	sort.Strings(all)
	for _, name := range all {
		_, inAfter := after.services[name]
		_, inBefore := before.services[name]
		a := ServiceAction{Service: name, Action: ActionNone, Reason: "unchanged"}
		switch {
		case !inAfter:
			a.Action, a.Reason = ActionRemove, "removed from the Compose file"
		case len(running[name]) == 0 && !inBefore:
			a.Action, a.Reason = ActionCreate, "new service"
		case len(running[name]) == 0:
			a.Action, a.Reason = ActionCreate, "no container yet"
		case why[name] != "":
			a.Action, a.Reason = ActionRecreate, "image rebuilt: "+why[name]
		case sharesRebuilt(name) != "":
			a.Action, a.Reason = ActionRecreate, "same image as "+sharesRebuilt(name)+", rebuilt"
		case before.hashes[name] != after.hashes[name] && after.approx != "":
			a.Action, a.Reason = ActionRecreate, "its configuration may have changed (the new Compose file could not be read against production: "+after.approx+")"
		case before.hashes[name] != after.hashes[name] && len(files.ComposeFiles) == 0:
			// The Compose file is the same: what changed is a file it reads.
			a.Action, a.Reason = ActionRecreate, "its configuration changed through a file the Compose file reads (.env, an env_file)"
		case before.hashes[name] != after.hashes[name]:
			a.Action, a.Reason = ActionRecreate, "its configuration in the Compose file changed"
		default:
			for _, m := range running[name] {
				if f := mountedChange(m, changed); f != "" {
					a.Action, a.Reason = ActionRestart, "bind-mounts "+rel(p, f)
					break
				}
			}
		}
		if a.Action != ActionNone && !allowed(name) {
			a.Reason = fmt.Sprintf("would %s (%s), but it is not in the project's services", a.Action, a.Reason)
			a.Action = ActionNone
		}
		dp.actions = append(dp.actions, a)
		switch a.Action {
		case ActionCreate, ActionRecreate:
			dp.targets = append(dp.targets, name)
			if a.Action == ActionRecreate {
				dp.recreate = append(dp.recreate, running[name]...)
			}
		case ActionRestart:
			dp.restart = append(dp.restart, running[name]...)
		case ActionRemove:
			dp.remove = append(dp.remove, running[name]...)
		}
	}
	dp.images = map[string]string{}
	for _, b := range dp.build {
		dp.images[b] = after.services[b].Image
	}
	return nil
}

// mountedChange returns a changed path that a bind mount of m covers, or "".
func mountedChange(m *member, changed []string) string {
	for _, f := range changed {
		if mountsAny(m, []string{f}) {
			return f
		}
	}
	return ""
}

func rel(p *projects.Project, abs string) string {
	r, err := filepath.Rel(p.Production, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(r)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// action returns what the deploy does to a Compose service ("" when the plan has no
// per-service actions, as for a plain project).
func (d *dockerPlan) action(service string) string {
	for _, a := range d.actions {
		if a.Service == service {
			return a.Action
		}
	}
	return ""
}

// servicesWith returns the services the plan gives one of actions, sorted.
func servicesWith(actions []ServiceAction, want ...string) []string {
	var out []string
	for _, a := range actions {
		if slices.Contains(want, a.Action) {
			out = append(out, a.Service)
		}
	}
	return out
}
