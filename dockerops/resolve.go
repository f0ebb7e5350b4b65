package dockerops

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/scar-dev/scar/projects"
)

// Compose labels, the same in Compose v1 and v2; going by them rather than by
// container names is what makes v1 names (po_backend_1) and v2 names (po-backend-1)
// work alike.
const (
	labelProject         = "com.docker.compose.project"
	labelService         = "com.docker.compose.service"
	labelContainerNumber = "com.docker.compose.container-number"
	labelOneoff          = "com.docker.compose.oneoff"
	labelDependsOn       = "com.docker.compose.depends_on"
	labelWorkingDir      = "com.docker.compose.project.working_dir"
)

// member is one of a project's containers as resolution found it.
type member struct {
	// entry is the project's containers entry that named it, "" when found by label.
	entry string
	// name is the container's name, or the entry when the container does not exist.
	name string
	// project, service and number are the container's Compose labels, "" and 0 for a
	// container Compose did not create.
	project string
	service string
	number  int
	// summary is the list entry; nil when the container does not exist.
	summary *container.Summary
	primary bool
}

func (m *member) found() bool { return m.summary != nil }

// matches reports whether a name from a request (a container name, a Compose service
// or a containers entry) designates this member. A Compose container is also
// designated by the name either Compose tool gives it: po-postgres-1 (v2) and
// po_postgres_1 (v1) are the same container whichever tool created it.
func (m *member) matches(name string) bool {
	name = strings.TrimPrefix(name, "/")
	return name != "" && (name == m.name || name == m.service || name == m.entry || m.composeName(name))
}

// composeName reports whether name is the v1 or v2 Compose name of this member:
// project, service and container number, joined by "_" or "-".
func (m *member) composeName(name string) bool {
	if m.project == "" || m.service == "" || m.number < 1 {
		return false
	}
	n := strconv.Itoa(m.number)
	return name == m.project+"-"+m.service+"-"+n || name == m.project+"_"+m.service+"_"+n
}

// members resolves a project's containers with one list call in the usual case:
// by the Compose project label when the project has one, then, only for entries of
// the containers list that the label did not cover (plain containers, or ones that
// are missing), by name. Entries that match nothing are returned as not found.
func (s *Service) members(ctx context.Context, p *projects.Project) ([]*member, error) {
	return resolveMembers(ctx, p, engineMembers{s})
}

// memberSource finds containers for resolveMembers: the Engine (engineMembers), or a
// list of a host's containers already read (listMembers, for the overview).
type memberSource interface {
	// labelled returns the containers Compose made for project (see composeMembers).
	labelled(ctx context.Context, project string) ([]*member, error)
	// named returns the containers with one of names.
	named(ctx context.Context, names []string) ([]*member, error)
}

func resolveMembers(ctx context.Context, p *projects.Project, src memberSource) ([]*member, error) {
	var found []*member
	unmatched := p.Containers
	if p.ComposeProject != "" {
		labelled, err := src.labelled(ctx, p.ComposeProject)
		if err != nil {
			return nil, err
		}
		found, unmatched = pick(labelled, p.Containers, p.DetectsByLabel())
	}
	if len(unmatched) > 0 {
		byName, err := src.named(ctx, unmatched)
		if err != nil {
			return nil, err
		}
		more, missing := pick(byName, unmatched, false)
		found = append(found, more...)
		for _, e := range missing {
			found = append(found, &member{entry: e, name: e})
		}
	}
	found = order(found, p.Containers)
	markPrimary(found, p.PrimaryContainer)
	return found, nil
}

type engineMembers struct{ s *Service }

func (e engineMembers) labelled(ctx context.Context, project string) ([]*member, error) {
	items, err := e.s.list(ctx, composeMembers(project))
	if err != nil {
		return nil, fmt.Errorf("list containers of compose project %s: %w", project, err)
	}
	out := make([]*member, 0, len(items))
	for i := range items {
		out = append(out, newMember(&items[i]))
	}
	return out, nil
}

func (e engineMembers) named(ctx context.Context, names []string) ([]*member, error) {
	return e.s.byName(ctx, names)
}

// deployMembers is members plus, for a Compose project whose containers list names
// only some of its containers (auto_detect off), the Compose project's other
// containers. A deploy acts on services as the Compose file has them: a service the
// list leaves out (a migrate job) still has its containers, so it is not planned as
// "no container yet", rebuilt and created again at every deploy, and the gate waits
// for it when the deploy restarts or recreates it.
func (s *Service) deployMembers(ctx context.Context, p *projects.Project) ([]*member, error) {
	ms, err := s.members(ctx, p)
	if err != nil || p.ComposeProject == "" || p.DetectsByLabel() {
		return ms, err
	}
	items, err := s.list(ctx, composeMembers(p.ComposeProject))
	if err != nil {
		return nil, fmt.Errorf("list containers of compose project %s: %w", p.ComposeProject, err)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m.found() {
			seen[m.summary.ID] = true
		}
	}
	for i := range items {
		if !seen[items[i].ID] {
			ms = append(ms, newMember(&items[i]))
		}
	}
	return order(ms, p.Containers), nil
}

// composeMembers selects the containers Compose created for project, as Compose
// itself does: both tools (v1 1.29 and v2) label each service container
// oneoff=False and each `run` container oneoff=True. Requiring False, rather than
// excluding True, leaves out containers that only inherited the project and service
// labels from an image Compose v2 built (`docker run po-web`, a Swarm task, another
// project reusing the image): they carry no oneoff label at all.
func composeMembers(project string) client.Filters {
	return client.Filters{}.Add("label", labelProject+"="+project).Add("label", labelOneoff+"=False")
}

// byName lists the containers whose name is one of names.
func (s *Service) byName(ctx context.Context, names []string) ([]*member, error) {
	f := client.Filters{}
	for _, n := range names {
		// The engine matches name filters as regular expressions against "/name".
		f.Add("name", "^/?"+regexp.QuoteMeta(n)+"$")
	}
	items, err := s.list(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list containers %s: %w", strings.Join(names, ", "), err)
	}
	out := make([]*member, 0, len(items))
	for i := range items {
		out = append(out, newMember(&items[i]))
	}
	return out, nil
}

func (s *Service) list(ctx context.Context, f client.Filters) ([]container.Summary, error) {
	res, err := s.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, engineError(err)
	}
	return res.Items, nil
}

func newMember(c *container.Summary) *member {
	m := &member{summary: c, project: c.Labels[labelProject], service: c.Labels[labelService]}
	if len(c.Names) > 0 {
		m.name = strings.TrimPrefix(c.Names[0], "/")
	}
	m.number, _ = strconv.Atoi(c.Labels[labelContainerNumber])
	return m
}

// pick selects from candidates those named by entries (all of them when all is set)
// and returns the entries that named none.
func pick(candidates []*member, entries []string, all bool) (picked []*member, unmatched []string) {
	seen := make(map[string]bool)
	add := func(m *member, entry string) {
		if seen[m.summary.ID] {
			return
		}
		seen[m.summary.ID] = true
		m.entry = entry
		picked = append(picked, m)
	}
	for _, e := range entries {
		hit := false
		for _, m := range candidates {
			if m.matches(e) {
				add(m, e)
				hit = true
			}
		}
		if !hit {
			unmatched = append(unmatched, e)
		}
	}
	if all {
		for _, m := range candidates {
			add(m, "")
		}
	}
	return picked, unmatched
}

// order puts members in the order of the containers list, then the rest (found by
// label) by service, replica number and name, so that answers are stable.
func order(ms []*member, entries []string) []*member {
	rank := func(m *member) int {
		if i := slices.Index(entries, m.entry); i >= 0 && m.entry != "" {
			return i
		}
		return len(entries)
	}
	slices.SortStableFunc(ms, func(a, b *member) int {
		return cmp.Or(
			cmp.Compare(rank(a), rank(b)),
			cmp.Compare(a.service, b.service),
			cmp.Compare(a.number, b.number),
			cmp.Compare(a.name, b.name),
		)
	})
	return ms
}

// markPrimary flags the member the project names as primary, else the first one.
func markPrimary(ms []*member, primary string) {
	for _, m := range ms {
		if primary != "" && m.matches(primary) {
			m.primary = true
			return
		}
	}
	if len(ms) > 0 {
		ms[0].primary = true
	}
}

// choose returns the members named by names, in the project's order, or all of them
// when names is empty. A name that designates none is an ErrNotFound naming it.
func choose(project string, ms []*member, names []string) ([]*member, error) {
	if len(names) == 0 {
		return ms, nil
	}
	var out []*member
	for _, n := range names {
		hit := false
		for _, m := range ms {
			if m.matches(n) {
				hit = true
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
		if !hit {
			return nil, fmt.Errorf("container %q of project %s: %w", n, project, ErrNotFound)
		}
	}
	slices.SortStableFunc(out, func(a, b *member) int {
		return cmp.Compare(slices.Index(ms, a), slices.Index(ms, b))
	})
	return out, nil
}
