package coupatest

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Fault is one kind of failure the simulator can inject into a list call.
type Fault int

// The injectable failures.
const (
	FaultNone Fault = iota
	// FaultServerErrorHTML answers 502/503/504 with a load balancer's
	// text/html page.
	FaultServerErrorHTML
	// FaultServerErrorJSON answers 500 with Coupa's JSON error body.
	FaultServerErrorJSON
	// FaultTruncate answers 200 application/json whose body is cut mid-way.
	FaultTruncate
	// FaultLoginPage answers 200 text/html with a sign-in page, as an
	// instance behind SSO does for a request it does not recognise.
	FaultLoginPage
)

// Faults holds the failure switches of a Server. All are off by default and
// each can change at any time, also while a sync runs.
type Faults struct {
	mu        sync.Mutex
	rng       *rand.Rand
	limitOn   bool
	rate      float64
	burst     float64
	level     float64
	last      time.Time
	sendRetry bool
	p5xx      float64
	pTrunc    float64
	pLogin    float64
	mean, jit time.Duration
	queue     []Fault
}

func newFaults(rate float64, burst int) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), rate: rate, burst: float64(burst)}
}

// RateLimit switches the leaky bucket on or off. While on, a request that
// would overflow the bucket gets 429 with no Retry-After header.
func (f *Faults) RateLimit(on bool) {
	f.mu.Lock()
	f.limitOn, f.level, f.last = on, 0, time.Time{}
	f.mu.Unlock()
}

// SetRateLimit changes the bucket: drained at perSecond, holding burst.
func (f *Faults) SetRateLimit(perSecond float64, burst int) {
	f.mu.Lock()
	f.rate, f.burst = perSecond, float64(burst)
	f.mu.Unlock()
}

// SendRetryAfter makes 429 answers carry "Retry-After: 1", which Coupa
// does not document but a client must honour if it ever appears.
func (f *Faults) SendRetryAfter(on bool) {
	f.mu.Lock()
	f.sendRetry = on
	f.mu.Unlock()
}

// ServerErrors sets the probability (0..1) of a 5xx answer; half carry an
// HTML page, half a JSON body.
func (f *Faults) ServerErrors(p float64) { f.set(&f.p5xx, p) }

// Truncate sets the probability (0..1) of a 200 whose JSON body is cut.
func (f *Faults) Truncate(p float64) { f.set(&f.pTrunc, p) }

// LoginPage sets the probability (0..1) of a 200 HTML sign-in page.
func (f *Faults) LoginPage(p float64) { f.set(&f.pLogin, p) }

// Latency delays every API answer by mean +/- jitter (uniform).
func (f *Faults) Latency(mean, jitter time.Duration) {
	f.mu.Lock()
	f.mean, f.jit = mean, jitter
	f.mu.Unlock()
}

// Inject makes the next n list calls (past the rate limit) fail with
// fault, ahead of any probabilistic failure: deterministic for tests.
func (f *Faults) Inject(fault Fault, n int) {
	f.mu.Lock()
	for i := 0; i < n; i++ {
		f.queue = append(f.queue, fault)
	}
	f.mu.Unlock()
}

// Reset switches every fault off.
func (f *Faults) Reset() {
	f.mu.Lock()
	f.limitOn, f.sendRetry = false, false
	f.p5xx, f.pTrunc, f.pLogin = 0, 0, 0
	f.mean, f.jit = 0, 0
	f.queue = nil
	f.mu.Unlock()
}

func (f *Faults) set(p *float64, v float64) {
	f.mu.Lock()
	*p = v
	f.mu.Unlock()
}

func (f *Faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mean <= 0 && f.jit <= 0 {
		return 0
	}
	d := f.mean
	if f.jit > 0 {
		d += time.Duration(f.rng.Int64N(int64(2*f.jit)+1)) - f.jit
	}
	return max(d, 0)
}

// allow runs the leaky bucket on the host's monotonic clock: the level
// drains at rate per second; a request that would lift it above burst is
// refused and does not count.
func (f *Faults) allow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.limitOn {
		return true
	}
	now := time.Now()
	if !f.last.IsZero() {
		f.level = max(0, f.level-now.Sub(f.last).Seconds()*f.rate)
	}
	f.last = now
	if f.level+1 > f.burst {
		return false
	}
	f.level++
	return true
}

func (f *Faults) retryAfter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sendRetry
}

func (f *Faults) next() Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		x := f.queue[0]
		f.queue = f.queue[1:]
		return x
	}
	switch {
	case f.p5xx > 0 && f.rng.Float64() < f.p5xx:
		if f.rng.IntN(2) == 0 {
			return FaultServerErrorHTML
		}
		return FaultServerErrorJSON
	case f.pTrunc > 0 && f.rng.Float64() < f.pTrunc:
		return FaultTruncate
	case f.pLogin > 0 && f.rng.Float64() < f.pLogin:
		return FaultLoginPage
	}
	return FaultNone
}

func (f *Faults) intn(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

func writeLoginPage(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`<!DOCTYPE html>
<html><head><title>Coupa - Sign In</title></head>
<body><form action="/sessions" method="post">
<input type="text" name="user[login]"><input type="password" name="user[password]">
<button type="submit">Sign In</button></form></body></html>
`))
}

func writeServerError(w http.ResponseWriter, f Fault, pick int) {
	if f == FaultServerErrorJSON {
		writeErrors(w, http.StatusInternalServerError, "base", "We're sorry, but something went wrong.")
		return
	}
	codes := []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	code := codes[pick%len(codes)]
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(code)
	w.Write([]byte("<html>\r\n<head><title>" + http.StatusText(code) + "</title></head>\r\n<body>\r\n<center><h1>" +
		http.StatusText(code) + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
}
