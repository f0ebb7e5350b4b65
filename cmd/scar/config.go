package main

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
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
	ConfirmTTL            time.Duration `env:"SCAR_CONFIRM_TTL" envDefault:"2m"`

	TrustedProxies []string `env:"SCAR_TRUSTED_PROXIES"`
	ComposeCommand string   `env:"SCAR_COMPOSE_COMMAND"`
	LogFormat      string   `env:"SCAR_LOG_FORMAT" envDefault:"json"`

	// DockerHost is the docker CLI's variable; DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
	// are read by the Docker client itself.
	DockerHost string `env:"DOCKER_HOST"`

	// trustedPrefixes is TrustedProxies parsed.
	trustedPrefixes []netip.Prefix
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
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return nil, fmt.Errorf("environment: %s", envErrors(err))
	}
	cfg.environ = environ
	cfg.APITokens = nonEmpty(cfg.APITokens)
	cfg.APIReadTokens = nonEmpty(cfg.APIReadTokens)
	var problems []string
	for _, p := range nonEmpty(cfg.TrustedProxies) {
		prefix, err := parsePrefix(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("SCAR_TRUSTED_PROXIES: %q is not a CIDR or IP address", p))
			continue
		}
		cfg.trustedPrefixes = append(cfg.trustedPrefixes, prefix)
	}
	switch cfg.TelegramMode {
	case "webhook", "polling":
	default:
		problems = append(problems, fmt.Sprintf("SCAR_TELEGRAM_MODE: %q is neither webhook nor polling", cfg.TelegramMode))
	}
	if cfg.TelegramToken != "" && cfg.TelegramMode == "webhook" && cfg.TelegramWebhookSecret == "" {
		problems = append(problems, "SCAR_TELEGRAM_WEBHOOK_SECRET: required in webhook mode (Telegram sends it back in X-Telegram-Bot-Api-Secret-Token)")
	}
	if !strings.HasPrefix(cfg.TelegramWebhookPath, "/") {
		problems = append(problems, fmt.Sprintf("SCAR_TELEGRAM_WEBHOOK_PATH: %q must start with /", cfg.TelegramWebhookPath))
	}
	if cfg.ConfirmTTL <= 0 {
		problems = append(problems, fmt.Sprintf("SCAR_CONFIRM_TTL: %s must be positive", cfg.ConfirmTTL))
	}
	switch cfg.LogFormat {
	case "json", "text":
	default:
		problems = append(problems, fmt.Sprintf("SCAR_LOG_FORMAT: %q is neither json nor text", cfg.LogFormat))
	}
	for _, t := range append(append([]string{}, cfg.APITokens...), cfg.APIReadTokens...) {
		if len(t) < 16 {
			problems = append(problems, "SCAR_API_TOKENS / SCAR_API_READ_TOKENS: every token must be at least 16 characters")
			break
		}
	}
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

// envErrors rewrites the env library's errors, which name struct fields, to name the
// variables the user set.
func envErrors(err error) string {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err.Error()
	}
	var msgs []string
	t := reflect.TypeOf(config{})
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				msgs = append(msgs, fmt.Sprintf("%s: %v", f.Tag.Get("env"), pe.Err))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}
