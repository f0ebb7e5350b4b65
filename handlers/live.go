package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mymmrac/telego"
)

// liveMessage is one message edited as an operation goes on. set never blocks: the
// latest text wins and is sent when the chat's limits and the edit interval allow,
// so a burst of progress events costs one edit. finish sends the final text.
type liveMessage struct {
	b      *Bot
	chatID int64

	mu    sync.Mutex
	msgID int // 0 until a message exists
	want  string
	final *reply
	// markup is the buttons under the message until it is final (a deploy's Cancel);
	// markupGen counts its changes, so that a change alone is sent too.
	markup    *telego.InlineKeyboardMarkup
	markupGen int
	// every is the least time between two edits.
	every time.Duration

	wake chan struct{}
	done chan struct{}
}

// newLive starts a live message that edits msgID, or sends a new message first when
// msgID is 0.
func (b *Bot) newLive(chatID int64, msgID int) *liveMessage {
	m := &liveMessage{b: b, chatID: chatID, msgID: msgID, every: b.cfg.EditInterval, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.background(m.run)
	return m
}

// newLiveMessage starts a new live message that opens with text and markup together
// (so that its first send carries both) and is edited at most once per every.
func (b *Bot) newLiveMessage(chatID int64, text string, markup *telego.InlineKeyboardMarkup, every time.Duration) *liveMessage {
	m := &liveMessage{b: b, chatID: chatID, want: text, markup: markup, markupGen: 1, every: every,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.poke()
	b.background(m.run)
	return m
}

// set makes text the message's next content.
func (m *liveMessage) set(text string) {
	m.mu.Lock()
	m.want = text
	m.mu.Unlock()
	m.poke()
}

// finish sends r as the message's final content and waits until it is sent. When r
// needs several messages, the first replaces the live one and the rest follow.
func (m *liveMessage) finish(ctx context.Context, r *reply) {
	m.mu.Lock()
	m.final = r
	m.mu.Unlock()
	m.poke()
	select {
	case <-m.done:
	case <-ctx.Done():
	}
}

// setMarkup puts buttons under the message until its final text replaces them.
func (m *liveMessage) setMarkup(k *telego.InlineKeyboardMarkup) {
	m.mu.Lock()
	m.markup = k
	m.markupGen++
	m.mu.Unlock()
	m.poke()
}

func (m *liveMessage) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *liveMessage) run(ctx context.Context) {
	defer close(m.done)
	var (
		sent    string
		sentGen int
	)
	for {
		select {
		case <-m.wake:
		case <-ctx.Done():
			return
		}
		m.mu.Lock()
		want, final, markup, gen := m.want, m.final, m.markup, m.markupGen
		m.mu.Unlock()

		if final != nil {
			m.sendFinal(ctx, final, sent, markup != nil)
			return
		}
		if want != sent || gen != sentGen {
			if m.show(ctx, want, markup) {
				sent, sentGen = want, gen
			}
			// Telegram allows a few edits per second per chat at most; progress
			// rarely needs more than one a second to read well.
			if sleep(ctx, m.every) != nil {
				return
			}
		}
	}
}

// show puts text and markup (nil: no buttons) in the message, sending it first if
// there is none yet.
func (m *liveMessage) show(ctx context.Context, text string, markup *telego.InlineKeyboardMarkup) bool {
	if m.msgID == 0 {
		id, err := m.b.send.sendMessage(ctx, m.chatID, text, markup)
		if err != nil {
			return false
		}
		m.mu.Lock()
		m.msgID = id
		m.mu.Unlock()
		return true
	}
	if err := m.b.send.editMessage(ctx, m.chatID, m.msgID, text, markup); err != nil {
		m.b.log.DebugContext(ctx, "telegram: progress edit failed", slog.Int64("chat_id", m.chatID), slog.Any("error", err))
		return false
	}
	return true
}

// sendFinal puts r in the message; hadButtons says buttons must be taken away even
// when the text is the same.
func (m *liveMessage) sendFinal(ctx context.Context, r *reply, sent string, hadButtons bool) {
	chunks := r.chunks(messageLimit)
	if len(chunks) == 0 {
		return
	}
	if chunks[0] != sent || hadButtons {
		if !m.show(ctx, chunks[0], nil) {
			// The message cannot be edited (deleted, too old): say it anew.
			m.mu.Lock()
			m.msgID = 0
			m.mu.Unlock()
			m.show(ctx, chunks[0], nil)
		}
	}
	for _, c := range chunks[1:] {
		if _, err := m.b.send.sendMessage(ctx, m.chatID, c, nil); err != nil {
			return
		}
	}
}

// progressTimeout bounds how long a restart's progress message waits for its end.
const progressTimeout = 30 * time.Minute
