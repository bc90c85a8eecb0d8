package coupa

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the one request budget shared by every table of an instance.
// Coupa enforces 25 requests/s per instance across all integrations and sends
// no Retry-After, so the budget adapts (AIMD, as in TCP congestion control):
//
//   - A 429 halves the rate, at most once per cutCooldown, so a burst of 429s
//     from requests already in flight counts once. It also spends whatever
//     burst allowance had built up: a 429 means the instance's bucket is
//     full, so nothing should go out at once.
//   - After a cut the rate holds for cutCooldown (answers still arriving were
//     sent at the old rate), then climbs back linearly with the time spent
//     answering successfully: raisePerSec per second, from half to full in
//     ten seconds. Recovery by time, not by count of answers, keeps it
//     gradual whatever the rate: counting answers would win the cut back
//     within a second at 25 requests/s and hit the limit again at once.
//   - A Retry-After, should Coupa ever send one, pauses every table until it
//     has passed: the instance said when it will take requests again.
type limiter struct {
	mu          sync.Mutex
	lim         *rate.Limiter
	max         rate.Limit
	min         rate.Limit
	raisePerSec rate.Limit
	lastCut     time.Time
	lastRaise   time.Time
	pausedUntil time.Time
	now         func() time.Time
}

const cutCooldown = time.Second

func newLimiter(perSecond float64, burst int) *limiter {
	max := rate.Limit(perSecond)
	return &limiter{
		lim:         rate.NewLimiter(max, burst),
		max:         max,
		min:         max / 16,
		raisePerSec: max / 20,
		now:         time.Now,
	}
}

// wait blocks until the budget allows one request and returns how long it
// waited. When ctx's deadline comes first it fails at once with an error
// that is context.DeadlineExceeded, so callers can tell their own deadline
// from a failure of the instance.
func (l *limiter) wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	l.mu.Lock()
	until := l.pausedUntil
	l.mu.Unlock()
	if d := time.Until(until); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return time.Since(start), ctx.Err()
		}
	}
	if err := l.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return time.Since(start), ctx.Err()
		}
		// rate.Limiter refuses up front a wait that would outlast the
		// deadline, with an error of its own.
		return time.Since(start), fmt.Errorf("coupa: the rate budget allows no request before the deadline: %w", context.DeadlineExceeded)
	}
	return time.Since(start), nil
}

// waitIdle is wait for work that can wait (a delete sweep): it takes a
// request only from budget nobody else is using, when at least half the
// burst has built up (so a pass that starts finds most of its burst), and
// otherwise looks again after one request's worth of time. A saturated
// budget starves it; that is the point.
func (l *limiter) waitIdle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for {
		l.mu.Lock()
		now := l.now()
		ok := !now.Before(l.pausedUntil) && l.lim.TokensAt(now) >= max(1, float64(l.lim.Burst())/2) && l.lim.AllowN(now, 1)
		every := time.Duration(float64(time.Second) / float64(l.lim.Limit()))
		l.mu.Unlock()
		if ok {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(every):
		}
	}
}

// throttled records a 429: cut the rate in half and spend the burst.
func (l *limiter) throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastCut) < cutCooldown {
		return
	}
	l.lastCut = now
	r := l.lim.Limit() / 2
	if r < l.min {
		r = l.min
	}
	l.lim.SetLimitAt(now, r)
	if tk := int(l.lim.TokensAt(now)); tk > 0 {
		l.lim.AllowN(now, tk)
	}
}

// pause stops every request for d (a 429's Retry-After).
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := l.now().Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
}

// succeeded records an answered request: recover gradually towards max.
func (l *limiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.lim.Limit()
	if r >= l.max {
		return
	}
	from := l.lastRaise
	if hold := l.lastCut.Add(cutCooldown); hold.After(from) {
		from = hold
	}
	if !now.After(from) {
		return
	}
	// An idle spell earns at most one cooldown's worth: the rate is won
	// back by traffic the instance accepted, not by silence.
	dt := min(now.Sub(from), cutCooldown)
	l.lastRaise = now
	r += l.raisePerSec * rate.Limit(dt.Seconds())
	if r > l.max {
		r = l.max
	}
	l.lim.SetLimitAt(now, r)
}

// rate returns the current budget in requests per second.
func (l *limiter) rate() float64 {
	return float64(l.lim.Limit())
}
