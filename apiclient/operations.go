package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/scar-dev/scar/dockerops"
)

// Project is one entry of GET /projects.
type Project struct {
	Name             string   `json:"name"`
	Workspace        string   `json:"workspace"`
	Production       string   `json:"production"`
	ComposeProject   string   `json:"compose_project,omitempty"`
	Containers       []string `json:"containers"`
	PrimaryContainer string   `json:"primary_container,omitempty"`
	AutoDetect       bool     `json:"auto_detect"`
	Default          bool     `json:"default"`
}

// Projects lists the server's projects.
func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	var v struct {
		Projects []Project `json:"projects"`
	}
	err := c.do(ctx, http.MethodGet, "/projects", nil, nil, &v)
	return v.Projects, err
}

// Status is a project's status.
func (c *Client) Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
	var st dockerops.ProjectStatus
	if err := c.do(ctx, http.MethodGet, projectPath(project, "status"), nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// LogsQuery selects log lines: the zero value asks for the primary container's last
// 50 lines.
type LogsQuery struct {
	Container string
	Lines     int
	// Since is a duration ("15m") or an RFC 3339 time.
	Since string
	// Grep keeps the lines that contain it, case-insensitively.
	Grep string
}

func (q LogsQuery) values() url.Values {
	v := url.Values{}
	if q.Container != "" {
		v.Set("container", q.Container)
	}
	if q.Lines > 0 {
		v.Set("lines", strconv.Itoa(q.Lines))
	}
	if q.Since != "" {
		v.Set("since", q.Since)
	}
	if q.Grep != "" {
		v.Set("grep", q.Grep)
	}
	return v
}

// Logs returns a container's last lines.
func (c *Client) Logs(ctx context.Context, project string, q LogsQuery) (*dockerops.LogsResult, error) {
	var res dockerops.LogsResult
	if err := c.do(ctx, http.MethodGet, projectPath(project, "logs"), q.values(), nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// LogsText returns a container's last lines as the server writes them in text/plain
// ("<RFC3339Nano time> <text>" a line). The caller closes it.
func (c *Client) LogsText(ctx context.Context, project string, q LogsQuery) (io.ReadCloser, error) {
	req, err := c.request(ctx, http.MethodGet, projectPath(project, "logs"), q.values(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// containersBody is the body of restart, stop and start.
type containersBody struct {
	Containers []string `json:"containers,omitempty"`
}

// Restart restarts the named containers of project (none: all of them) and waits for
// them to be running and healthy. When a container did not come back the server
// answers 500 restart_failed with the per-container result: Restart then returns both
// the result and the *Error.
func (c *Client) Restart(ctx context.Context, project string, containers ...string) (*dockerops.RestartResult, error) {
	return c.containersOp(ctx, project, "restart", containers)
}

// Stop stops the named containers of project (none: all of them).
func (c *Client) Stop(ctx context.Context, project string, containers ...string) (*dockerops.RestartResult, error) {
	return c.containersOp(ctx, project, "stop", containers)
}

// Start starts the named containers of project (none: all of them) and waits for them
// to be running and healthy.
func (c *Client) Start(ctx context.Context, project string, containers ...string) (*dockerops.RestartResult, error) {
	return c.containersOp(ctx, project, "start", containers)
}

// containersOp posts a restart, stop or start. Its failure answer carries the
// per-container result beside the error (errorFrom keeps it).
func (c *Client) containersOp(ctx context.Context, project, op string, containers []string) (*dockerops.RestartResult, error) {
	req, err := c.request(ctx, http.MethodPost, projectPath(project, op), nil, containersBody{Containers: containers})
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.result != nil {
		return apiErr.result, err
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res dockerops.RestartResult
	if err := decode(resp, http.MethodPost, projectPath(project, op), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// containersFailed reports whether code is the server's code of a restart, stop or
// start in which a container did not end as asked (restart_failed, stop_failed,
// start_failed): its answer holds the per-container result.
func containersFailed(code string) bool {
	switch code {
	case "restart_failed", "stop_failed", "start_failed":
		return true
	}
	return false
}

// Plan is the answer of a deploy's dry run.
type Plan struct {
	Plan            dockerops.DeployPlan `json:"plan"`
	NothingToDeploy bool                 `json:"nothing_to_deploy"`
}

// PlanDeploy returns what a deploy of project would do, changing nothing (any token).
func (c *Client) PlanDeploy(ctx context.Context, project string) (*Plan, error) {
	return c.PlanDeployRef(ctx, project, "")
}

// PlanDeployRef is PlanDeploy of a git project's ref (a sha, a branch or a tag; ""
// is its branch's head). The plan's Commit is the commit it resolved to.
func (c *Client) PlanDeployRef(ctx context.Context, project, ref string) (*Plan, error) {
	body := map[string]any{"dry_run": true}
	if ref != "" {
		body["ref"] = ref
	}
	var p Plan
	if err := c.do(ctx, http.MethodPost, projectPath(project, "deploy"), nil, body, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Deploy starts a deploy of project, which runs on the server in the background:
// follow it with Events or Wait. fingerprint, when not empty, is the Fingerprint of
// the plan the caller saw: the server deploys only that plan, else answers 409
// plan_changed and deploys nothing. When production already matches the workspace the
// answer has Status dockerops.DeployNothingToDo, its Plan, and no ID.
func (c *Client) Deploy(ctx context.Context, project, fingerprint string) (*dockerops.Deployment, error) {
	return c.DeployRef(ctx, project, fingerprint, "")
}

// DeployRef is Deploy of a git project's ref: pass the sha of the plan's Commit to
// deploy exactly the commit that was shown.
func (c *Client) DeployRef(ctx context.Context, project, fingerprint, ref string) (*dockerops.Deployment, error) {
	body := map[string]string{}
	if fingerprint != "" {
		body["plan_fingerprint"] = fingerprint
	}
	if ref != "" {
		body["ref"] = ref
	}
	return c.started(ctx, projectPath(project, "deploy"), body)
}

// Rollback starts a rollback of project's last deploy, as Deploy does.
func (c *Client) Rollback(ctx context.Context, project string) (*dockerops.Deployment, error) {
	return c.started(ctx, projectPath(project, "rollback"), nil)
}

func (c *Client) started(ctx context.Context, path string, body any) (*dockerops.Deployment, error) {
	var d dockerops.Deployment
	if err := c.do(ctx, http.MethodPost, path, nil, body, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// History returns project's deploys and rollbacks, newest first; limit 0 asks for the
// server's default (50).
func (c *Client) History(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var v struct {
		Deployments []dockerops.Deployment `json:"deployments"`
	}
	err := c.do(ctx, http.MethodGet, projectPath(project, "deployments"), q, nil, &v)
	return v.Deployments, err
}

// Deployment returns one deploy or rollback with its events so far.
func (c *Client) Deployment(ctx context.Context, id string) (*dockerops.Deployment, error) {
	var d dockerops.Deployment
	if err := c.do(ctx, http.MethodGet, "/deployments/"+url.PathEscape(id), nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
