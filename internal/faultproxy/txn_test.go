package faultproxy

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// What franz-go v1.22.3 does against kfake, as these tests pin it down:
// kgo sends EndTxn v5 (KIP-890 part 2: kfake advertises transaction.version
// 2), and EndTxn is retried like any coordinator request, RequestRetries
// times (here 1, so two attempts) within RetryTimeout. A retry goes on a new
// connection. kfake answers a retried EndTxn v5 whose epoch is one behind
// with success (26_end_txn.go via txns.go doEnd: "KIP-890 retry detection").
//
// After EndTransaction failed, the client keeps the transaction and marks its
// outcome unconfirmed: BeginTransaction fails ("already in a transaction"),
// EndTransaction(TryCommit) fails ("cannot retry a commit whose outcome is
// unconfirmed"), and EndTransaction(TryAbort) returns nil after re-running
// InitProducerID, which bumps the epoch and aborts whatever is still open.
// The same client is then usable for new transactions. A nil TryAbort does
// not mean the transaction was aborted: a lost commit answer stays committed.

// lose arms f on EndTxn, commits a transaction of "a" and "b" through the
// proxy and returns the commit's error.
func lose(t *testing.T, w *world, cl *kgo.Client, f Fault) error {
	t.Helper()
	produceTxn(t, cl, "a", "b")
	f.API = endTxn
	if err := w.proxy.Arm(f); err != nil {
		t.Fatal(err)
	}
	return cl.EndTransaction(ctx(t), kgo.TryCommit)
}

func expectCounts(t *testing.T, p *Proxy, fired, forwarded int) {
	t.Helper()
	if got := p.Fired(endTxn); got != fired {
		t.Errorf("fired %d EndTxn faults, want %d", got, fired)
	}
	if got := p.Requests(endTxn); got != forwarded {
		t.Errorf("forwarded %d EndTxn, want %d", got, forwarded)
	}
	if got := p.Pending(); got != 0 {
		t.Errorf("%d faults still pending", got)
	}
}

func expectCommitted(t *testing.T, w *world, want ...string) {
	t.Helper()
	w.mark(t, "m")
	if got := w.committed(t, "m"); !equal(got, want) {
		t.Errorf("read_committed saw %q, want %q", got, want)
	}
}

// The key case: both attempts reach kfake, which commits on the first and
// acknowledges the retry; both answers are lost. The retry's cut is EOF as
// the first response of a fresh connection, which kgo takes for a SASL
// misconfiguration and does not retry further (even with more retries): the
// error is *kgo.ErrFirstReadEOF.
func TestDropResponseCommitIsLost(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	err := lose(t, w, cl, Fault{Action: DropResponse, Times: 2})
	if _, ok := errors.AsType[*kgo.ErrFirstReadEOF](err); !ok {
		t.Fatalf("commit error %T %v, want *kgo.ErrFirstReadEOF", err, err)
	}
	expectCounts(t, w.proxy, 2, 2)
	expectCommitted(t, w, "a", "b")
}

// With Reset the client reads ECONNRESET, which kgo retries whatever the
// connection: exactly RequestRetries+1 attempts, ending in the reset error.
func TestDropResponseResetRetriesAll(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx", kgo.RequestRetries(3))
	err := lose(t, w, cl, Fault{Action: DropResponse, Times: 4, Reset: true})
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("commit error %T %v, want ECONNRESET", err, err)
	}
	expectCounts(t, w.proxy, 4, 4)
	expectCommitted(t, w, "a", "b")
}

// One lost answer is healed by kgo's own retry: kfake acknowledges the
// retried EndTxn, the caller sees success, and nothing is committed twice.
func TestDropResponseOnceRetried(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	if err := lose(t, w, cl, Fault{Action: DropResponse}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	expectCounts(t, w.proxy, 1, 2)
	expectCommitted(t, w, "a", "b")
}

// After a lost commit answer the same client recovers through TryAbort,
// which returns nil although the transaction was committed.
func TestClientAfterLostCommit(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	if err := lose(t, w, cl, Fault{Action: DropResponse, Times: 2}); err == nil {
		t.Fatal("commit succeeded through two lost answers")
	}
	if err := cl.BeginTransaction(); err == nil {
		t.Fatal("BeginTransaction succeeded after an unconfirmed commit")
	}
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err == nil {
		t.Fatal("a second TryCommit of an unconfirmed commit succeeded")
	}
	if err := cl.EndTransaction(ctx(t), kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	produceTxn(t, cl, "c")
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatalf("commit c: %v", err)
	}
	expectCommitted(t, w, "a", "b", "c")
}

// A commit that never reached the broker leaves the transaction open, so
// read_committed is held back; a new client with the same transactional id
// initialising (InitProducerID) aborts it in kfake (txns.go, pids.create:
// "Abort any in-flight transaction before bumping").
func TestCutBeforeForwardAbortedByNewClient(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	if err := lose(t, w, cl, Fault{Action: CutBeforeForward, Times: 2}); err == nil {
		t.Fatal("commit succeeded though EndTxn never reached the broker")
	}
	expectCounts(t, w.proxy, 2, 0)
	w.mark(t, "m1")
	if seen, ok := w.committedWithin(t, "m1", time.Second); ok {
		t.Fatalf("read_committed passed an open transaction, saw %q", seen)
	}
	cl2 := w.txnClient(t, "tx")
	produceTxn(t, cl2, "c")
	if err := cl2.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatalf("new client commit: %v", err)
	}
	expectCommitted(t, w, "m1", "c")
}

// NOT_COORDINATOR is retriable: kgo looks the coordinator up again and
// retries, and gives up with the broker's error once retries run out.
func TestReplyErrorNotCoordinator(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	finds := w.proxy.Requests(10)
	err := lose(t, w, cl, Fault{Action: ReplyError, ErrorCode: kerr.NotCoordinator.Code, Times: 2})
	if !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("commit error %v, want NOT_COORDINATOR", err)
	}
	expectCounts(t, w.proxy, 2, 0)
	if w.proxy.Requests(10) <= finds {
		t.Error("no FindCoordinator after NOT_COORDINATOR")
	}
	if err := cl.EndTransaction(ctx(t), kgo.TryAbort); err != nil {
		t.Fatalf("abort: %v", err)
	}
	expectCommitted(t, w)
}

// The broker commits and the client is told COORDINATOR_LOAD_IN_PROGRESS,
// twice (the retry is acknowledged by kfake, and replaced again).
func TestReplaceErrorLoadInProgress(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	err := lose(t, w, cl, Fault{Action: ReplaceError, ErrorCode: kerr.CoordinatorLoadInProgress.Code, Times: 2})
	if !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("commit error %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	expectCounts(t, w.proxy, 2, 2)
	expectCommitted(t, w, "a", "b")
}

// A held answer ends in the client's read timeout (RequestTimeoutOverhead
// for EndTxn), which kgo retries on a new connection.
func TestHoldResponseTimesOut(t *testing.T) {
	const overhead = 300 * time.Millisecond
	w := newWorld(t)
	cl := w.txnClient(t, "tx", kgo.RequestTimeoutOverhead(overhead))
	start := time.Now()
	err := lose(t, w, cl, Fault{Action: HoldResponse, Times: 2})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("commit error %v, want a timeout", err)
	}
	if took := time.Since(start); took < 2*overhead {
		t.Errorf("gave up after %v, before two timeouts of %v", took, overhead)
	}
	expectCounts(t, w.proxy, 2, 2)
	expectCommitted(t, w, "a", "b")
}

// Faults apply in the order armed: the first attempt is answered
// NOT_COORDINATOR by the proxy, the retry commits and is told
// COORDINATOR_LOAD_IN_PROGRESS.
func TestFaultsInOrder(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	if err := w.proxy.Arm(Fault{API: endTxn, Action: ReplyError, ErrorCode: kerr.NotCoordinator.Code}); err != nil {
		t.Fatal(err)
	}
	err := lose(t, w, cl, Fault{Action: ReplaceError, ErrorCode: kerr.CoordinatorLoadInProgress.Code})
	if !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("commit error %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	expectCounts(t, w.proxy, 2, 1)
	expectCommitted(t, w, "a", "b")
}

// The answer arrives, then the connection is cut: the commit succeeded and
// the client dials again for the next transaction.
func TestCutAfterResponse(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx")
	if err := lose(t, w, cl, Fault{Action: CutAfterResponse}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	expectCounts(t, w.proxy, 1, 1)
	produceTxn(t, cl, "c")
	if err := cl.EndTransaction(ctx(t), kgo.TryCommit); err != nil {
		t.Fatalf("commit c: %v", err)
	}
	expectCommitted(t, w, "a", "b", "c")
}

// A held answer does not outlive the broker: when the broker goes away, the
// client's connection closes too (as it would without the proxy), long
// before the client's request timeout.
func TestHoldResponseEndsWithTheBroker(t *testing.T) {
	w := newWorld(t)
	cl := w.txnClient(t, "tx", kgo.RequestTimeoutOverhead(time.Minute))
	produceTxn(t, cl, "a")
	if err := w.proxy.Arm(Fault{API: kmsg.EndTxn.Int16(), Action: HoldResponse}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cl.EndTransaction(ctx(t), kgo.TryCommit) }()
	for w.proxy.Fired(kmsg.EndTxn.Int16()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	w.cluster.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the commit succeeded with its answer held and the broker gone")
		}
		t.Logf("commit error %v after %v", err, time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the client still waits for a held answer 5 s after the broker went away")
	}
}
