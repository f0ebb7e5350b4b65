package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/internal/telegramfake"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// fakeOps is Operations made of functions, for tests of the bot's own logic.
type fakeOps struct {
	StatusFn  func(ctx context.Context, project string) (*dockerops.ProjectStatus, error)
	LogsFn    func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error)
	RestartFn func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
}

var _ Operations = (*fakeOps)(nil)

func (f *fakeOps) Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
	return f.StatusFn(ctx, project)
}

func (f *fakeOps) Logs(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
	return f.LogsFn(ctx, project, req)
}

func (f *fakeOps) Restart(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
	return f.RestartFn(ctx, project, req, who, progress)
}

// fakeDeploys is Deployer made of functions.
type fakeDeploys struct {
	PlanDeployFn   func(ctx context.Context, project string) (*dockerops.DeployPlan, error)
	DeployFn       func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	PlanRollbackFn func(ctx context.Context, project string) (*dockerops.Deployment, error)
	RollbackFn     func(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	HistoryFn      func(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error)
	DeploymentFn   func(ctx context.Context, id string) (*dockerops.Deployment, error)
	CancelFn       func(ctx context.Context, id string, who dockerops.Actor) (*dockerops.Deployment, error)
	PromoteFn      func(ctx context.Context, from, to string) (*gitsource.Commit, error)
}

func (f *fakeDeploys) PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error) {
	return f.PromoteFn(ctx, from, to)
}

func (f *fakeDeploys) CancelDeployment(ctx context.Context, id string, who dockerops.Actor) (*dockerops.Deployment, error) {
	return f.CancelFn(ctx, id, who)
}

var _ Deployer = (*fakeDeploys)(nil)

func (f *fakeDeploys) PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
	return f.PlanDeployFn(ctx, project)
}

func (f *fakeDeploys) Deploy(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
	return f.DeployFn(ctx, project, who, progress)
}

func (f *fakeDeploys) PlanRollback(ctx context.Context, project string) (*dockerops.Deployment, error) {
	return f.PlanRollbackFn(ctx, project)
}

func (f *fakeDeploys) Rollback(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error) {
	return f.RollbackFn(ctx, project, who, progress)
}

func (f *fakeDeploys) History(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) {
	return f.HistoryFn(ctx, project, limit)
}

func (f *fakeDeploys) Deployment(ctx context.Context, id string) (*dockerops.Deployment, error) {
	return f.DeploymentFn(ctx, id)
}

// Users of the tests.
var (
	admin    = telegramfake.User{ID: 42, Username: "sam"}
	admin2   = telegramfake.User{ID: 43, Username: "kim"}
	reader   = telegramfake.User{ID: 7, Username: "ro"}
	stranger = telegramfake.User{ID: 666, Username: "eve"}
	robot    = telegramfake.User{ID: 99, Username: "other_bot", IsBot: true}
)

const (
	testSecret = "s3cret-token_value"
	groupChat  = int64(-1001)
)

// testClock is real time plus an offset the test moves forward.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// seedProjects is the seed's projects file plus a second project only admin may use.
const seedProjects = `{
  "project-orchestrator": {
    "workspace": "/workspace/project-orchestrator",
    "production": "/home/samuel/po",
    "compose_project": "po",
    "containers": ["backend", "po-postgres-1", "po-redis-1"],
    "primary_container": "backend",
    "auto_detect": true,
    "default": true
  },
  "secret-app": {
    "workspace": "/workspace/secret",
    "production": "/srv/secret",
    "containers": ["secret-web"],
    "allowed_users": [42]
  }
}`

// writeProjects writes a projects file and returns its store.
func writeProjects(t testing.TB, content string) *projects.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".scar-projects.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := projects.NewStore(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// alertsFromStore, as Deps.Alerts in a harness's tweak, turns alerts on with the
// harness's store (opened only at start).
var alertsFromStore AlertStore = (*store.DB)(nil)

// harness is a bot on the fake Bot API with its webhook served by httptest.
type harness struct {
	t       *testing.T
	api     *telegramfake.Server
	bot     *Bot
	hook    *httptest.Server
	db      *store.DB
	dbDir   string
	ops     *fakeOps
	deploys *fakeDeploys
	clock   *testClock
	reg     *prometheus.Registry
	metrics *metrics.Metrics
	cfg     Config
	deps    Deps
	nextID  int
	markers int
}

// newHarness starts a bot in webhook mode. tweak may change the config and deps
// before the bot is built.
func newHarness(t *testing.T, tweak ...func(*Config, *Deps)) *harness {
	t.Helper()
	h := &harness{t: t, api: telegramfake.New(t), clock: &testClock{}, dbDir: t.TempDir(), nextID: 1000}
	h.ops = &fakeOps{
		StatusFn: func(ctx context.Context, project string) (*dockerops.ProjectStatus, error) {
			return seedStatus(project), nil
		},
		LogsFn: func(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error) {
			return &dockerops.LogsResult{Project: project, Container: "backend", Lines: numberedLines(req.Lines)}, nil
		},
		RestartFn: func(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error) {
			return restartAll(project, progress), nil
		},
	}
	h.deploys = &fakeDeploys{
		PlanDeployFn: func(ctx context.Context, project string) (*dockerops.DeployPlan, error) {
			return &dockerops.DeployPlan{Project: project, Changed: []string{"app.py"}, Bytes: 2048, Services: []string{"backend"}}, nil
		},
		HistoryFn: func(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error) { return nil, nil },
		PlanRollbackFn: func(ctx context.Context, project string) (*dockerops.Deployment, error) {
			return nil, fmt.Errorf("no deploy of %s: %w", project, dockerops.ErrNotFound)
		},
	}
	h.reg = prometheus.NewRegistry()
	h.metrics = metrics.New(h.reg, "test")
	h.cfg = Config{
		Token:         telegramfake.Token,
		APIURL:        h.api.URL,
		Mode:          ModeWebhook,
		WebhookSecret: testSecret,
		AllowedUsers:  []int64{admin.ID, admin2.ID},
		ReadOnlyUsers: []int64{reader.ID},
		AllowedChats:  []int64{groupChat},
		ConfirmTTL:    2 * time.Minute,
		EditInterval:  5 * time.Millisecond,
		ChatRate:      1000,
		GlobalRate:    1000,
		Now:           h.clock.Now,
	}
	h.deps = Deps{
		Ops:      h.ops,
		Deploys:  h.deploys,
		Projects: writeProjects(t, seedProjects),
		Metrics:  h.metrics,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, f := range tweak {
		f(&h.cfg, &h.deps)
	}
	h.start()
	return h
}

// start opens the store and starts a bot on it (again after restart).
func (h *harness) start() {
	t := h.t
	t.Helper()
	db, err := store.Open(context.Background(), h.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	deps := h.deps
	deps.Updates, deps.Audit = db, db
	if deps.Alerts == alertsFromStore {
		deps.Alerts = db
	}
	bot, err := New(h.cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.bot = bot
	h.hook = httptest.NewServer(bot.WebhookHandler())
	t.Cleanup(h.stop)
}

// stop shuts the bot down and closes its store; calling it twice is harmless.
func (h *harness) stop() {
	if h.bot == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.bot.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	h.hook.Close()
	h.db.Close()
	h.bot = nil
}

// restart stops the bot and starts a new one on the same state directory.
func (h *harness) restart() {
	h.stop()
	h.start()
}

// id returns a fresh update id.
func (h *harness) id() int {
	h.nextID++
	return h.nextID
}

// post sends an update to the webhook with the right secret and wants 200.
func (h *harness) post(body []byte) {
	h.t.Helper()
	if code := h.postSecret(testSecret, body); code != http.StatusOK {
		h.t.Fatalf("webhook answered %d, want 200", code)
	}
}

func (h *harness) postSecret(secret string, body []byte) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.hook.URL, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(secretHeader, secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// send posts a text message from user in chat.
func (h *harness) send(chat int64, from telegramfake.User, text string) {
	h.t.Helper()
	h.post(telegramfake.Message(h.id(), chat, from, text))
}

// press posts a button press and returns the callback query's id.
func (h *harness) press(chat int64, from telegramfake.User, messageID int, data string) string {
	h.t.Helper()
	id := h.id()
	h.post(telegramfake.Callback(id, chat, from, messageID, data))
	return fmt.Sprintf("cq%d", id)
}

// answerTo waits for the answerCallbackQuery of the press with callback query id and
// returns its text.
func (h *harness) answerTo(id string) string {
	h.t.Helper()
	var text string
	h.api.WaitFor(h.t, 10*time.Second, "the answer to press "+id, func(calls []telegramfake.Call) bool {
		for _, c := range calls {
			if c.Method == "answerCallbackQuery" && c.OK() && c.String("callback_query_id") == id {
				text = c.String("text")
				return true
			}
		}
		return false
	})
	return text
}

// waitSent waits for a message or edit in chat whose rendered text contains want.
func (h *harness) waitSent(chat int64, want string) telegramfake.Call {
	h.t.Helper()
	var found telegramfake.Call
	h.api.WaitFor(h.t, 10*time.Second, fmt.Sprintf("a message in chat %d containing %q", chat, want), func([]telegramfake.Call) bool {
		for _, c := range h.api.Sent() {
			if c.Int64("chat_id") == chat && strings.Contains(rendered(h.t, c), want) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// sentTo returns the rendered texts of messages and edits in chat, in order.
func (h *harness) sentTo(chat int64) []string {
	var out []string
	for _, c := range h.api.Sent() {
		if c.Int64("chat_id") == chat {
			out = append(out, rendered(h.t, c))
		}
	}
	return out
}

// marker sends a unique unknown command from admin in chat and waits for its answer:
// everything sent to chat before it has been handled, as a chat's updates run in order.
func (h *harness) marker(chat int64) {
	h.t.Helper()
	h.markers++
	name := fmt.Sprintf("marker_%d", h.markers)
	h.send(chat, admin, "/"+name+"@"+telegramfake.BotUsername)
	h.waitSent(chat, "I don't know /"+name+".")
}

// updates returns scar_telegram_updates_total for kind and outcome.
func (h *harness) updates(kind, outcome string) float64 {
	return counter(h.t, h.metrics.TelegramUpdates.WithLabelValues(kind, outcome))
}

// requests returns scar_telegram_requests_total for method and outcome.
func (h *harness) requests(method, outcome string) float64 {
	return counter(h.t, h.metrics.TelegramRequests.WithLabelValues(method, outcome))
}

func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// rendered is what the user sees of a message, edit or document caption.
func rendered(t testing.TB, c telegramfake.Call) string {
	t.Helper()
	key := "text"
	if c.Method == "sendDocument" {
		key = "caption"
	}
	s, err := telegramfake.Rendered(c.String(key), c.String("parse_mode"))
	if err != nil {
		t.Fatalf("%s with bad HTML: %v", c.Method, err)
	}
	return s
}

// buttons returns the callback data of a call's inline keyboard.
func buttons(t testing.TB, c telegramfake.Call) []string {
	t.Helper()
	if !c.Has("reply_markup") {
		return nil
	}
	var markup struct {
		InlineKeyboard [][]struct {
			Text         string `json:"text"`
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if err := c.Decode("reply_markup", &markup); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, row := range markup.InlineKeyboard {
		for _, b := range row {
			out = append(out, b.CallbackData)
		}
	}
	return out
}

// seedStatus is the seed's example project, healthy.
func seedStatus(project string) *dockerops.ProjectStatus {
	return &dockerops.ProjectStatus{
		Project:    project,
		Workspace:  "/workspace/project-orchestrator",
		Production: "/home/samuel/po",
		Containers: []dockerops.ContainerStatus{
			{Name: "backend", State: "running", Health: dockerops.HealthHealthy, UptimeSeconds: 2*3600 + 15*60, Ports: []string{"8001→8000/tcp"}, Image: "po-backend:latest", Primary: true},
			{Name: "po-postgres-1", State: "running", Health: dockerops.HealthHealthy, UptimeSeconds: 86400 * 3, Image: "postgres:16"},
			{Name: "po-redis-1", State: "running", Health: dockerops.HealthNone, UptimeSeconds: 42, Image: "redis:7"},
		},
	}
}

// numberedLines returns n log lines "line 1" ... "line n".
func numberedLines(n int) []dockerops.LogLine {
	out := make([]dockerops.LogLine, n)
	for i := range out {
		out[i] = dockerops.LogLine{Stream: "stdout", Text: fmt.Sprintf("line %d", i+1)}
	}
	return out
}

// restartAll reports each seed container restarting and back, as dockerops does.
func restartAll(project string, progress dockerops.Progress) *dockerops.RestartResult {
	res := &dockerops.RestartResult{Project: project, OK: true, DurationMS: 5200}
	for _, c := range seedStatus(project).Containers {
		progress(dockerops.Event{Time: time.Now(), Stage: "restart", Container: c.Name, Message: "restarting"})
		r := dockerops.ContainerResult{Name: c.Name, OK: true, State: "running", Health: c.Health, DurationMS: 2100}
		progress(dockerops.Event{Time: time.Now(), Stage: "restart", Container: c.Name, Message: "restarted", Result: &r})
		res.Containers = append(res.Containers, r)
	}
	return res
}

// testWriter sends the bot's log to the test's.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
