package confirm

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	chat  = int64(-100)
	alice = int64(1)
	bob   = int64(2)
	ttl   = 2 * time.Minute
)

func mustAsk(t *testing.T, s *Store, chatID, userID int64, action string) Pending {
	t.Helper()
	p, _, err := s.Ask(chatID, userID, action, "po")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPress(t *testing.T) {
	tests := []struct {
		name string
		// press runs against a store holding alice's restart confirmation p.
		press   func(s *Store, c *clock, p Pending) (Pending, error)
		wantErr error
		// wantOutcome is checked on a SpentError.
		wantOutcome string
	}{
		{
			name:  "owner confirms",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) { return s.Press(chat, alice, p.Token, true) },
		},
		{
			name:  "owner cancels",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) { return s.Press(chat, alice, p.Token, false) },
		},
		{
			name:    "another user of the chat",
			press:   func(s *Store, _ *clock, p Pending) (Pending, error) { return s.Press(chat, bob, p.Token, true) },
			wantErr: ErrNotYours,
		},
		{
			name:    "same token replayed in another chat",
			press:   func(s *Store, _ *clock, p Pending) (Pending, error) { return s.Press(chat+1, alice, p.Token, true) },
			wantErr: ErrUnknown,
		},
		{
			name:    "forged token",
			press:   func(s *Store, _ *clock, _ Pending) (Pending, error) { return s.Press(chat, alice, "restart po", true) },
			wantErr: ErrUnknown,
		},
		{
			name: "double press says it already ran",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) {
				if _, err := s.Press(chat, alice, p.Token, true); err != nil {
					return Pending{}, err
				}
				return s.Press(chat, alice, p.Token, true)
			},
			wantErr:     ErrSpent,
			wantOutcome: Confirmed,
		},
		{
			name: "confirm after cancel",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) {
				if _, err := s.Press(chat, alice, p.Token, false); err != nil {
					return Pending{}, err
				}
				return s.Press(chat, alice, p.Token, true)
			},
			wantErr:     ErrSpent,
			wantOutcome: Cancelled,
		},
		{
			name: "other user pressing a spent button is still refused as not theirs",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) {
				if _, err := s.Press(chat, alice, p.Token, true); err != nil {
					return Pending{}, err
				}
				return s.Press(chat, bob, p.Token, true)
			},
			wantErr: ErrNotYours,
		},
		{
			name: "just before expiry",
			press: func(s *Store, c *clock, p Pending) (Pending, error) {
				c.Advance(ttl - time.Nanosecond)
				return s.Press(chat, alice, p.Token, true)
			},
		},
		{
			name: "at expiry",
			press: func(s *Store, c *clock, p Pending) (Pending, error) {
				c.Advance(ttl)
				return s.Press(chat, alice, p.Token, true)
			},
			wantErr:     ErrExpired,
			wantOutcome: Expired,
		},
		{
			name: "long after expiry the token is forgotten",
			press: func(s *Store, c *clock, p Pending) (Pending, error) {
				c.Advance(ttl)
				s.Press(chat, alice, p.Token, true) // expires it
				c.Advance(ttl + time.Second)
				return s.Press(chat, alice, p.Token, true)
			},
			wantErr: ErrUnknown,
		},
		{
			name: "replaced by a newer ask",
			press: func(s *Store, _ *clock, p Pending) (Pending, error) {
				if _, _, err := s.Ask(chat, alice, "deploy", "po"); err != nil {
					return Pending{}, err
				}
				return s.Press(chat, alice, p.Token, true)
			},
			wantErr:     ErrSpent,
			wantOutcome: Replaced,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := New(ttl, WithClock(c.Now))
			p := mustAsk(t, s, chat, alice, "restart")

			got, err := tc.press(s, c, p)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("press: %v", err)
				}
				if got.Token != p.Token || got.Action != "restart" || got.Project != "po" || got.UserID != alice {
					t.Errorf("press returned %+v, want the confirmation asked for", got)
				}
				if s.Len() != 0 {
					t.Errorf("%d confirmations still waiting after the answer, want 0", s.Len())
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("press error = %v, want %v", err, tc.wantErr)
			}
			var se *SpentError
			if tc.wantOutcome != "" {
				if !errors.As(err, &se) || se.Outcome != tc.wantOutcome {
					t.Errorf("press error = %#v, want a SpentError with outcome %q", err, tc.wantOutcome)
				}
			}
		})
	}
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name          string
		user          int64
		text          string
		advance       time.Duration
		wantOK        bool
		wantConfirmed bool
		wantErr       error
	}{
		{name: "yes", user: alice, text: "yes", wantOK: true, wantConfirmed: true},
		{name: "y", user: alice, text: "y", wantOK: true, wantConfirmed: true},
		{name: "YES with spaces", user: alice, text: "  YES \n", wantOK: true, wantConfirmed: true},
		{name: "Y", user: alice, text: "Y", wantOK: true, wantConfirmed: true},
		{name: "other text cancels", user: alice, text: "wait, no", wantOK: true},
		{name: "yes please is not yes", user: alice, text: "yes please", wantOK: true},
		{name: "a command cancels", user: alice, text: "/docker_status", wantOK: true},
		{name: "empty (a sticker) cancels", user: alice, text: "", wantOK: true},
		{name: "another user's yes does not touch it", user: bob, text: "yes", wantOK: false},
		{name: "yes after expiry", user: alice, text: "yes", advance: ttl, wantOK: true, wantErr: ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			s := New(ttl, WithClock(c.Now))
			asked := mustAsk(t, s, chat, alice, "restart")
			c.Advance(tc.advance)

			p, confirmed, ok, err := s.Answer(chat, tc.user, tc.text)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("answer error = %v, want %v", err, tc.wantErr)
			}
			if ok != tc.wantOK || confirmed != tc.wantConfirmed {
				t.Fatalf("answer ok=%v confirmed=%v, want ok=%v confirmed=%v", ok, confirmed, tc.wantOK, tc.wantConfirmed)
			}
			if !ok {
				if s.Len() != 1 {
					t.Errorf("alice's confirmation is gone after %d's message; want it still waiting", tc.user)
				}
				return
			}
			if p.Token != asked.Token {
				t.Errorf("answer returned token %q, want %q", p.Token, asked.Token)
			}
			// Whatever the answer, the button cannot run it afterwards.
			if _, err := s.Press(chat, alice, asked.Token, true); !errors.Is(err, ErrSpent) {
				t.Errorf("button after answer: %v, want ErrSpent", err)
			}
		})
	}
}

func TestAnswerInAnotherChatLeavesConfirmationWaiting(t *testing.T) {
	s := New(ttl)
	mustAsk(t, s, chat, alice, "restart")
	if _, _, ok, _ := s.Answer(chat+1, alice, "yes"); ok {
		t.Fatal("yes in another chat answered the confirmation")
	}
	if _, confirmed, ok, err := s.Answer(chat, alice, "yes"); !ok || !confirmed || err != nil {
		t.Fatalf("yes in the asking chat: ok=%v confirmed=%v err=%v", ok, confirmed, err)
	}
}

func TestAskReplacesTheUsersWaitingConfirmation(t *testing.T) {
	s := New(ttl)
	first := mustAsk(t, s, chat, alice, "restart")
	s.SetMessage(first.Token, 77)
	mustAsk(t, s, chat, bob, "restart")

	second, replaced, err := s.Ask(chat, alice, "deploy", "po")
	if err != nil {
		t.Fatal(err)
	}
	if replaced == nil || replaced.Token != first.Token || replaced.MessageID != 77 {
		t.Fatalf("replaced = %+v, want the first confirmation with its message id", replaced)
	}
	if s.Len() != 2 {
		t.Errorf("%d waiting, want 2 (bob's and alice's new one)", s.Len())
	}
	p, confirmed, ok, _ := s.Answer(chat, alice, "y")
	if !ok || !confirmed || p.Token != second.Token || p.Action != "deploy" {
		t.Errorf("alice's yes answered %+v, want her new deploy confirmation", p)
	}
}

func TestStoreStaysBounded(t *testing.T) {
	c := newClock()
	s := New(ttl, WithClock(c.Now))
	for u := range int64(MaxPendingPerChat + 5) {
		c.Advance(time.Millisecond)
		mustAsk(t, s, chat, u, "restart")
	}
	if s.Len() != MaxPendingPerChat {
		t.Errorf("%d waiting in one chat, want the cap %d", s.Len(), MaxPendingPerChat)
	}
	for ch := range int64(MaxPending + 10) {
		c.Advance(time.Millisecond)
		mustAsk(t, s, 1000+ch, alice, "restart")
	}
	if s.Len() > MaxPending {
		t.Errorf("%d waiting in all chats, want at most %d", s.Len(), MaxPending)
	}
	c.Advance(ttl)
	mustAsk(t, s, chat, alice, "restart")
	if s.Len() != 1 {
		t.Errorf("%d waiting after everything expired and one new ask, want 1", s.Len())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spent) > MaxSpent {
		t.Errorf("%d answered confirmations remembered, want at most %d", len(s.spent), MaxSpent)
	}
}

func TestTokensAreRandomAndFitCallbackData(t *testing.T) {
	s := New(ttl)
	seen := map[string]bool{}
	for u := range int64(200) {
		p := mustAsk(t, s, u, u, "restart")
		if len(p.Token) != 22 {
			t.Fatalf("token %q has %d characters, want 22", p.Token, len(p.Token))
		}
		if seen[p.Token] {
			t.Fatalf("token %q came twice", p.Token)
		}
		seen[p.Token] = true
	}
}

func TestAskFailsWhenRandomnessFails(t *testing.T) {
	s := New(ttl, WithRandom(func([]byte) (int, error) { return 0, errors.New("no entropy") }))
	if _, _, err := s.Ask(chat, alice, "restart", "po"); err == nil {
		t.Fatal("ask succeeded without randomness; want an error")
	}
	if s.Len() != 0 {
		t.Errorf("%d waiting after a failed ask, want 0", s.Len())
	}
}

func TestConcurrentPressesRunOnce(t *testing.T) {
	s := New(ttl)
	p := mustAsk(t, s, chat, alice, "restart")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			if _, err := s.Press(chat, alice, p.Token, true); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent presses ran the confirmation, want 1", wins)
	}
}
