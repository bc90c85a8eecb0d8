package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consume reads n records of topic through the proxy.
func (w *world) consume(t *testing.T, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.addr), kgo.Dialer(w.proxy.DialContext),
		kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx(t))
		if err := fs.Err0(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(recs), n, err)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

func TestPassThrough(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	produceTxn(t, cl, "a", "b")
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range w.consume(t, 2) {
		got = append(got, string(r.Value))
	}
	if !equal(got, []string{"a", "b"}) {
		t.Errorf("consumed %q", got)
	}
	if w.proxy.Requests(endTxn) != 1 || w.proxy.Requests(kmsg.Produce.Int16()) == 0 || w.proxy.Requests(kmsg.Fetch.Int16()) == 0 {
		t.Errorf("forwarded %d EndTxn, %d Produce, %d Fetch", w.proxy.Requests(endTxn),
			w.proxy.Requests(kmsg.Produce.Int16()), w.proxy.Requests(kmsg.Fetch.Int16()))
	}
	if w.proxy.Fired(endTxn) != 0 {
		t.Error("a fault fired with none armed")
	}
}

// A multi-megabyte Produce request and its Fetch response are streamed.
func TestLargeRecord(t *testing.T) {
	w := newWorld(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "16777216"}))
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.addr), kgo.Dialer(w.proxy.DialContext),
		kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(16<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	if err := cl.ProduceSync(ctx(t), &kgo.Record{Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if recs := w.consume(t, 1); !bytes.Equal(recs[0].Value, big) {
		t.Errorf("consumed %d bytes, want the %d produced", len(recs[0].Value), len(big))
	}
}

// Several requests in flight on one connection are answered in order, a
// proxy answer included, although it is ready before the broker's.
func TestPipelined(t *testing.T) {
	w := newWorld(t)
	if err := w.proxy.Arm(Fault{API: kmsg.ApiVersions.Int16(), Action: ReplyError, ErrorCode: kerr.UnsupportedVersion.Code}); err != nil {
		t.Fatal(err)
	}
	c, err := w.proxy.DialContext(ctx(t), "tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var reqs []byte
	for corr, req := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrApiVersionsRequest()} {
		req.SetVersion(1)
		frame := []byte{0, 0, 0, 0, 0, byte(req.Key()), 0, 1, 0, 0, 0, byte(corr), 0, 1, 'c'}
		frame = req.AppendTo(frame)
		putInt32(frame, int32(len(frame)-4))
		reqs = append(reqs, frame...)
	}
	if _, err := c.Write(reqs); err != nil { // all three in one write
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for corr := range 3 {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, getInt32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatal(err)
		}
		if got := getInt32(body); got != int32(corr) {
			t.Fatalf("response %d has correlation id %d", corr, got)
		}
		if corr == 2 {
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.SetVersion(1)
			if err := resp.ReadFrom(body[4:]); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 0 {
				t.Errorf("proxy answer %+v, %v", resp, err)
			}
		}
	}
	if w.proxy.Requests(kmsg.Metadata.Int16()) != 2 || w.proxy.Requests(kmsg.ApiVersions.Int16()) != 0 || w.proxy.Fired(kmsg.ApiVersions.Int16()) != 1 {
		t.Error("wrong counts")
	}
}

// A Produce cut before the broker saw it is retried by kgo and written once.
// kgo retries a failed produce after a metadata refresh, which waits for
// MetadataMinAge (5s by default) since the last one.
func TestProduceCutRetried(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx", kgo.MetadataMinAge(50*time.Millisecond))
	if err := w.proxy.Arm(Fault{API: kmsg.Produce.Int16(), Action: CutBeforeForward}); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, cl, "a")
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if w.proxy.Fired(kmsg.Produce.Int16()) != 1 {
		t.Error("the Produce fault did not fire")
	}
	expectCommitted(t, w, "a")
}

// acks=0 Produce requests have no response: they pass, never faulted.
func TestAcksZeroNotFaulted(t *testing.T) {
	w := newWorld(t)
	produce := kmsg.Produce.Int16()
	if err := w.proxy.Arm(Fault{API: produce, Action: CutBeforeForward}); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.addr), kgo.Dialer(w.proxy.DialContext),
		kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), logOpt())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range []string{"a", "b", "c"} {
		if err := cl.ProduceSync(ctx(t), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.consume(t, 3)); n != 3 {
		t.Errorf("consumed %d", n)
	}
	if w.proxy.Pending() != 1 || w.proxy.Fired(produce) != 0 || w.proxy.Requests(produce) == 0 {
		t.Errorf("pending %d, fired %d, forwarded %d", w.proxy.Pending(), w.proxy.Fired(produce), w.proxy.Requests(produce))
	}
}

func TestArmRejects(t *testing.T) {
	p := New()
	defer p.Close()
	for _, f := range []Fault{
		{API: kmsg.Produce.Int16(), Action: ReplyError},
		{API: kmsg.Produce.Int16(), Action: ReplaceError},
		{API: 9999, Action: ReplyError},
		{API: endTxn, Action: Action(42)},
		{API: endTxn, Times: -1},
	} {
		if p.Arm(f) == nil {
			t.Errorf("armed %+v", f)
		}
	}
	if p.Pending() != 0 {
		t.Error("rejected faults are pending")
	}
}

// The proxy's answers parse as the client would parse them.
func TestErrorResponse(t *testing.T) {
	for v := int16(0); v <= kmsg.NewPtrEndTxnResponse().MaxVersion(); v++ {
		frame, err := errorResponse(endTxn, v, 7, kerr.NotCoordinator.Code)
		if err != nil {
			t.Fatal(err)
		}
		body := frame[8:]
		if v >= 3 { // flexible: one empty tagged-field section in the header
			if body[0] != 0 {
				t.Fatalf("v%d: no empty header tags", v)
			}
			body = body[1:]
		}
		resp := kmsg.NewPtrEndTxnResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != kerr.NotCoordinator.Code ||
			getInt32(frame) != int32(len(frame)-4) || getInt32(frame[4:]) != 7 {
			t.Errorf("v%d: %+v, %v", v, resp, err)
		}
	}
}

func TestDialErrorIsTheTargets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := New()
	defer p.Close()
	_, err = p.DialContext(ctx(t), "tcp", addr)
	if op, ok := errors.AsType[*net.OpError](err); !ok || op.Op != "dial" || op.Addr.String() != addr {
		t.Errorf("dial error %v, want a dial error for %s", err, addr)
	}
}

// Close cuts live connections, ends every goroutine, and refuses new dials.
func TestClose(t *testing.T) {
	w := newWorld(t)
	c, err := w.proxy.DialContext(ctx(t), "tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produceTxn(t, w.txnClient(t, "tx"), "a") // a live client's connections too
	done := make(chan error)
	go func() { done <- w.proxy.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "faultproxy.(*") {
		t.Errorf("goroutines left after Close:\n%s", stacks)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Close: %v, want EOF", err)
	}
	if _, err := w.proxy.DialContext(ctx(t), "tcp", w.addr); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial after Close: %v", err)
	}
}

// produceAcks finds acks in every Produce header and body layout, header
// tagged fields included, and keeps exactly the bytes it read.
func TestProduceAcks(t *testing.T) {
	txid := "tx"
	for _, v := range []int16{0, 2, 3, 8, 9, 13} {
		for _, acks := range []int16{0, -1} {
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(v)
			req.TransactionID, req.Acks = &txid, acks
			frame := []byte{0, 0, 0, 0, 0, 0, 0, byte(v), 0, 0, 0, 9, 0, 2, 'i', 'd'}
			if req.IsFlexible() { // two header tags: 1 (3 bytes), 7 (empty)
				frame = append(frame, 2, 1, 3, 'x', 'y', 'z', 7, 0)
			}
			frame = req.AppendTo(frame)
			putInt32(frame, int32(len(frame)-4))
			r := bufio.NewReader(bytes.NewReader(frame[12:]))
			x := &prefix{r: r, b: append([]byte(nil), frame[:12]...), left: int64(len(frame) - 12)}
			got, err := x.produceAcks(v)
			if err != nil || got != acks || !bytes.Equal(x.b, frame[:len(frame)-int(x.left)]) || r.Buffered() != int(x.left) {
				t.Errorf("v%d acks %d: got %d, %v, kept %d bytes, %d left", v, acks, got, err, len(x.b), x.left)
			}
		}
	}
}
