package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// level is what a Telegram user may do.
type level int

const (
	levelNone level = iota
	levelReadOnly
	levelFull
)

const (
	// commandBurst and commandRate limit one user's commands.
	commandBurst = 10
	commandRate  = 1 // per second
	// strangerNoticeEvery is how often a stranger is told how to get access.
	strangerNoticeEvery = 10 * time.Minute
	// maxTracked bounds the users whose limits are remembered.
	maxTracked = 4096
)

// access decides who may do what, and keeps the per-user limits that stop a user,
// allowed or not, from making the bot busy or chatty.
type access struct {
	full     map[int64]bool
	readOnly map[int64]bool
	chats    map[int64]bool // the group chats the bot answers in
	// alertChat reports a chat that gets alerts: the bot answers there too, so that
	// the buttons under an alert work in a group.
	alertChat func(int64) bool
	now       func() time.Time

	mu        sync.Mutex
	limiters  map[int64]*userLimit
	strangers map[int64]time.Time // last notice
	// noticeRate caps the notices to all strangers together, so that many accounts
	// cannot make the bot send many messages.
	noticeRate *rate.Limiter
}

type userLimit struct {
	lim      *rate.Limiter
	noticed  bool
	lastSeen time.Time
}

func newAccess(full, readOnly, chats []int64, now func() time.Time) *access {
	a := &access{
		full:       make(map[int64]bool),
		readOnly:   make(map[int64]bool),
		chats:      make(map[int64]bool),
		now:        now,
		limiters:   make(map[int64]*userLimit),
		strangers:  make(map[int64]time.Time),
		noticeRate: rate.NewLimiter(1, 5),
	}
	for _, id := range full {
		a.full[id] = true
	}
	for _, id := range readOnly {
		a.readOnly[id] = true
	}
	for _, id := range chats {
		a.chats[id] = true
	}
	return a
}

// chatAllowed reports whether the bot may speak in a chat: a private chat always (who
// may use the bot is level's question), a group only when it is listed.
func (a *access) chatAllowed(chatID int64, private bool) bool {
	return private || a.chats[chatID] || (a.alertChat != nil && a.alertChat(chatID))
}

// level returns what user may do; a user in both lists has full access.
func (a *access) level(user int64) level {
	switch {
	case a.full[user]:
		return levelFull
	case a.readOnly[user]:
		return levelReadOnly
	}
	return levelNone
}

// allow spends one of user's commands. It returns ok=false when they are over their
// limit, with notify=true the first time in a row, so that they are told once.
func (a *access) allow(user int64) (ok, notify bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	ul, found := a.limiters[user]
	if !found {
		if len(a.limiters) >= maxTracked {
			for id, l := range a.limiters {
				if now.Sub(l.lastSeen) > time.Minute {
					delete(a.limiters, id)
				}
			}
		}
		ul = &userLimit{lim: rate.NewLimiter(commandRate, commandBurst)}
		a.limiters[user] = ul
	}
	ul.lastSeen = now
	if ul.lim.AllowN(now, 1) {
		ul.noticed = false
		return true, false
	}
	notify = !ul.noticed
	ul.noticed = true
	return false, notify
}

// noticeStranger reports whether a user nobody allowed should be told (again) how to
// get access: once per strangerNoticeEvery each, and few per second in all.
func (a *access) noticeStranger(user int64) bool {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if last, ok := a.strangers[user]; ok && now.Sub(last) < strangerNoticeEvery {
		return false
	}
	if len(a.strangers) >= maxTracked {
		for id, last := range a.strangers {
			if now.Sub(last) >= strangerNoticeEvery {
				delete(a.strangers, id)
			}
		}
		if len(a.strangers) >= maxTracked {
			return false
		}
	}
	if !a.noticeRate.AllowN(now, 1) {
		return false
	}
	a.strangers[user] = now
	return true
}
