package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Credentials the suite gives the scar it starts.
const (
	apiToken      = "bench-token-0123456789abcdef"
	telegramToken = "123456789:AAbench-token-for-the-fake-api-0000"
	webhookSecret = "bench-webhook-secret"
	webhookPath   = "/telegram/webhook"
	// allowedUser may use the bot; the load's users are others (see webhook.go).
	allowedUser = 4242
)

// scarProc is a scar process the suite started, serving on 127.0.0.1.
type scarProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	log  *os.File
	http *http.Client
}

// benchProject is a project of the projects file the suite gives scar.
type benchProject struct {
	Workspace        string    `json:"workspace,omitempty"`
	Git              *benchGit `json:"git,omitempty"`
	Production       string    `json:"production"`
	ComposeProject   string    `json:"compose_project"`
	PrimaryContainer string    `json:"primary_container,omitempty"`
	AutoDetect       bool      `json:"auto_detect"`
	HealthTimeout    string    `json:"health_timeout"`
	AlertChats       []int64   `json:"alert_chats,omitempty"`
}

// fixtureProjects are the projects of the suite's fixtures, as scar is given them.
func fixtureProjects(f *fixtures) map[string]benchProject {
	ps := map[string]benchProject{}
	for name, p := range map[string]*composeProject{"status": f.status, "restart": f.restart, "deploy": f.deploy} {
		ps[name] = benchProject{Workspace: p.workspace, Production: p.production, ComposeProject: p.name,
			PrimaryContainer: p.services[0], AutoDetect: true, HealthTimeout: "60s"}
	}
	return ps
}

// startScar runs the scar under test: the fixtures' projects and more.
func startScar(ctx context.Context, bin, dir string, f *fixtures, more map[string]benchProject, botAPI string, compose []string) (*scarProc, error) {
	ps := fixtureProjects(f)
	for name, p := range more {
		ps[name] = p
	}
	return launchScar(ctx, bin, dir, "scar", ps, botAPI, compose)
}

// launchScar writes the projects file and runs a scar binary with its environment,
// logs to a file, until /readyz answers 200. name names its files in dir (log, state
// directory, pid file), so that several can run side by side.
func launchScar(ctx context.Context, bin, dir, name string, ps map[string]benchProject, botAPI string, compose []string) (*scarProc, error) {
	data, err := json.MarshalIndent(ps, "", "  ")
	if err != nil {
		return nil, err
	}
	projectsFile := filepath.Join(dir, name+"-projects.json")
	if err := os.WriteFile(projectsFile, data, 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCAR_LISTEN_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"SCAR_PROJECTS_FILE="+projectsFile,
		"SCAR_STATE_DIR="+filepath.Join(dir, name+"-state"),
		"SCAR_API_TOKENS="+apiToken,
		"SCAR_TELEGRAM_TOKEN="+telegramToken,
		"SCAR_TELEGRAM_API_URL="+botAPI,
		"SCAR_TELEGRAM_MODE=webhook",
		"SCAR_TELEGRAM_WEBHOOK_PATH="+webhookPath,
		"SCAR_TELEGRAM_WEBHOOK_SECRET="+webhookSecret,
		"SCAR_TELEGRAM_ALLOWED_USERS="+strconv.Itoa(allowedUser),
		"SCAR_COMPOSE_COMMAND="+strings.Join(compose, " "),
		"SCAR_LOG_FORMAT=json",
		pushSecretEnv+"="+pushSecret,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C of the run reaches the suite, which stops scar.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start scar: %w", err)
	}
	// run.sh's trap ends it by this id should the suite be killed.
	os.WriteFile(filepath.Join(dir, name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	s := &scarProc{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), log: logFile, http: newHTTPClient(128)}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.http.Get(s.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("scar not ready within 60s (log: %s)", logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends scar with SIGTERM, as a service manager would, and waits for it.
func (s *scarProc) stop() {
	if s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.log.Close()
}

// rss reads scar's resident set size (VmRSS) and its peak (VmHWM) in bytes.
func (s *scarProc) rss() (cur, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v) // "12345 kB"
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s: %w", k, err)
		}
		if k == "VmRSS" {
			cur = n << 10
		} else {
			peak = n << 10
		}
	}
	return cur, peak, sc.Err()
}

// do sends one API request and reads the whole answer; it fails on a status not in ok.
func (s *scarProc) do(method, path, body string, ok ...int) ([]byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if len(ok) == 0 {
		ok = []int{http.StatusOK}
	}
	if !slices.Contains(ok, resp.StatusCode) {
		return data, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	return data, nil
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
		},
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
