package faultproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// pairTimeout bounds how long an accepted connection waits for DialContext
// to hand over its broker connection; only a stranger dialing a listener
// directly would ever wait that long.
const pairTimeout = 10 * time.Second

// Proxy relays Kafka connections and injects armed faults into them. The
// zero value is not usable; use New. All methods are safe for concurrent use.
type Proxy struct {
	dialer net.Dialer

	mu       sync.Mutex
	closed   bool
	done     chan struct{}      // closed by Close
	targets  map[string]*target // dialed through DialContext, by broker address
	fronts   map[string]*target // listeners of Front, by broker address
	relays   map[*relay]struct{}
	faults   []*armed
	fired    map[int16]int
	requests map[int16]int

	wg sync.WaitGroup // every goroutine of the proxy
}

type armed struct {
	Fault
	left int
}

// target is the listener standing for one broker address. Accepted
// connections are paired with the broker connection DialContext opened, by
// the client-side address of the loopback connection.
type target struct {
	ln    net.Listener
	slots map[string]chan net.Conn // guarded by Proxy.mu
	addr  string                   // the broker, for a Front listener
}

// New returns a proxy with no listener yet: listeners open on demand, one per
// target address passed to DialContext.
func New() *Proxy {
	return &Proxy{
		done:     make(chan struct{}),
		targets:  make(map[string]*target),
		fronts:   make(map[string]*target),
		relays:   make(map[*relay]struct{}),
		fired:    make(map[int16]int),
		requests: make(map[int16]int),
	}
}

// DialContext dials addr through the proxy; it has the signature of
// kgo.Dialer. The target is dialed first, so a dial error is the target's
// own; the client then gets a loopback connection relayed to it.
func (p *Proxy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	t, err := p.target(addr)
	if err != nil {
		return nil, err
	}
	bc, err := p.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc, err := p.dialer.DialContext(ctx, "tcp", t.ln.Addr().String())
	if err != nil {
		bc.Close()
		return nil, err
	}
	if err := p.handOver(t, cc.LocalAddr().String(), bc); err != nil {
		cc.Close()
		bc.Close()
		return nil, err
	}
	return cc, nil
}

// target returns the listener for addr, opening it on first use.
func (p *Proxy) target(addr string) (*target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, net.ErrClosed
	}
	if t := p.targets[addr]; t != nil {
		return t, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{ln: ln, slots: make(map[string]chan net.Conn)}
	p.targets[addr] = t
	p.wg.Add(1)
	go p.accept(t, p.pairLater)
	return t, nil
}

// slot is where the broker connection for the loopback connection whose
// client side is key is handed over; whichever side comes first creates it.
// The caller holds p.mu.
func (t *target) slot(key string) chan net.Conn {
	ch := t.slots[key]
	if ch == nil {
		ch = make(chan net.Conn, 1)
		t.slots[key] = ch
	}
	return ch
}

// handOver gives bc to the goroutine that accepted the loopback connection
// key, unless the proxy is closed.
func (p *Proxy) handOver(t *target, key string, bc net.Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	t.slot(key) <- bc // buffered, the only sender
	return nil
}

// accept hands every connection accepted on t to handle, until Close.
func (p *Proxy) accept(t *target, handle func(*target, net.Conn)) {
	defer p.wg.Done()
	for {
		cc, err := t.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond): // EMFILE and such
				continue
			}
		}
		handle(t, cc)
	}
}

// pairLater relays cc once DialContext hands over its broker connection.
func (p *Proxy) pairLater(t *target, cc net.Conn) {
	p.wg.Add(1)
	go p.pair(t, cc)
}

// pair waits for the broker connection of cc, then relays the two.
func (p *Proxy) pair(t *target, cc net.Conn) {
	defer p.wg.Done()
	key := cc.RemoteAddr().String()
	p.mu.Lock()
	ch := t.slot(key)
	p.mu.Unlock()
	timer := time.NewTimer(pairTimeout)
	defer timer.Stop()
	var bc net.Conn
	select {
	case bc = <-ch:
	case <-timer.C:
	case <-p.done:
	}
	p.mu.Lock()
	delete(t.slots, key)
	if bc == nil || p.closed {
		select { // a hand-over racing with the timeout or Close
		case bc = <-ch:
		default:
		}
		p.mu.Unlock()
		cc.Close()
		if bc != nil {
			bc.Close()
		}
		return
	}
	r := newRelay(p, cc, bc)
	p.relays[r] = struct{}{}
	p.wg.Add(1)
	p.mu.Unlock()
	go r.down()
	r.up()
}

// Close closes every listener and relayed connection, and waits for all the
// proxy's goroutines to end. Later dials fail with net.ErrClosed.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	var errs []error
	for _, t := range p.fronts {
		errs = append(errs, t.ln.Close())
	}
	for _, t := range p.targets {
		errs = append(errs, t.ln.Close())
		for _, ch := range t.slots {
			select {
			case bc := <-ch:
				bc.Close()
			default:
			}
		}
	}
	relays := make([]*relay, 0, len(p.relays))
	for r := range p.relays {
		relays = append(relays, r)
	}
	p.mu.Unlock()
	for _, r := range relays {
		r.cut(false)
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

// Arm adds a fault after those already armed. It fails for an unknown
// action, and for ReplyError or ReplaceError on an API whose response has no
// top-level ErrorCode (Produce, for one).
func (p *Proxy) Arm(f Fault) error {
	if err := f.check(); err != nil {
		return err
	}
	left := f.Times
	if left == 0 {
		left = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &armed{Fault: f, left: left})
	return nil
}

// Disarm removes every armed fault. Counters are kept.
func (p *Proxy) Disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Pending returns how many fault applications are still armed: the sum of
// the remaining Times of every armed fault.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.left
	}
	return n
}

// Fired returns how many times faults on api took effect: a request cut or
// answered by the proxy, or a response dropped, replaced, held or followed by
// a cut.
func (p *Proxy) Fired(api int16) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired[api]
}

// Requests returns how many requests of api were forwarded to a broker
// (counted as forwarding starts, so before the broker can answer).
func (p *Proxy) Requests(api int16) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[api]
}

// match consumes one application of the first armed fault for api that
// applies to the request. req reads and decodes the request, for a fault
// with When; When runs without the proxy's lock held (it may be slow).
func (p *Proxy) match(api int16, req func() kmsg.Request) (Fault, bool) {
	p.mu.Lock()
	var candidates []*armed
	for _, f := range p.faults {
		if f.API == api {
			candidates = append(candidates, f)
		}
	}
	p.mu.Unlock()
	for _, f := range candidates {
		if f.When != nil {
			if r := req(); r == nil || !f.When(r) {
				continue
			}
		}
		p.mu.Lock()
		for i, g := range p.faults {
			if g != f {
				continue
			}
			if f.left--; f.left == 0 {
				p.faults = append(p.faults[:i], p.faults[i+1:]...)
			}
			p.mu.Unlock()
			return f.Fault, true
		}
		p.mu.Unlock() // disarmed meanwhile
	}
	return Fault{}, false
}

func (p *Proxy) count(m map[int16]int, api int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m[api]++
}
