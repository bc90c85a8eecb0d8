package coupa

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock drives the limiter's adaptation without sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestLimiterAdapts walks the AIMD budget through scripted events and checks
// the rate after each: 429s halve it at most once per cooldown down to a
// floor, and successes win it back gradually (holding for a cooldown after
// a cut, then linearly with time) up to the configured rate, never beyond.
func TestLimiterAdapts(t *testing.T) {
	type step struct {
		after time.Duration // clock advance before the event
		event string        // "429", "ok"
		want  float64       // rate after the event
	}
	for _, tc := range []struct {
		name  string
		max   float64
		steps []step
	}{
		{"a 429 halves", 16, []step{{0, "429", 8}}},
		{"429s within the cooldown count once", 16, []step{
			{0, "429", 8}, {100 * time.Millisecond, "429", 8}, {800 * time.Millisecond, "429", 8},
		}},
		{"429s a cooldown apart halve again", 16, []step{
			{0, "429", 8}, {time.Second, "429", 4}, {time.Second, "429", 2},
		}},
		{"the rate has a floor of a sixteenth", 16, []step{
			{0, "429", 8}, {time.Second, "429", 4}, {time.Second, "429", 2}, {time.Second, "429", 1},
			{time.Second, "429", 1}, {time.Second, "429", 1},
		}},
		{"no recovery during the cooldown after a cut", 20, []step{
			{0, "429", 10}, {100 * time.Millisecond, "ok", 10}, {800 * time.Millisecond, "ok", 10},
		}},
		{"recovery is linear in time: a twentieth of the budget per second", 20, []step{
			{0, "429", 10}, {time.Second, "ok", 10}, // the cooldown ends
			{500 * time.Millisecond, "ok", 10.5}, {500 * time.Millisecond, "ok", 11},
			{100 * time.Millisecond, "ok", 11.1}, {100 * time.Millisecond, "ok", 11.2},
		}},
		{"many answers in a short time earn little", 20, []step{
			{0, "429", 10}, {time.Second, "ok", 10},
			{time.Millisecond, "ok", 10.001}, {time.Millisecond, "ok", 10.002}, {time.Millisecond, "ok", 10.003},
		}},
		{"an idle spell earns at most a second's worth", 20, []step{
			{0, "429", 10}, {time.Second, "ok", 10}, {time.Hour, "ok", 11},
		}},
		{"recovery stops at the configured rate", 20, []step{
			{0, "429", 10}, {time.Second, "ok", 10},
			{time.Second, "ok", 11}, {time.Second, "ok", 12}, {time.Second, "ok", 13}, {time.Second, "ok", 14},
			{time.Second, "ok", 15}, {time.Second, "ok", 16}, {time.Second, "ok", 17}, {time.Second, "ok", 18},
			{time.Second, "ok", 19}, {time.Second, "ok", 20}, {time.Second, "ok", 20},
		}},
		{"a 429 during recovery halves the recovered rate", 20, []step{
			{0, "429", 10}, {time.Second, "ok", 10}, {time.Second, "ok", 11}, {time.Second, "ok", 12},
			{0, "429", 6}, {500 * time.Millisecond, "ok", 6}, {time.Second, "ok", 6.5},
		}},
		{"successes at the configured rate change nothing", 20, []step{
			{0, "ok", 20}, {time.Second, "ok", 20},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Now()}
			l := newLimiter(tc.max, 5)
			l.now = clk.now
			for i, s := range tc.steps {
				clk.advance(s.after)
				switch s.event {
				case "429":
					l.throttled()
				case "ok":
					l.succeeded()
				}
				if got := l.rate(); got < s.want-1e-9 || got > s.want+1e-9 {
					t.Fatalf("step %d (%s after %v): rate %.4f, want %.4f", i, s.event, s.after, got, s.want)
				}
			}
		})
	}
}

// TestLimiterCutSpendsBurst: after a 429 the instance's bucket is full, so
// the burst allowance saved up while idle must not go out at once.
func TestLimiterCutSpendsBurst(t *testing.T) {
	l := newLimiter(1, 5) // a request per second, five saved up
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.wait(ctx); err != nil {
		t.Fatalf("the saved-up burst should allow a request at once: %v", err)
	}
	l.throttled() // now half a request per second, nothing saved up
	if _, err := l.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request went out right after a 429 (err %v)", err)
	}
}

// TestLimiterPause: a Retry-After stops every request until it has passed.
// The budget itself would allow the request at once (a large burst); only
// the pause can make wait give up at the short deadline, and it must say so
// with context.DeadlineExceeded rather than an error of its own.
func TestLimiterPause(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pause  time.Duration
		wantOK bool
	}{
		{"no pause", 0, true},
		{"paused past the deadline", time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(1000, 100)
			l.pause(tc.pause)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := l.wait(ctx)
			if tc.wantOK != (err == nil) {
				t.Fatalf("wait: %v", err)
			}
			if !tc.wantOK && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait: %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

// TestLimiterDeadlineIsContextError: rate.Limiter refuses a wait that would
// outlast the deadline with its own error; callers must still see
// context.DeadlineExceeded, or a short deadline would look like a failure
// of the instance.
func TestLimiterDeadlineIsContextError(t *testing.T) {
	l := newLimiter(0.5, 1)
	if _, err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
}

// TestRenewAt: tokens are renewed with a sixth of their life left (Coupa
// suggests renewing a 24 h token after 20 h), at least a minute early, but
// never later than half-way through a very short life.
func TestRenewAt(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life, want time.Duration // from now
	}{
		{86399 * time.Second, 86399*time.Second - 86399*time.Second/6},
		{time.Hour, 50 * time.Minute},
		{3 * time.Minute, 2 * time.Minute},
		{4 * time.Second, 2 * time.Second},
	} {
		if got := renewAt(now, now.Add(tc.life)).Sub(now); got != tc.want {
			t.Errorf("life %v: renewed after %v, want %v", tc.life, got, tc.want)
		}
	}
	if got := renewAt(now, time.Time{}).Sub(now); got != time.Hour {
		t.Errorf("no expiry: renewed after %v, want 1h", got)
	}
}

// TestLimiterIdleTakesOnlySpareBudget: an idle request (a delete sweep's)
// goes only when half the burst has built up, so a caller that uses the
// whole budget is never delayed by it, and it goes once the budget rests.
func TestLimiterIdleTakesOnlySpareBudget(t *testing.T) {
	l := newLimiter(40, 4)
	l.lim.AllowN(time.Now(), 4) // the busy caller has spent the burst
	busy, stop := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer stop()
	done := make(chan int)
	go func() { // uses every request the budget allows, for 400 ms
		n := 0
		for l.lim.Wait(busy) == nil {
			n++
		}
		done <- n
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := l.waitIdle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an idle request went out while the budget was in use (err %v)", err)
	}
	<-done
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := l.waitIdle(ctx2); err != nil {
		t.Fatalf("an idle request did not go out once the budget rested: %v", err)
	}
}
