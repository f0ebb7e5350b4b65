// Package confirm keeps the confirmations that restart, deploy and rollback ask for
// before they run. A confirmation belongs to one chat and the user who asked, expires
// after a TTL, and can be answered once. Its button data is a random token, so a
// forged or replayed button press cannot name an action of its own.
package confirm

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Errors of Press and Answer. The caller turns them into text for the user.
var (
	// ErrUnknown: no confirmation has this token in this chat (forged, replayed
	// elsewhere, or forgotten long ago).
	ErrUnknown = errors.New("confirm: unknown confirmation")
	// ErrExpired: the confirmation lived longer than its TTL.
	ErrExpired = errors.New("confirm: confirmation expired")
	// ErrNotYours: another user of the chat pressed the button.
	ErrNotYours = errors.New("confirm: confirmation belongs to another user")
	// ErrSpent: the confirmation was already confirmed or cancelled.
	ErrSpent = errors.New("confirm: confirmation already answered")
)

// Outcomes of an answered confirmation.
const (
	Confirmed = "confirmed"
	Cancelled = "cancelled"
	Expired   = "expired"
	// Replaced: the same user asked for another action in the same chat.
	Replaced = "replaced"
)

// Limits that keep the store small whatever users do.
const (
	// MaxPendingPerChat bounds the confirmations waiting in one chat (one per user);
	// the oldest is dropped when a new one would exceed it.
	MaxPendingPerChat = 16
	// MaxPending bounds the confirmations waiting in all chats together.
	MaxPending = 1024
	// MaxSpent bounds the answered confirmations remembered to say "already ran".
	MaxSpent = 1024
)

// Pending is one confirmation waiting for its answer.
type Pending struct {
	// Token goes into the button data; it is random and means nothing by itself.
	Token   string
	ChatID  int64
	UserID  int64
	Action  string
	Project string
	// MessageID is the message that asks, edited later to show the outcome.
	MessageID int
	// Detail is what exactly was confirmed (a deploy's plan fingerprint), for the
	// action to check that it still runs what was shown.
	Detail  string
	Created time.Time
	Expires time.Time
}

// spent remembers an answered confirmation so that a second press is told what
// happened instead of "unknown".
type spent struct {
	p       Pending
	outcome string
	at      time.Time
}

// SpentError is returned (matching ErrSpent) when a confirmation was answered before.
type SpentError struct {
	Pending Pending
	// Outcome is Confirmed, Cancelled, Expired or Replaced.
	Outcome string
}

// Error says how the confirmation was answered.
func (e *SpentError) Error() string { return "confirm: confirmation already " + e.Outcome }

// Is makes errors.Is(err, ErrSpent) true, and ErrExpired for an expired one.
func (e *SpentError) Is(target error) bool {
	return target == ErrSpent || (target == ErrExpired && e.Outcome == Expired)
}

type key struct{ chat, user int64 }

// Store holds pending confirmations in memory. It is safe for concurrent use.
type Store struct {
	ttl  time.Duration
	now  func() time.Time
	rand func([]byte) (int, error)

	mu      sync.Mutex
	pending map[string]*Pending // by token
	byUser  map[key]string      // the one pending token of a user in a chat
	spent   map[string]spent    // answered, by token
}

// Option changes a Store.
type Option func(*Store)

// WithClock makes the store read time from now, so tests control expiry.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRandom makes tokens come from read (crypto/rand.Read by default).
func WithRandom(read func([]byte) (int, error)) Option { return func(s *Store) { s.rand = read } }

// New returns a store whose confirmations live for ttl.
func New(ttl time.Duration, opts ...Option) *Store {
	s := &Store{
		ttl:     ttl,
		now:     time.Now,
		rand:    rand.Read,
		pending: make(map[string]*Pending),
		byUser:  make(map[key]string),
		spent:   make(map[string]spent),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// TTL is how long a confirmation lives.
func (s *Store) TTL() time.Duration { return s.ttl }

// Ask creates the confirmation of action on project for user in chat. A confirmation
// that user was still waiting for in that chat is replaced and returned, so that its
// message can say so.
func (s *Store) Ask(chatID, userID int64, action, project string) (Pending, *Pending, error) {
	token, err := s.newToken()
	if err != nil {
		return Pending{}, nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)

	var replaced *Pending
	k := key{chatID, userID}
	if old, ok := s.byUser[k]; ok {
		p := *s.pending[old]
		replaced = &p
		s.spend(old, Replaced, now)
	}
	s.makeRoom(chatID, now)

	p := &Pending{
		Token:   token,
		ChatID:  chatID,
		UserID:  userID,
		Action:  action,
		Project: project,
		Created: now,
		Expires: now.Add(s.ttl),
	}
	s.pending[token] = p
	s.byUser[k] = token
	return *p, replaced, nil
}

// SetDetail records what exactly the confirmation is for (see Pending.Detail).
func (s *Store) SetDetail(token, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[token]; ok {
		p.Detail = detail
	}
}

// SetMessage records the message that asks, once it has been sent.
func (s *Store) SetMessage(token string, messageID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[token]; ok {
		p.MessageID = messageID
	}
}

// Press answers the confirmation whose button carried token, pressed by user in chat.
// It returns the confirmation when it was still waiting and belongs to them; the
// errors say why not. A token of another chat is unknown here.
func (s *Store) Press(chatID, userID int64, token string, confirm bool) (Pending, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)

	if sp, ok := s.spent[token]; ok && sp.p.ChatID == chatID {
		if sp.p.UserID != userID {
			return Pending{}, ErrNotYours
		}
		return sp.p, &SpentError{Pending: sp.p, Outcome: sp.outcome}
	}
	p, ok := s.pending[token]
	if !ok || p.ChatID != chatID {
		return Pending{}, ErrUnknown
	}
	if p.UserID != userID {
		return Pending{}, ErrNotYours
	}
	outcome := Cancelled
	if confirm {
		outcome = Confirmed
	}
	answered := *p
	s.spend(token, outcome, now)
	return answered, nil
}

// Answer takes a message from user in chat as the answer to their waiting
// confirmation: "yes" or "y" (any case, surrounding spaces ignored) confirms, anything
// else cancels. It reports ok=false when the user had nothing waiting in that chat;
// an expired confirmation is returned with ErrExpired.
func (s *Store) Answer(chatID, userID int64, text string) (p Pending, confirmed bool, ok bool, err error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()

	k := key{chatID, userID}
	token, waiting := s.byUser[k]
	if !waiting {
		return Pending{}, false, false, nil
	}
	pending := *s.pending[token]
	if !now.Before(pending.Expires) {
		s.spend(token, Expired, now)
		return pending, false, true, &SpentError{Pending: pending, Outcome: Expired}
	}
	confirmed = IsYes(text)
	outcome := Cancelled
	if confirmed {
		outcome = Confirmed
	}
	s.spend(token, outcome, now)
	return pending, confirmed, true, nil
}

// IsYes reports whether text is a typed confirmation.
func IsYes(text string) bool {
	t := strings.ToLower(strings.TrimSpace(text))
	return t == "yes" || t == "y"
}

// Len returns the number of confirmations waiting.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// spend moves a pending confirmation to the answered ones. Callers hold mu.
func (s *Store) spend(token, outcome string, now time.Time) {
	p, ok := s.pending[token]
	if !ok {
		return
	}
	delete(s.pending, token)
	k := key{p.ChatID, p.UserID}
	if s.byUser[k] == token {
		delete(s.byUser, k)
	}
	if len(s.spent) >= MaxSpent {
		s.dropOldestSpent()
	}
	s.spent[token] = spent{p: *p, outcome: outcome, at: now}
}

// sweep expires what is past its TTL and forgets answers older than one TTL, so
// memory stays bounded by what was asked within the last two TTLs. Callers hold mu.
func (s *Store) sweep(now time.Time) {
	for token, p := range s.pending {
		if !now.Before(p.Expires) {
			s.spend(token, Expired, now)
		}
	}
	for token, sp := range s.spent {
		if now.Sub(sp.at) > s.ttl {
			delete(s.spent, token)
		}
	}
}

// makeRoom drops the oldest confirmation of chat, or of all chats, when one more
// would exceed the limits. Callers hold mu.
func (s *Store) makeRoom(chatID int64, now time.Time) {
	var inChat int
	var oldestInChat, oldest *Pending
	for _, p := range s.pending {
		if oldest == nil || p.Created.Before(oldest.Created) {
			oldest = p
		}
		if p.ChatID != chatID {
			continue
		}
		inChat++
		if oldestInChat == nil || p.Created.Before(oldestInChat.Created) {
			oldestInChat = p
		}
	}
	switch {
	case inChat >= MaxPendingPerChat:
		s.spend(oldestInChat.Token, Expired, now)
	case len(s.pending) >= MaxPending:
		s.spend(oldest.Token, Expired, now)
	}
}

func (s *Store) dropOldestSpent() {
	var oldestToken string
	var oldest time.Time
	for token, sp := range s.spent {
		if oldestToken == "" || sp.at.Before(oldest) {
			oldestToken, oldest = token, sp.at
		}
	}
	delete(s.spent, oldestToken)
}

// newToken returns 16 random bytes, URL-safe base64: 22 characters, well inside the
// 64 bytes of callback data.
func (s *Store) newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := s.rand(b); err != nil {
		return "", fmt.Errorf("confirm: read random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
