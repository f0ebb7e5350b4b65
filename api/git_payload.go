package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// pushPayload is what scar reads of a push event's body: the fields GitHub, Gitea,
// Forgejo and GitLab send (and the plain signed form's ref and after). Everything
// else in the body is ignored.
type pushPayload struct {
	Ref   string `json:"ref"`
	After string `json:"after"`
	// CheckoutSHA is GitLab's commit to check out; null when the branch was deleted.
	CheckoutSHA *string `json:"checkout_sha"`
	Deleted     bool    `json:"deleted"`
	Repository  *struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		GitURL   string `json:"git_url"`
		HTMLURL  string `json:"html_url"`
		// GitLab's repository object.
		GitHTTPURL string `json:"git_http_url"`
		GitSSHURL  string `json:"git_ssh_url"`
		Homepage   string `json:"homepage"`
	} `json:"repository"`
	// Project is GitLab's.
	Project *struct {
		PathWithNamespace string `json:"path_with_namespace"`
		GitHTTPURL        string `json:"git_http_url"`
		GitSSHURL         string `json:"git_ssh_url"`
		WebURL            string `json:"web_url"`
	} `json:"project"`
	Pusher *struct {
		Name     string `json:"name"`
		Login    string `json:"login"`
		Username string `json:"username"`
	} `json:"pusher"`
	Sender *struct {
		Login    string `json:"login"`
		Username string `json:"username"`
	} `json:"sender"`
	UserUsername string `json:"user_username"`
	UserName     string `json:"user_name"`
}

// parsePushPayload reads a push event's body: JSON, or GitHub's form encoding
// (payload=<json>) for a hook set to application/x-www-form-urlencoded.
func parsePushPayload(contentType string, body []byte) (*pushPayload, error) {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/x-www-form-urlencoded") {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return nil, badBody("a form-encoded webhook needs a payload field holding the JSON")
		}
		body = []byte(form.Get("payload"))
	}
	var p pushPayload
	if err := json.Unmarshal(body, &p); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, badBody(fmt.Sprintf("field %q: want %s, got %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value))
		}
		return nil, badBody("not a JSON push event")
	}
	if p.Ref == "" {
		return nil, badBody(`no "ref": a push event names the pushed ref, such as refs/heads/main`)
	}
	return &p, nil
}

// commit is the pushed commit: GitLab's checkout_sha where it sends one, else after.
func (p *pushPayload) commit() string {
	if p.CheckoutSHA != nil && *p.CheckoutSHA != "" {
		return *p.CheckoutSHA
	}
	return p.After
}

// deletion reports whether the push deleted its ref.
func (p *pushPayload) deletion() bool {
	sha := p.commit()
	return p.Deleted || (sha != "" && strings.Trim(sha, "0") == "")
}

// repositoryURLs are the URLs the payload gives for its repository, any of which may
// be the one the project's git.remote names.
func (p *pushPayload) repositoryURLs() []string {
	var urls []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				urls = append(urls, s)
			}
		}
	}
	if r := p.Repository; r != nil {
		add(r.CloneURL, r.SSHURL, r.GitURL, r.HTMLURL, r.GitHTTPURL, r.GitSSHURL, r.Homepage)
	}
	if pr := p.Project; pr != nil {
		add(pr.GitHTTPURL, pr.GitSSHURL, pr.WebURL)
	}
	return urls
}

// repositoryName names the payload's repository for people.
func (p *pushPayload) repositoryName() string {
	switch {
	case p.Repository != nil && p.Repository.FullName != "":
		return p.Repository.FullName
	case p.Project != nil && p.Project.PathWithNamespace != "":
		return p.Project.PathWithNamespace
	}
	if urls := p.repositoryURLs(); len(urls) > 0 {
		return urls[0]
	}
	return ""
}

// pusher is who pushed, as the payload names them.
func (p *pushPayload) pusher() string {
	for _, s := range []string{p.UserUsername, p.UserName} {
		if s != "" {
			return s
		}
	}
	if p.Pusher != nil {
		for _, s := range []string{p.Pusher.Login, p.Pusher.Username, p.Pusher.Name} {
			if s != "" {
				return s
			}
		}
	}
	if p.Sender != nil {
		if p.Sender.Login != "" {
			return p.Sender.Login
		}
		return p.Sender.Username
	}
	return ""
}

// validSHA reports whether s is a full commit id: 40 (SHA-1) or 64 (SHA-256)
// hexadecimal digits.
func validSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
