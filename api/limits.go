package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// DefaultMaxInFlightPerToken is how many requests one token may have running at once
// unless Deps says otherwise. A restart holds its slot while it waits for health
// checks; a deploy or rollback only until it has started.
const DefaultMaxInFlightPerToken = 8

// inFlightRetryAfter is the Retry-After, in seconds, of a request refused for too
// many in flight.
const inFlightRetryAfter = 1

// tokenLimiter bounds the requests in flight per token.
type tokenLimiter struct {
	max int
	mu  sync.Mutex
	n   map[string]int // by token name
}

func newTokenLimiter(max int) *tokenLimiter {
	return &tokenLimiter{max: max, n: map[string]int{}}
}

func (l *tokenLimiter) acquire(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[name] >= l.max {
		return false
	}
	l.n[name]++
	return true
}

func (l *tokenLimiter) release(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[name]--; l.n[name] <= 0 {
		delete(l.n, name)
	}
}

// limitInFlight answers 429 with Retry-After to a token's request beyond l.max in
// flight; it runs after requireToken.
func limitInFlight(l *tokenLimiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := callerFrom(r.Context()).name
			if !l.acquire(name) {
				w.Header().Set("Retry-After", strconv.Itoa(inFlightRetryAfter))
				writeProblem(w, http.StatusTooManyRequests, "too_many_requests",
					fmt.Sprintf("this token already has %d requests in flight; retry when one has finished", l.max))
				return
			}
			defer l.release(name)
			next.ServeHTTP(w, r)
		})
	}
}
