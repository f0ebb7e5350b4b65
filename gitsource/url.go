package gitsource

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// userinfoPattern finds the user (and password) part of URLs in a text.
var userinfoPattern = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s]*)@`)

// redact removes credentials from the URLs in s: a password always, and the user too
// unless the URL is ssh's (there the user is a login name, such as git, not a token
// as https://TOKEN@host often carries).
func redact(s string) string {
	return userinfoPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfoPattern.FindStringSubmatch(m)
		scheme, user := strings.ToLower(sub[1]), sub[2]
		if strings.HasPrefix(scheme, "ssh") && !strings.Contains(user, ":") {
			return m
		}
		return sub[1] + "***@"
	})
}

// defaultPorts are the ports a URL may name without naming another server.
var defaultPorts = map[string]string{"ssh": "22", "git+ssh": "22", "ssh+git": "22", "https": "443", "http": "80", "git": "9418"}

// repositoryKey is what SameRepository compares: "path:" and the cleaned path for file
// URLs and paths; the lower-case host, with its port when it is not the scheme's
// default, and the path for the rest; without a trailing "/" or ".git". "" for what
// names no repository.
func repositoryKey(remote string) string {
	remote = strings.TrimSpace(remote)
	if remote == "" {
		return ""
	}
	if i := strings.Index(remote, "://"); i > 0 {
		u, err := url.Parse(remote)
		if err != nil {
			return ""
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme == "file" {
			if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
				return ""
			}
			return localKey(u.Path)
		}
		host := strings.ToLower(u.Hostname())
		if host == "" {
			return ""
		}
		if port := u.Port(); port != "" && port != defaultPorts[scheme] {
			host += ":" + port
		}
		return hostKey(host, u.Path)
	}
	// scp-like [user@]host:path: a colon before any slash (a path with a colon in its
	// first element must be written ./a:b, as for git).
	if colon := strings.Index(remote, ":"); colon > 0 && !strings.Contains(remote[:colon], "/") {
		host := remote[:colon]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		if host == "" {
			return ""
		}
		return hostKey(host, remote[colon+1:])
	}
	return localKey(remote)
}

// hostKey is a remote repository's key. A leading "/" does not count: hosts serve
// git@host:me/app and ssh://host/me/app as one repository.
func hostKey(host, p string) string {
	p = trimRepo(strings.TrimLeft(p, "/"))
	if p == "" || p == "." {
		return ""
	}
	return "host:" + host + "/" + p
}

func localKey(p string) string {
	p = trimRepo(path.Clean(p))
	if p == "" || p == "." {
		return ""
	}
	return "path:" + p
}

// trimRepo drops what does not change the repository: trailing slashes and a .git
// suffix ("/srv/app/.git" and "/srv/app.git" are "/srv/app").
func trimRepo(p string) string {
	p = strings.TrimRight(p, "/")
	p = strings.TrimSuffix(p, ".git")
	if p != "/" {
		p = strings.TrimRight(p, "/")
	}
	return p
}
