package faultproxy

import (
	"bufio"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// queueLen bounds the requests in flight on one connection before the relay
// stops reading the client; kgo pipelines at most a handful.
const queueLen = 256

// relay carries one client connection to one broker connection. Two
// goroutines run it: up reads requests from the client and forwards them,
// down reads responses from the broker and forwards them. Only up writes to
// the broker and only down writes to the client. They share the FIFO queue
// of requests in flight, which is what tells down which request each
// response answers.
type relay struct {
	p      *Proxy
	client net.Conn
	broker net.Conn
	cr     *bufio.Reader // the client, read by up
	br     *bufio.Reader // the broker, read by down
	queue  chan pending
	done   chan struct{} // closed by cut
	once   sync.Once
	front  bool // accepted by a Front listener: rewrite broker addresses
}

// pending is a request in flight whose response down awaits.
type pending struct {
	api, version int16
	corr         int32
	fault        *Fault // the fault that matched the request, if any
	reply        []byte // ReplyError: the answer, sent instead of reading one
}

func newRelay(p *Proxy, client, broker net.Conn) *relay {
	return &relay{
		p:      p,
		client: client,
		broker: broker,
		cr:     bufio.NewReaderSize(client, 64<<10),
		br:     bufio.NewReaderSize(broker, 64<<10),
		queue:  make(chan pending, queueLen),
		done:   make(chan struct{}),
	}
}

// cut closes both connections, at most once. With reset, the client side is
// closed with SO_LINGER 0 so that the client reads ECONNRESET, not EOF.
func (r *relay) cut(reset bool) {
	r.once.Do(func() {
		if tc, ok := r.client.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		r.client.Close()
		r.broker.Close()
		close(r.done)
		r.p.mu.Lock()
		delete(r.p.relays, r)
		r.p.mu.Unlock()
	})
}

func (r *relay) enqueue(pd pending) bool {
	select {
	case r.queue <- pd:
		return true
	case <-r.done:
		return false
	}
}

// up forwards requests, applying the fault each one matches. It returns,
// cutting the relay, when either side closes or a frame is malformed.
func (r *relay) up() {
	defer r.cut(false)
	var hdr [12]byte
	for {
		if _, err := io.ReadFull(r.cr, hdr[:4]); err != nil {
			return
		}
		size := int64(getInt32(hdr[:4]))
		if size < 8 { // too short for key, version and correlation id
			return
		}
		if _, err := io.ReadFull(r.cr, hdr[4:]); err != nil {
			return
		}
		pd := pending{
			api:     int16(hdr[4])<<8 | int16(hdr[5]),
			version: int16(hdr[6])<<8 | int16(hdr[7]),
			corr:    getInt32(hdr[8:]),
		}
		head, rest := hdr[:], size-8
		if pd.api == kmsg.Produce.Int16() {
			x := &prefix{r: r.cr, b: append([]byte(nil), hdr[:]...), left: rest}
			acks, err := x.produceAcks(pd.version)
			if err != nil {
				return
			}
			head, rest = x.b, x.left
			if acks == 0 { // no response will come: nothing to queue or fault
				if r.forward(pd.api, head, rest) != nil {
					return
				}
				continue
			}
		}
		// A fault with When needs the whole request: read the rest into
		// head, once, and forward it from there.
		req := func() kmsg.Request {
			if rest > 0 {
				b, err := readAll(r.cr, rest)
				if err != nil {
					return nil
				}
				head, rest = append(append([]byte(nil), head...), b...), 0
			}
			parsed, err := parseRequest(pd.api, pd.version, head)
			if err != nil {
				return nil
			}
			return parsed
		}
		if f, ok := r.p.match(pd.api, req); ok {
			pd.fault = &f
			switch f.Action {
			case CutBeforeForward:
				r.p.count(r.p.fired, pd.api)
				r.cut(f.Reset)
				return
			case HoldRequest:
				r.p.count(r.p.fired, pd.api)
				_, _ = io.Copy(io.Discard, r.cr) // until the client goes away
				return
			case ReplyError:
				reply, err := errorResponse(pd.api, pd.version, pd.corr, f.ErrorCode)
				if err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, r.cr, rest); err != nil {
					return
				}
				pd.reply = reply
				if !r.enqueue(pd) {
					return
				}
				continue
			}
		}
		// Queued before it is forwarded, so that its response, which
		// cannot come earlier, always finds it.
		if !r.enqueue(pd) || r.forward(pd.api, head, rest) != nil {
			return
		}
	}
}

// forward writes the bytes of a request already read, then streams the rest
// of it from the client to the broker. The request is counted first: once
// the broker has it, the client may learn the outcome and the test look at
// the counters before the write returns.
func (r *relay) forward(api int16, head []byte, rest int64) error {
	r.p.count(r.p.requests, api)
	if _, err := r.broker.Write(head); err != nil {
		return err
	}
	_, err := io.CopyN(r.broker, r.cr, rest)
	return err
}

// down forwards responses in request order, applying the fault of the
// request each one answers.
func (r *relay) down() {
	defer r.p.wg.Done()
	defer r.cut(false)
	var hdr [8]byte
	for {
		var pd pending
		select {
		case pd = <-r.queue:
		case <-r.done:
			return
		}
		if pd.reply != nil {
			r.p.count(r.p.fired, pd.api) // before the client can see it
			if _, err := r.client.Write(pd.reply); err != nil {
				return
			}
			continue
		}
		if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
			return
		}
		size := int64(getInt32(hdr[:4]))
		if size < 4 || getInt32(hdr[4:]) != pd.corr {
			return // out of step with the broker: cut rather than guess
		}
		rest := size - 4
		f := pd.fault
		if f != nil {
			r.p.count(r.p.fired, pd.api) // before the client can see anything
		}
		if f != nil && f.Action != CutAfterResponse {
			if _, err := io.CopyN(io.Discard, r.br, rest); err != nil {
				return
			}
		} else if r.front && redirects(pd.api) {
			body, err := readAll(r.br, rest)
			if err != nil {
				return
			}
			if body, err = r.p.redirect(pd.api, pd.version, body); err != nil {
				return
			}
			out := make([]byte, 8, 8+len(body))
			putInt32(out, int32(4+len(body)))
			putInt32(out[4:], pd.corr)
			if _, err := r.client.Write(append(out, body...)); err != nil {
				return
			}
		} else {
			if _, err := r.client.Write(hdr[:]); err != nil {
				return
			}
			if _, err := io.CopyN(r.client, r.br, rest); err != nil {
				return
			}
		}
		if f == nil {
			continue
		}
		switch f.Action {
		case DropResponse, CutAfterResponse:
			r.cut(f.Reset)
			return
		case ReplaceError:
			reply, err := errorResponse(pd.api, pd.version, pd.corr, f.ErrorCode)
			if err != nil {
				return
			}
			if _, err := r.client.Write(reply); err != nil {
				return
			}
		case HoldResponse:
			// Nothing more reaches the client on this connection, but a
			// broker that dies still closes it, as it would without the
			// proxy: drain the broker side until it ends, then cut.
			_, _ = io.Copy(io.Discard, r.br)
			return
		}
	}
}
