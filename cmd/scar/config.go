package main

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// config is scar's environment; every variable is documented in the README.
type config struct {
	ListenAddr     string `env:"SCAR_LISTEN_ADDR" envDefault:":8080"`
	ProjectsFile   string `env:"SCAR_PROJECTS_FILE" envDefault:"/workspace/.scar-projects.json"`
	StateDir       string `env:"SCAR_STATE_DIR" envDefault:"./.scar-state"`
	DefaultProject string `env:"SCAR_DEFAULT_PROJECT"`

	APITokens     []string `env:"SCAR_API_TOKENS"`
	APIReadTokens []string `env:"SCAR_API_READ_TOKENS"`

	TelegramToken         string        `env:"SCAR_TELEGRAM_TOKEN"`
	TelegramAPIURL        string        `env:"SCAR_TELEGRAM_API_URL" envDefault:"https://api.telegram.org"`
	TelegramMode          string        `env:"SCAR_TELEGRAM_MODE" envDefault:"webhook"`
	TelegramWebhookPath   string        `env:"SCAR_TELEGRAM_WEBHOOK_PATH" envDefault:"/telegram/webhook"`
	TelegramWebhookSecret string        `env:"SCAR_TELEGRAM_WEBHOOK_SECRET"`
	TelegramWebhookURL    string        `env:"SCAR_TELEGRAM_WEBHOOK_URL"`
	TelegramAllowedUsers  []int64       `env:"SCAR_TELEGRAM_ALLOWED_USERS"`
	TelegramReadonlyUsers []int64       `env:"SCAR_TELEGRAM_READONLY_USERS"`
	TelegramAllowedChats  []int64       `env:"SCAR_TELEGRAM_ALLOWED_CHATS"`
	ConfirmTTL            time.Duration `env:"SCAR_CONFIRM_TTL" envDefault:"2m"`
	// AlertChats get every alert; projects add theirs with alert_chats.
	AlertChats  []int64       `env:"SCAR_ALERT_CHATS"`
	AlertMaxAge time.Duration `env:"SCAR_ALERT_MAX_AGE" envDefault:"1h"`
	// FollowMax is how long one log follow (logs?follow=true) lasts at most.
	FollowMax time.Duration `env:"SCAR_FOLLOW_MAX" envDefault:"1h"`
	// GitTimeout bounds each git call that talks to a git project's remote (fetch).
	GitTimeout time.Duration `env:"SCAR_GIT_TIMEOUT" envDefault:"2m"`

	TrustedProxies []string `env:"SCAR_TRUSTED_PROXIES"`
	ComposeCommand string   `env:"SCAR_COMPOSE_COMMAND"`
	LogFormat      string   `env:"SCAR_LOG_FORMAT" envDefault:"json"`
	// ContainerMetrics adds per-container series of the configured projects to
	// /metrics, read from the engine at scrape time (containerMetricsTimeout).
	ContainerMetrics bool `env:"SCAR_CONTAINER_METRICS"`
	// Retention is how long history, events and the audit log are kept (retention.go).
	Retention string `env:"SCAR_RETENTION" envDefault:"90d"`

	// DockerHost is the docker CLI's variable; DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
	// are read by the Docker client itself.
	DockerHost string `env:"DOCKER_HOST"`

	// trustedPrefixes is TrustedProxies parsed.
	trustedPrefixes []netip.Prefix
	// retention is Retention parsed; 0 keeps everything.
	retention time.Duration
	// environ is the environment run was given, whole: the children scar starts take
	// theirs from it, filtered (see internal/childproc).
	environ []string
}

// loadConfig reads and checks the environment. Every problem is reported, each naming
// its variable.
func loadConfig(environ []string) (*config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	var cfg config
	// A variable the env library could not parse is reported once, by it; scar's own
	// checks below then skip it, and report every other bad variable too.
	problems, unparsed := envErrors(env.ParseWithOptions(&cfg, env.Options{Environment: vars}))
	check := func(name string, bad bool, problem string) {
		if bad && !unparsed[name] {
			problems = append(problems, name+": "+problem)
		}
	}
	cfg.environ = environ
	cfg.APITokens = nonEmpty(cfg.APITokens)
	cfg.APIReadTokens = nonEmpty(cfg.APIReadTokens)
	for _, p := range nonEmpty(cfg.TrustedProxies) {
		prefix, err := parsePrefix(p)
		if err != nil {
			check("SCAR_TRUSTED_PROXIES", true, fmt.Sprintf("%q is not a CIDR or IP address", p))
			continue
		}
		cfg.trustedPrefixes = append(cfg.trustedPrefixes, prefix)
	}
	check("SCAR_TELEGRAM_MODE", cfg.TelegramMode != "webhook" && cfg.TelegramMode != "polling",
		fmt.Sprintf("%q is neither webhook nor polling", cfg.TelegramMode))
	check("SCAR_TELEGRAM_WEBHOOK_SECRET", cfg.TelegramToken != "" && cfg.TelegramMode == "webhook" && cfg.TelegramWebhookSecret == "",
		"required in webhook mode (Telegram sends it back in X-Telegram-Bot-Api-Secret-Token)")
	check("SCAR_TELEGRAM_WEBHOOK_SECRET", cfg.TelegramWebhookSecret != "" && !validWebhookSecret(cfg.TelegramWebhookSecret),
		fmt.Sprintf("Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - only (this one has %d characters%s); setWebhook would refuse it",
			len(cfg.TelegramWebhookSecret), secretCharsetHint(cfg.TelegramWebhookSecret)))
	for _, id := range cfg.TelegramAllowedChats {
		check("SCAR_TELEGRAM_ALLOWED_CHATS", id >= 0,
			fmt.Sprintf("%d is not a group chat id (those are negative, like -1001234567890); private chats of allowed users need no entry", id))
	}
	for _, id := range cfg.AlertChats {
		check("SCAR_ALERT_CHATS", id == 0, "0 is not a chat id: use a user id for a private chat, or a negative group id like -1001234567890")
	}
	check("SCAR_ALERT_MAX_AGE", cfg.AlertMaxAge <= 0, fmt.Sprintf("%s must be positive", cfg.AlertMaxAge))
	check("SCAR_FOLLOW_MAX", cfg.FollowMax <= 0, fmt.Sprintf("%s must be positive", cfg.FollowMax))
	check("SCAR_GIT_TIMEOUT", cfg.GitTimeout <= 0, fmt.Sprintf("%s must be positive", cfg.GitTimeout))
	if d, err := parseRetention(cfg.Retention); err != nil {
		problems = append(problems, err.Error())
	} else {
		cfg.retention = d
	}
	check("SCAR_TELEGRAM_WEBHOOK_PATH", !strings.HasPrefix(cfg.TelegramWebhookPath, "/"),
		fmt.Sprintf("%q must start with /", cfg.TelegramWebhookPath))
	check("SCAR_CONFIRM_TTL", cfg.ConfirmTTL <= 0, fmt.Sprintf("%s must be positive", cfg.ConfirmTTL))
	check("SCAR_LOG_FORMAT", cfg.LogFormat != "json" && cfg.LogFormat != "text",
		fmt.Sprintf("%q is neither json nor text", cfg.LogFormat))
	for _, tokens := range []struct {
		name string
		list []string
	}{{"SCAR_API_TOKENS", cfg.APITokens}, {"SCAR_API_READ_TOKENS", cfg.APIReadTokens}} {
		short := 0
		for _, t := range tokens.list {
			if len(t) < 16 {
				short++
			}
		}
		check(tokens.name, short > 0, fmt.Sprintf("every token must be at least 16 characters (%d of %d are shorter)", short, len(tokens.list)))
	}
	// A token in both lists has full rights (the higher wins): one moved to the
	// read-only list but left in the full one would keep them without a word.
	both := 0
	for _, t := range cfg.APIReadTokens {
		if slices.Contains(cfg.APITokens, t) {
			both++
		}
	}
	check("SCAR_API_READ_TOKENS", both > 0, fmt.Sprintf("%d of %d tokens are also in SCAR_API_TOKENS, which gives them full rights: remove each from one list", both, len(cfg.APIReadTokens)))
	if len(problems) > 0 {
		return nil, fmt.Errorf("environment: %s", strings.Join(problems, "; "))
	}
	return &cfg, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// userIDs formats ids for log lines.
func userIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// envErrors rewrites the env library's errors, which name struct fields, as problems
// naming the variables the user set, and returns the names of those variables.
func envErrors(err error) (problems []string, vars map[string]bool) {
	vars = make(map[string]bool)
	if err == nil {
		return nil, vars
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []string{err.Error()}, vars
	}
	t := reflect.TypeOf(config{})
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name := f.Tag.Get("env")
				vars[name] = true
				problems = append(problems, fmt.Sprintf("%s: %s", name, parseProblem(pe.Err)))
				continue
			}
		}
		problems = append(problems, e.Error())
	}
	return problems, vars
}

// parseProblem says what was wrong with a value in the user's words rather than
// strconv's.
func parseProblem(err error) string {
	var num *strconv.NumError
	if errors.As(err, &num) {
		return fmt.Sprintf("%q is not a whole number", num.Num)
	}
	return err.Error()
}

// validWebhookSecret reports whether s is a secret_token Telegram's setWebhook takes:
// 1-256 characters, each A-Z, a-z, 0-9, _ or -.
func validWebhookSecret(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !secretChar(r) {
			return false
		}
	}
	return true
}

func secretChar(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// secretCharsetHint says where the first character of s Telegram would refuse is,
// without showing any of the secret.
func secretCharsetHint(s string) string {
	for i, r := range []rune(s) {
		if !secretChar(r) {
			return fmt.Sprintf(", and a character it refuses at position %d", i+1)
		}
	}
	return ""
}
