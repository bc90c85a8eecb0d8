package coupa

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the one request budget shared by every table of an instance.
// Coupa enforces 25 requests/s per instance across all integrations and sends
// no Retry-After, so the budget adapts: a 429 halves the rate (at most once
// per cutCooldown, so a burst of 429s from requests already in flight counts
// once), and every successful request then wins back a small step until the
// configured budget is reached again (AIMD, as in TCP congestion control).
type limiter struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	max     rate.Limit
	min     rate.Limit
	step    rate.Limit
	lastCut time.Time
}

const cutCooldown = time.Second

func newLimiter(perSecond float64, burst int) *limiter {
	max := rate.Limit(perSecond)
	return &limiter{
		lim:  rate.NewLimiter(max, burst),
		max:  max,
		min:  max / 16,
		step: max / 40,
	}
}

// wait blocks until the budget allows one request and returns how long it waited.
func (l *limiter) wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := l.lim.Wait(ctx)
	return time.Since(start), err
}

// throttled records a 429: cut the rate in half.
func (l *limiter) throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.lastCut) < cutCooldown {
		return
	}
	l.lastCut = now
	r := l.lim.Limit() / 2
	if r < l.min {
		r = l.min
	}
	l.lim.SetLimitAt(now, r)
}

// succeeded records an answered request: recover gradually towards max.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.lim.Limit()
	if r >= l.max {
		return
	}
	r += l.step
	if r > l.max {
		r = l.max
	}
	l.lim.SetLimit(r)
}

// rate returns the current budget in requests per second.
func (l *limiter) rate() float64 {
	return float64(l.lim.Limit())
}
