package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	ta "github.com/mymmrac/telego/telegoapi"
	"golang.org/x/time/rate"

	"github.com/scar-dev/scar/metrics"
)

// Outcomes of one Bot API request, the outcome label of scar_telegram_requests_total.
const (
	requestSuccess     = "success"
	requestRateLimited = "rate_limited" // a 429, waited out and retried
	requestTransient   = "transient"    // a network error or 5xx, retried with pauses
	requestError       = "error"        // refused by the Bot API, not retried
)

const (
	// maxTransientRetries bounds the retries of a network error or 5xx. With the
	// backoff below they span about 80 seconds: a Bot API outage that short loses no
	// reply, and a longer one does not hold a chat for ever.
	maxTransientRetries = 12
	// maxBackoff caps the wait before one transient retry.
	maxBackoff = 10 * time.Second
	// maxRateLimitWaits bounds how often one call waits out a 429.
	maxRateLimitWaits = 5
	// maxRetryAfter is the longest 429 wait scar accepts; longer ones fail the call.
	maxRetryAfter = 2 * time.Minute
	// callTimeout bounds one Bot API request (getUpdates adds its poll timeout).
	callTimeout = 30 * time.Second
	// chatBurst lets a reply split in a few messages go out without waiting.
	chatBurst = 3
	// maxChatLimiters bounds the per-chat limiters kept; idle ones are dropped.
	maxChatLimiters = 1024
)

// sender makes every Bot API call: messages keep within Telegram's limits (a few per
// second per chat, 30 per second in all), a 429 is waited out for its retry_after,
// network errors and 5xx are retried with growing pauses for a minute or so, and every
// request is counted.
// Calls block their caller — a chat worker or a progress message, never intake.
type sender struct {
	api     *telego.Bot
	token   string
	metrics *metrics.Metrics
	log     *slog.Logger

	global   *rate.Limiter
	chatRate float64

	mu    sync.Mutex
	chats map[int64]*rate.Limiter

	// backoff is the wait before transient retry n (1, 2, ...).
	backoff func(n int) time.Duration
}

func newSender(api *telego.Bot, token string, chatRate, globalRate float64, m *metrics.Metrics, log *slog.Logger) *sender {
	return &sender{
		api:      api,
		token:    token,
		metrics:  m,
		log:      log,
		global:   rate.NewLimiter(rate.Limit(globalRate), int(max(1, globalRate))),
		chatRate: chatRate,
		chats:    make(map[int64]*rate.Limiter),
		backoff:  func(n int) time.Duration { return min(time.Duration(n*n)*250*time.Millisecond, maxBackoff) },
	}
}

// chatLimiter returns the limiter of a chat. Group chats (negative ids) get a third
// of the rate: Telegram allows about 20 messages a minute there.
func (s *sender) chatLimiter(chatID int64) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.chats[chatID]; ok {
		return l
	}
	if len(s.chats) >= maxChatLimiters {
		for id, l := range s.chats {
			if l.Tokens() >= chatBurst {
				delete(s.chats, id)
			}
		}
	}
	r := s.chatRate
	if chatID < 0 {
		r /= 3
	}
	l := rate.NewLimiter(rate.Limit(r), chatBurst)
	s.chats[chatID] = l
	return l
}

// call runs one Bot API request fn for method. chatID, when not 0, puts the request
// under that chat's limit and the global one.
func (s *sender) call(ctx context.Context, method string, chatID int64, fn func(ctx context.Context) error) error {
	transient, waits := 0, 0
	for {
		if chatID != 0 {
			if err := s.chatLimiter(chatID).Wait(ctx); err != nil {
				return err
			}
			if err := s.global.Wait(ctx); err != nil {
				return err
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		err := fn(callCtx)
		cancel()
		if err == nil || notModified(err) {
			s.count(method, requestSuccess)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *ta.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.ErrorCode == 429:
			s.count(method, requestRateLimited)
			wait := time.Second
			if apiErr.Parameters != nil && apiErr.Parameters.RetryAfter > 0 {
				wait = time.Duration(apiErr.Parameters.RetryAfter) * time.Second
			}
			waits++
			if waits > maxRateLimitWaits || wait > maxRetryAfter {
				return s.fail(ctx, method, err)
			}
			s.log.WarnContext(ctx, "telegram rate limit: waiting", slog.String("method", method), slog.Duration("retry_after", wait))
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		case errors.As(err, &apiErr) && apiErr.ErrorCode < 500:
			s.count(method, requestError)
			return s.fail(ctx, method, err)
		default:
			s.count(method, requestTransient)
			transient++
			if transient > maxTransientRetries {
				return s.fail(ctx, method, err)
			}
			wait := s.backoff(transient)
			s.log.WarnContext(ctx, "telegram request failed: retrying", slog.String("method", method),
				slog.Int("retry", transient), slog.Duration("wait", wait), slog.Any("error", &redactedError{err: err, token: s.token}))
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
}

// fail logs a request that will not be retried and returns its error, without the
// token that transport errors carry in their URL.
func (s *sender) fail(ctx context.Context, method string, err error) error {
	err = &redactedError{err: err, token: s.token}
	s.log.WarnContext(ctx, "telegram request failed", slog.String("method", method), slog.Any("error", err))
	return err
}

func (s *sender) count(method, outcome string) {
	s.metrics.TelegramRequests.WithLabelValues(method, outcome).Inc()
}

// notModified reports the harmless error of an edit that changes nothing.
func notModified(err error) bool {
	var apiErr *ta.Error
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 400 && strings.Contains(apiErr.Description, "message is not modified")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendMessage sends html to chat and returns the new message's id.
func (s *sender) sendMessage(ctx context.Context, chatID int64, html string, markup *telego.InlineKeyboardMarkup) (int, error) {
	params := &telego.SendMessageParams{
		ChatID:             telego.ChatID{ID: chatID},
		Text:               html,
		ParseMode:          telego.ModeHTML,
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
	}
	if markup != nil {
		params.ReplyMarkup = markup
	}
	var id int
	err := s.call(ctx, "sendMessage", chatID, func(ctx context.Context) error {
		msg, err := s.api.SendMessage(ctx, params)
		if err == nil {
			id = msg.MessageID
		}
		return err
	})
	return id, err
}

// editMessage replaces a message's text; a nil markup removes its buttons.
func (s *sender) editMessage(ctx context.Context, chatID int64, messageID int, html string, markup *telego.InlineKeyboardMarkup) error {
	params := &telego.EditMessageTextParams{
		ChatID:             telego.ChatID{ID: chatID},
		MessageID:          messageID,
		Text:               html,
		ParseMode:          telego.ModeHTML,
		LinkPreviewOptions: &telego.LinkPreviewOptions{IsDisabled: true},
	}
	if markup != nil {
		params.ReplyMarkup = markup
	}
	return s.call(ctx, "editMessageText", chatID, func(ctx context.Context) error {
		_, err := s.api.EditMessageText(ctx, params)
		return err
	})
}

// answerCallback answers a button press; text, when set, shows as a notice.
func (s *sender) answerCallback(ctx context.Context, id, text string, alert bool) error {
	return s.call(ctx, "answerCallbackQuery", 0, func(ctx context.Context) error {
		return s.api.AnswerCallbackQuery(ctx, &telego.AnswerCallbackQueryParams{CallbackQueryID: id, Text: text, ShowAlert: alert})
	})
}

// sendDocument sends data as a file named name with an HTML caption.
func (s *sender) sendDocument(ctx context.Context, chatID int64, name string, data []byte, caption string) error {
	return s.call(ctx, "sendDocument", chatID, func(ctx context.Context) error {
		// A fresh reader per attempt: a retried upload must send the whole file again.
		_, err := s.api.SendDocument(ctx, &telego.SendDocumentParams{
			ChatID:    telego.ChatID{ID: chatID},
			Document:  telego.InputFile{File: &namedBytes{name: name, r: bytes.NewReader(data)}},
			Caption:   caption,
			ParseMode: telego.ModeHTML,
		})
		return err
	})
}

// namedBytes is a file to upload.
type namedBytes struct {
	name string
	r    *bytes.Reader
}

func (n *namedBytes) Read(p []byte) (int, error) { return n.r.Read(p) }
func (n *namedBytes) Name() string               { return n.name }
