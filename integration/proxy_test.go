//go:build integration

package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaProxy stands on the network path between a client and the brokers. It
// forwards bytes both ways and rewrites the broker addresses in Metadata and
// FindCoordinator answers, so that the client keeps talking through it. Its
// one fault: it can hold a transaction's commit (an EndTxn request) and never
// deliver it, which is what the broker sees when a process dies with its
// commit unsent. Killing a process at a random instant seldom lands in that
// window (a few milliseconds per batch); holding the commit makes it certain.
type kafkaProxy struct {
	t    *testing.T
	seed string

	mu     sync.Mutex
	routes map[string]string // broker address -> proxy address
	hold   func(txnID string) bool
	broken error // the first answer or request the proxy could not read
}

// newKafkaProxy proxies the cluster whose bootstrap broker is seed; clients
// use addr() as their only seed broker.
func newKafkaProxy(t *testing.T, seed string) *kafkaProxy {
	p := &kafkaProxy{t: t, routes: map[string]string{}}
	var err error
	if p.seed, err = p.route(seed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.broken != nil {
			t.Errorf("kafka proxy: %v", p.broken)
		}
	})
	return p
}

// fail notes a message the proxy could not read; the test fails at its end
// (the proxy's goroutines may outlive it).
func (p *kafkaProxy) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken == nil {
		p.broken = err
	}
}

func (p *kafkaProxy) addr() string { return p.seed }

// holdCommits makes the proxy ask hold about every commit (EndTxn with commit
// set) it sees; when hold answers true, that request is never forwarded and
// its connection is left to the client to close. nil forwards every commit.
func (p *kafkaProxy) holdCommits(hold func(txnID string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = hold
}

// route returns the address of the proxy's listener for the broker at target,
// opening one the first time.
func (p *kafkaProxy) route(target string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.routes[target]; ok {
		return a, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	p.t.Cleanup(func() { ln.Close() })
	p.routes[target] = ln.Addr().String()
	go p.serve(ln, target)
	return ln.Addr().String(), nil
}

func (p *kafkaProxy) serve(ln net.Listener, target string) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		broker, err := net.Dial("tcp", target)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{p: p, client: client, broker: broker, asked: map[int32]kmsg.Request{}}
		go c.requests()
		go c.responses()
	}
}

// proxyConn is one client connection and its connection to the broker.
type proxyConn struct {
	p              *kafkaProxy
	client, broker net.Conn

	mu    sync.Mutex
	asked map[int32]kmsg.Request // by correlation id, for reading the answers
}

func (c *proxyConn) close() {
	c.client.Close()
	c.broker.Close()
}

// requests forwards the client's requests, noting each one's key and version
// so that its answer can be read.
func (c *proxyConn) requests() {
	defer c.close()
	for {
		frame, err := readFrame(c.client)
		if err != nil {
			return
		}
		if len(frame) < 8 {
			return
		}
		key := int16(binary.BigEndian.Uint16(frame[0:]))
		req := kmsg.RequestForKey(key)
		if req == nil {
			return
		}
		req.SetVersion(int16(binary.BigEndian.Uint16(frame[2:])))
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		c.mu.Lock()
		c.asked[corr] = req
		c.mu.Unlock()
		if c.held(req, frame) {
			io.Copy(io.Discard, c.client) // until the client goes away
			return
		}
		if writeFrame(c.broker, frame) != nil {
			return
		}
	}
}

// held reports whether the request is a commit that the proxy's hold rule
// keeps from the broker.
func (c *proxyConn) held(req kmsg.Request, frame []byte) bool {
	if req.Key() != kmsg.EndTxn.Int16() {
		return false
	}
	c.p.mu.Lock()
	hold := c.p.hold
	c.p.mu.Unlock()
	if hold == nil {
		return false
	}
	body, err := requestBody(req, frame)
	if err != nil {
		c.p.fail(err)
		return false
	}
	end := req.(*kmsg.EndTxnRequest)
	if err := end.ReadFrom(body); err != nil {
		c.p.fail(fmt.Errorf("reading EndTxn v%d: %w", end.Version, err))
		return false
	}
	return end.Commit && hold(end.TransactionalID)
}

// responses forwards the broker's answers, pointing the client at the proxy
// wherever an answer names a broker.
func (c *proxyConn) responses() {
	defer c.close()
	for {
		frame, err := readFrame(c.broker)
		if err != nil || len(frame) < 4 {
			return
		}
		corr := int32(binary.BigEndian.Uint32(frame))
		c.mu.Lock()
		req := c.asked[corr]
		delete(c.asked, corr)
		c.mu.Unlock()
		if req != nil {
			switch req.Key() {
			case kmsg.Metadata.Int16(), kmsg.FindCoordinator.Int16():
				if frame, err = c.p.redirect(req, frame); err != nil {
					c.p.fail(err)
					return
				}
			}
		}
		if writeFrame(c.client, frame) != nil {
			return
		}
	}
}

// redirect rewrites the broker addresses of a Metadata or FindCoordinator
// answer to the proxy's own listeners.
func (p *kafkaProxy) redirect(req kmsg.Request, frame []byte) ([]byte, error) {
	resp := req.ResponseKind()
	body := frame[4:]
	if resp.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("reading %T v%d: %w", resp, resp.GetVersion(), err)
	}
	var err error
	via := func(host *string, port *int32) {
		if *host == "" || err != nil {
			return // an error answer names no broker
		}
		var a, ps string
		if a, err = p.route(net.JoinHostPort(*host, strconv.Itoa(int(*port)))); err != nil {
			return
		}
		*host, ps, _ = net.SplitHostPort(a)
		n, _ := strconv.Atoi(ps)
		*port = int32(n)
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			via(&r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		via(&r.Host, &r.Port)
		for i := range r.Coordinators {
			via(&r.Coordinators[i].Host, &r.Coordinators[i].Port)
		}
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), frame[:4]...) // the correlation id
	if resp.IsFlexible() {
		out = append(out, 0) // no header tags
	}
	return resp.AppendTo(out), nil
}

// requestBody is the request's body: what follows its header (key, version,
// correlation id, client id and, in flexible versions, tags).
func requestBody(req kmsg.Request, frame []byte) ([]byte, error) {
	rest := frame[8:]
	if len(rest) < 2 {
		return nil, errors.New("short request header")
	}
	if n := int16(binary.BigEndian.Uint16(rest)); n > 0 { // nullable client id
		rest = rest[2+int(n):]
	} else {
		rest = rest[2:]
	}
	if req.IsFlexible() {
		return skipTags(rest)
	}
	return rest, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, sz := binary.Uvarint(b)
	if sz <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[sz:]
	for ; n > 0; n-- {
		if _, sz = binary.Uvarint(b); sz <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[sz:]
		l, sz := binary.Uvarint(b)
		if sz <= 0 || uint64(len(b)-sz) < l {
			return nil, errors.New("bad tag size")
		}
		b = b[sz+int(l):]
	}
	return b, nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(r, frame)
	return frame, err
}

func writeFrame(w io.Writer, frame []byte) error {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(frame)), uint32(len(frame)))
	_, err := w.Write(append(out, frame...))
	return err
}
