package faultproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Front returns the address of a listener that stands for the broker at
// addr, for a client that cannot take the proxy's dialer: another process,
// such as the coupa-kafka binary, given the address as its bootstrap broker.
// Every connection accepted there is relayed to addr, and the broker
// addresses in its Metadata and FindCoordinator answers are rewritten to
// front listeners of their own, so that the client never leaves the proxy.
// Faults apply to these connections as to dialed ones.
func (p *Proxy) Front(addr string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", net.ErrClosed
	}
	if t := p.fronts[addr]; t != nil {
		return t.ln.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	t := &target{ln: ln, addr: addr}
	p.fronts[addr] = t
	p.wg.Add(1)
	go p.accept(t, p.relayFront)
	return ln.Addr().String(), nil
}

// relayFront dials the broker of a front listener for cc and relays them.
func (p *Proxy) relayFront(t *target, cc net.Conn) {
	bc, err := p.dialer.Dial("tcp", t.addr)
	if err != nil {
		cc.Close() // the broker is down: so is the connection to it
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cc.Close()
		bc.Close()
		return
	}
	r := newRelay(p, cc, bc)
	r.front = true
	p.relays[r] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go r.down()
	go func() {
		defer p.wg.Done()
		r.up()
	}()
}

// redirects reports whether a response of api names brokers that a front
// relay must rewrite.
func redirects(api int16) bool {
	return api == kmsg.Metadata.Int16() || api == kmsg.FindCoordinator.Int16()
}

// redirect rewrites the broker addresses of a Metadata or FindCoordinator
// response (body: what follows the correlation id) to front listeners.
func (p *Proxy) redirect(api, version int16, body []byte) ([]byte, error) {
	resp := kmsg.ResponseForKey(api)
	resp.SetVersion(version)
	if resp.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("faultproxy: reading %s v%d: %w", kmsg.NameForKey(api), version, err)
	}
	var err error
	via := func(host *string, port *int32) {
		if *host == "" || err != nil {
			return // an error answer names no broker
		}
		var front, ps string
		if front, err = p.Front(net.JoinHostPort(*host, strconv.Itoa(int(*port)))); err != nil {
			return
		}
		*host, ps, _ = net.SplitHostPort(front)
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
	var out []byte
	if resp.IsFlexible() {
		out = append(out, 0) // no header tags
	}
	return resp.AppendTo(out), nil
}

// parseRequest decodes a whole request frame (size, header, body) for a
// fault's When.
func parseRequest(api, version int16, frame []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(api)
	if req == nil || len(frame) < 14 {
		return nil, errMalformed
	}
	req.SetVersion(version)
	body := frame[12:]                                    // after size, key, version, correlation id
	if n := int16(binary.BigEndian.Uint16(body)); n > 0 { // nullable client id
		if len(body) < 2+int(n) {
			return nil, errMalformed
		}
		body = body[2+int(n):]
	} else {
		body = body[2:]
	}
	if req.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if err := req.ReadFrom(body); err != nil {
		return nil, err
	}
	return req, nil
}

var errTags = errors.New("faultproxy: malformed tagged fields")

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, sz := binary.Uvarint(b)
	if sz <= 0 {
		return nil, errTags
	}
	b = b[sz:]
	for ; n > 0; n-- {
		if _, sz = binary.Uvarint(b); sz <= 0 {
			return nil, errTags
		}
		b = b[sz:]
		l, sz := binary.Uvarint(b)
		if sz <= 0 || uint64(len(b)-sz) < l {
			return nil, errTags
		}
		b = b[sz+int(l):]
	}
	return b, nil
}

// readAll reads the n remaining bytes of a message.
func readAll(r io.Reader, n int64) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}
