// Package handlers is scar's Telegram front: webhook and long-polling intake, command
// parsing, authorization, confirmations and replies. It turns each command into one
// operation of dockerops and its result into HTML text; it reads no environment and
// talks to Telegram only through telego, pointed at the configured Bot API server.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mymmrac/telego"

	"github.com/scar-dev/scar/confirm"
	"github.com/scar-dev/scar/dockerops"
	"github.com/scar-dev/scar/gitsource"
	"github.com/scar-dev/scar/metrics"
	"github.com/scar-dev/scar/projects"
	"github.com/scar-dev/scar/store"
)

// Intake modes.
const (
	ModeWebhook = "webhook"
	ModePolling = "polling"
)

// Operations are the dockerops calls that status, logs and restart make.
type Operations interface {
	Status(ctx context.Context, project string) (*dockerops.ProjectStatus, error)
	Logs(ctx context.Context, project string, req dockerops.LogsRequest) (*dockerops.LogsResult, error)
	Restart(ctx context.Context, project string, req dockerops.RestartRequest, who dockerops.Actor, progress dockerops.Progress) (*dockerops.RestartResult, error)
}

// Deployer is what deploy, promote, rollback and history ask of dockerops. Deploy and Rollback
// return the running record at once and report each stage to progress; the last event
// has stage "done" or "failed", after which Deployment returns the final record.
type Deployer interface {
	PlanDeploy(ctx context.Context, project string) (*dockerops.DeployPlan, error)
	Deploy(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	// PlanRollback returns the deploy a rollback would undo; ErrNotFound when none.
	PlanRollback(ctx context.Context, project string) (*dockerops.Deployment, error)
	Rollback(ctx context.Context, project string, who dockerops.Actor, progress dockerops.Progress) (*dockerops.Deployment, error)
	History(ctx context.Context, project string, limit int) ([]dockerops.Deployment, error)
	Deployment(ctx context.Context, id string) (*dockerops.Deployment, error)
	// CancelDeployment cancels a running deploy, which then rolls back.
	CancelDeployment(ctx context.Context, id string, who dockerops.Actor) (*dockerops.Deployment, error)
	// PromoteCommit returns the commit project from runs now, to deploy to project to
	// (PlanDeploy and Deploy under dockerops.WithRef and WithPromotion).
	PromoteCommit(ctx context.Context, from, to string) (*gitsource.Commit, error)
}

// Projects finds projects; projects.Store satisfies it.
type Projects interface {
	// Resolve returns the named project, or the default one for "".
	Resolve(name string) (*projects.Project, error)
	Names() []string
	// Default is the name used when none is given, "" when there is none.
	Default() string
}

// UpdateLog remembers processed update ids; store.DB satisfies it.
type UpdateLog interface {
	MarkUpdate(ctx context.Context, updateID int64, at time.Time) (bool, error)
	PruneUpdates(ctx context.Context, cutoff time.Time) (int64, error)
	// ForgetUpdate drops an id recorded for an update that is to be delivered again.
	ForgetUpdate(ctx context.Context, updateID int64) error
}

// AuditLog records and reads who did what; store.DB satisfies it.
type AuditLog interface {
	RecordAudit(ctx context.Context, e store.AuditEntry) error
	Audit(ctx context.Context, project string, since time.Time, limit int) ([]store.AuditEntry, error)
}

// Config is the bot's configuration. cmd/scar fills it from the environment; zero
// tuning values take the defaults below.
type Config struct {
	// Token is the bot token (SCAR_TELEGRAM_TOKEN).
	Token string
	// APIURL is the Bot API server (SCAR_TELEGRAM_API_URL); "" is Telegram's.
	APIURL string
	// Mode is ModeWebhook or ModePolling (SCAR_TELEGRAM_MODE).
	Mode string
	// WebhookSecret is compared with X-Telegram-Bot-Api-Secret-Token; required in
	// webhook mode (SCAR_TELEGRAM_WEBHOOK_SECRET).
	WebhookSecret string
	// WebhookURL, when set, is registered with setWebhook at Start (SCAR_TELEGRAM_WEBHOOK_URL).
	WebhookURL string
	// AllowedUsers may run every command (SCAR_TELEGRAM_ALLOWED_USERS).
	AllowedUsers []int64
	// ReadOnlyUsers may run status, logs, history, projects and help (SCAR_TELEGRAM_READONLY_USERS).
	ReadOnlyUsers []int64
	// AllowedChats are the group chats the bot answers in (SCAR_TELEGRAM_ALLOWED_CHATS);
	// allowed users' private chats are always answered. In any other group the bot
	// says nothing and audits commands as refused.
	AllowedChats []int64
	// ConfirmTTL is how long a confirmation waits (SCAR_CONFIRM_TTL, default 2m).
	ConfirmTTL time.Duration

	// MaxConnections is setWebhook's max_connections (default 40).
	MaxConnections int
	// Workers bounds the chats handled at once (default 8).
	Workers int
	// UpdateRetention is how long processed update ids are remembered (default 48h).
	UpdateRetention time.Duration
	// PollTimeout is getUpdates' long-poll timeout (default 30s).
	PollTimeout time.Duration
	// EditInterval is the least time between two edits of a progress message (default 1s).
	EditInterval time.Duration
	// MaxBodyBytes caps a webhook request body (default 1 MiB).
	MaxBodyBytes int64
	// ChatRate and GlobalRate are messages per second per private chat and in all
	// (default 1 and 30); group chats get a third of ChatRate, Telegram's 20 a minute.
	ChatRate, GlobalRate float64
	// Now is the clock of confirmations and audit entries (default time.Now).
	Now func() time.Time
	// HTTPClient makes the Bot API requests (default: a client without timeout;
	// every call has its own deadline).
	HTTPClient *http.Client

	// AlertChats get every alert (SCAR_ALERT_CHATS); projects add their alert_chats.
	// The bot also answers in them (commands and buttons of allowed users).
	AlertChats []int64
	// AlertMaxAge: an alert not delivered by then goes in a summary (SCAR_ALERT_MAX_AGE, default 1h).
	AlertMaxAge time.Duration
	// AlertFold is how long after an alert message new incidents are folded into it
	// by editing it (default 30s).
	AlertFold time.Duration
	// AlertSweep is how often the store is looked at for alerts without a poke (default 5s).
	AlertSweep time.Duration

	// FollowInterval is the least time between two edits of a log follow's message
	// (default 2s): a follow can change its text many times a second, and the
	// message must stay within Telegram's edit limits and readable.
	FollowInterval time.Duration
	// FollowMax is how long a log follow in Telegram lasts (default 10m), timed by
	// Now; it is not SCAR_FOLLOW_MAX, which bounds the REST follows.
	FollowMax time.Duration
}

// Deps are what the bot works with. Deploys may be nil until deploys exist: deploy,
// rollback and history then say so.
type Deps struct {
	Ops      Operations
	Deploys  Deployer
	Projects Projects
	Updates  UpdateLog
	Audit    AuditLog
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
	// Alerts, when set, turns on alert delivery (a notifier sweeping the store) and
	// the alert commands; store.DB satisfies it.
	Alerts AlertStore
	// Follower, when set, turns on /docker_logs … follow; *dockerops.Service
	// satisfies it.
	Follower Follower
}

// Bot is scar's Telegram bot.
type Bot struct {
	cfg      Config
	api      *telego.Bot
	ops      Operations
	deploys  Deployer
	projects Projects
	updates  UpdateLog
	audit    AuditLog
	metrics  *metrics.Metrics
	log      *slog.Logger
	now      func() time.Time

	confirms *confirm.Store
	send     *sender
	queue    *dispatcher
	access   *access
	username atomic.Pointer[string]

	alertStore AlertStore
	alerts     *notifier // nil without an alert store

	follower Follower // nil: follows are not available
	follows  *followRegistry

	// ctx outlives requests: a webhook answers at once and its work goes on after.
	ctx    context.Context
	cancel context.CancelFunc
	// work counts chat workers, running operations and progress messages.
	work      sync.WaitGroup
	closing   atomic.Bool
	lastPrune atomic.Int64
	lastGetMe atomic.Int64
}

// New checks cfg and builds the bot. It makes no Bot API call; Start does.
func New(cfg Config, deps Deps) (*Bot, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if deps.Ops == nil || deps.Projects == nil || deps.Updates == nil || deps.Audit == nil || deps.Metrics == nil {
		return nil, errors.New("telegram: Ops, Projects, Updates, Audit and Metrics are required")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	api, err := telego.NewBot(cfg.Token,
		telego.WithAPIServer(cfg.APIURL),
		telego.WithHTTPClient(cfg.HTTPClient),
		telego.WithLogger(telegoLogger{l: logger, token: cfg.Token}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	b := &Bot{
		cfg:      cfg,
		api:      api,
		ops:      deps.Ops,
		deploys:  deps.Deploys,
		projects: deps.Projects,
		updates:  deps.Updates,
		audit:    deps.Audit,
		metrics:  deps.Metrics,
		log:      logger,
		now:      cfg.Now,
		confirms: confirm.New(cfg.ConfirmTTL, confirm.WithClock(cfg.Now)),
		access:   newAccess(cfg.AllowedUsers, cfg.ReadOnlyUsers, cfg.AllowedChats, cfg.Now),
		follower: deps.Follower,
		follows:  newFollowRegistry(),
	}
	// The one root context of the bot's own work: webhook requests end before their
	// work does, so that work cannot hang on the request's context. Shutdown cancels it.
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.send = newSender(api, cfg.Token, cfg.ChatRate, cfg.GlobalRate, deps.Metrics, logger)
	b.queue = newDispatcher(cfg.Workers, &b.work)
	b.access.alertChat = b.isAlertChat
	if deps.Alerts != nil {
		b.alertStore = deps.Alerts
		b.alerts = newNotifier(b, deps.Alerts, cfg.AlertChats, cfg.AlertMaxAge, cfg.AlertFold, cfg.AlertSweep)
		// Alerts do not wait for Start: they wait in the store until the Bot API takes them.
		b.alerts.start(b.ctx)
	}
	return b, nil
}

func (c *Config) setDefaults() error {
	if c.Token == "" {
		return errors.New("telegram: no bot token")
	}
	switch c.Mode {
	case "":
		c.Mode = ModeWebhook
	case ModeWebhook, ModePolling:
	default:
		return fmt.Errorf("telegram: mode %q is neither %s nor %s", c.Mode, ModeWebhook, ModePolling)
	}
	if c.Mode == ModeWebhook && c.WebhookSecret == "" {
		return errors.New("telegram: webhook mode needs a webhook secret")
	}
	if c.APIURL == "" {
		c.APIURL = "https://api.telegram.org"
	}
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ConfirmTTL, 2 * time.Minute},
		{&c.UpdateRetention, 48 * time.Hour},
		{&c.PollTimeout, 30 * time.Second},
		{&c.EditInterval, time.Second},
		{&c.AlertMaxAge, time.Hour},
		{&c.AlertFold, 30 * time.Second},
		{&c.AlertSweep, 5 * time.Second},
		{&c.FollowInterval, 2 * time.Second},
		{&c.FollowMax, 10 * time.Minute},
	}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 40
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ChatRate <= 0 {
		c.ChatRate = 1
	}
	if c.GlobalRate <= 0 {
		c.GlobalRate = 30
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	return nil
}

// Start introduces the bot to the Bot API: getMe (for @botname commands),
// setMyCommands (the command menu) and, when a webhook URL is configured in webhook
// mode, setWebhook with the secret. Polling mode starts with RunPolling.
func (b *Bot) Start(ctx context.Context) error {
	var me *telego.User
	err := b.send.call(ctx, "getMe", 0, func(ctx context.Context) (err error) {
		me, err = b.api.GetMe(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("telegram: getMe: %w", err)
	}
	name := me.Username
	b.username.Store(&name)

	err = b.send.call(ctx, "setMyCommands", 0, func(ctx context.Context) error {
		return b.api.SetMyCommands(ctx, &telego.SetMyCommandsParams{Commands: menuCommands()})
	})
	if err != nil {
		return fmt.Errorf("telegram: setMyCommands: %w", err)
	}
	if b.cfg.Mode == ModeWebhook && b.cfg.WebhookURL != "" {
		err = b.send.call(ctx, "setWebhook", 0, func(ctx context.Context) error {
			return b.api.SetWebhook(ctx, &telego.SetWebhookParams{
				URL:            b.cfg.WebhookURL,
				SecretToken:    b.cfg.WebhookSecret,
				AllowedUpdates: allowedUpdates,
				MaxConnections: b.cfg.MaxConnections,
			})
		})
		if err != nil {
			return fmt.Errorf("telegram: setWebhook: %w", err)
		}
	}
	b.log.InfoContext(ctx, "telegram bot started", slog.String("username", name), slog.String("mode", b.cfg.Mode))
	return nil
}

// allowedUpdates are the update kinds scar asks Telegram for.
var allowedUpdates = []string{"message", "callback_query"}

// Username is the bot's username learnt at Start, "" before.
func (b *Bot) Username() string {
	if p := b.username.Load(); p != nil {
		return *p
	}
	return ""
}

// learnUsername asks getMe for the username when Start could not (Telegram was
// unreachable), at most once a minute, so that @botname commands work once it is.
func (b *Bot) learnUsername(ctx context.Context) string {
	if name := b.Username(); name != "" {
		return name
	}
	now := b.now().UnixNano()
	last := b.lastGetMe.Load()
	if now-last < int64(time.Minute) || !b.lastGetMe.CompareAndSwap(last, now) {
		return ""
	}
	var me *telego.User
	err := b.send.call(ctx, "getMe", 0, func(ctx context.Context) (err error) {
		me, err = b.api.GetMe(ctx)
		return err
	})
	if err != nil {
		return ""
	}
	b.username.Store(&me.Username)
	return me.Username
}

// Shutdown stops taking updates and waits for the work in flight: queued updates,
// running restarts and their progress messages. Log follows are ended (their messages
// say so), as they would otherwise run for minutes. When ctx ends first, the work is
// cancelled and ctx's error returned.
func (b *Bot) Shutdown(ctx context.Context) error {
	b.closing.Store(true)
	if b.alerts != nil {
		b.alerts.stop()
	}
	b.queue.close()
	b.follows.closeAll()
	done := make(chan struct{})
	go func() {
		b.work.Wait()
		close(done)
	}()
	select {
	case <-done:
		b.cancel()
		return nil
	case <-ctx.Done():
		b.cancel()
		return fmt.Errorf("telegram: shutdown: %w", ctx.Err())
	}
}

// background runs fn as tracked work on the bot's context. A panic in fn is logged
// and ends fn only; callers that must report one to a user recover it themselves.
func (b *Bot) background(fn func(ctx context.Context)) {
	b.work.Add(1)
	go func() {
		defer b.work.Done()
		defer func() {
			if r := recover(); r != nil {
				b.logPanic(b.ctx, "telegram: panic in background work", &panicError{value: r, stack: string(debug.Stack())})
			}
		}()
		fn(b.ctx)
	}()
}

// isAlertChat reports whether a chat gets alerts: listed in SCAR_ALERT_CHATS or in
// a project's alert_chats.
func (b *Bot) isAlertChat(chatID int64) bool {
	if slices.Contains(b.cfg.AlertChats, chatID) {
		return true
	}
	for _, n := range b.projects.Names() {
		if p, err := b.projects.Resolve(n); err == nil && slices.Contains(p.AlertChats, chatID) {
			return true
		}
	}
	return false
}

// telegoLogger sends telego's own messages to slog at debug level (the sender logs
// failed calls with their method), with the token cut out: telego's messages carry
// request URLs, and the token is part of every one.
type telegoLogger struct {
	l     *slog.Logger
	token string
}

func (t telegoLogger) Debugf(format string, args ...any) {
	t.l.Debug("telego", slog.String("message", redact(fmt.Sprintf(format, args...), t.token)))
}

func (t telegoLogger) Errorf(format string, args ...any) {
	t.l.Debug("telego error", slog.String("message", redact(fmt.Sprintf(format, args...), t.token)))
}

// redact removes the bot token from s.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<bot-token>")
}

// redactedError reads as err without the bot token and still unwraps to err.
type redactedError struct {
	err   error
	token string
}

func (e *redactedError) Error() string { return redact(e.err.Error(), e.token) }
func (e *redactedError) Unwrap() error { return e.err }
