package handlers

import (
	"errors"
	"net/url"
	"strings"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/projects"
)

// maxSubject bounds a commit's subject in a message; a subject is one line, but a
// push can make it as long as it likes.
const maxSubject = 120

// commitText is a commit as messages show it: "abc1234567 subject — author", its
// parts escaped and clipped.
func commitText(c *gitsource.Commit) string {
	s := "<code>" + esc(c.Short()) + "</code>"
	if c.Subject != "" {
		s += " " + esc(clip(subjectLine(c.Subject), maxSubject))
	}
	if a := authorName(c.Author); a != "" {
		s += " — " + esc(clip(a, 80))
	}
	return s
}

// authorName is the name of a "Name <email>" author, the whole string when it has no
// name: messages go to group chats, where the address is not needed to know who.
func authorName(author string) string {
	author = strings.TrimSpace(author)
	if i := strings.Index(author, " <"); i > 0 && strings.HasSuffix(author, ">") {
		return author[:i]
	}
	return author
}

func subjectLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// addCommit describes the commit a deploy checks out: the commit line, and its branch
// when known.
func addCommit(r *reply, c *gitsource.Commit) {
	if c == nil {
		return
	}
	r.add("📌 commit %s", commitText(c))
	if c.Branch != "" {
		r.add("🌿 branch %s", esc(clip(c.Branch, 100)))
	}
}

// gitRefusal is the text of a refusal by a git project's source, "" when err is not
// one: a ref the remote does not have, or a remote that could not be fetched. Either
// way nothing ran, and production is as it was.
func gitRefusal(p *projects.Project, ref string, err error) string {
	remote := "the remote of <b>" + esc(p.Name) + "</b>"
	if p.Git != nil {
		remote = "<code>" + esc(clip(remoteText(p.Git.Remote), 200)) + "</code>"
	}
	switch {
	case errors.Is(err, dockerops.ErrUnknownRef):
		what := "no commit or branch <code>" + esc(clip(ref, 100)) + "</code>"
		if ref == "" {
			what = "no commit or branch of <b>" + esc(p.Name) + "</b>"
		}
		return "❓ " + what + " on " + remote + ": nothing was deployed.\n" + esc(clip(err.Error(), maxDynamic))
	case errors.Is(err, dockerops.ErrGitRemote):
		return "🔌 Could not fetch " + remote + " for <b>" + esc(p.Name) + "</b>: " + esc(clip(err.Error(), maxDynamic)) +
			"\nNothing was deployed; production is untouched."
	}
	return ""
}

// remoteText is a remote URL as a message may show it: a password in it is masked.
func remoteText(remote string) string {
	if u, err := url.Parse(remote); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
	}
	return remote
}

// refRefusal answers a ref given for a project that deploys from its workspace.
func refRefusal(project string) string {
	return "⚠️ <b>" + esc(project) + "</b> deploys from its workspace; a ref is for git projects."
}

// gitRefusalOf is gitRefusal for a project named by its name, "" when it is not
// known any more.
func (b *Bot) gitRefusalOf(project, ref string, err error) string {
	p, perr := b.projects.Resolve(project)
	if perr != nil {
		return ""
	}
	return gitRefusal(p, ref, err)
}

// addDeployedCommit names, under a finished deploy or rollback, the commit it deployed
// or put back and the project it was promoted from.
func addDeployedCommit(r *reply, d *dockerops.Deployment) {
	if line := historyCommit(d); line != "" {
		r.add("%s", line)
	}
}

// historyCommit is the commit line of a deploy or rollback of a git project, "" when
// it has none: "📌 abc1234567 subject — author · promoted from staging", or for a
// rollback "📌 put back abc1234567 …".
func historyCommit(d *dockerops.Deployment) string {
	c := d.Plan.Commit
	if c == nil {
		if d.Plan.PromotedFrom != "" {
			return "📌 promoted from " + esc(d.Plan.PromotedFrom)
		}
		return ""
	}
	l := "📌 " + commitText(c)
	if d.Kind == dockerops.KindRollback {
		l = "📌 put back " + commitText(c)
	}
	if d.Plan.PromotedFrom != "" {
		l += " · promoted from " + esc(d.Plan.PromotedFrom)
	}
	return l
}
