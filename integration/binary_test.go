//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/faultproxy"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds ./cmd/coupa-kafka once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "coupa-kafka-it-bin")
		if err != nil {
			binErr = err
			return
		}
		atExit(func() { os.RemoveAll(dir) })
		binPath = filepath.Join(dir, "coupa-kafka")
		gobin := filepath.Join(goroot(), "bin", "go")
		cmd := exec.Command(gobin, "build", "-o", binPath, "./cmd/coupa-kafka")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/coupa-kafka: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func goroot() string {
	if p, err := exec.LookPath("go"); err == nil {
		return filepath.Dir(filepath.Dir(p))
	}
	return os.Getenv("GOROOT")
}

// binEnv is the environment of `coupa-kafka` for world w: the simulator by
// URL (its CA in a file named by SSL_CERT_FILE), the broker, the registry
// and the world's topics.
func (w *world) binEnv(extra ...string) []string {
	w.t.Helper()
	ca := filepath.Join(w.t.TempDir(), "coupa-ca.pem")
	if err := os.WriteFile(ca, w.sim.CACertPEM(), 0o600); err != nil {
		w.t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"COUPA_INSTANCE_URL=" + w.sim.URL(),
		"COUPA_CLIENT_ID=" + coupatest.DefaultClientID,
		"COUPA_CLIENT_SECRET=" + coupatest.DefaultClientSecret,
		"COUPA_TABLES=" + strings.Join(w.tableNames(), ","),
		"COUPA_TOPIC_PREFIX=" + w.prefix,
		"COUPA_OFFSETS_TOPIC=" + w.offsets,
		"KAFKA_BROKERS=" + strings.Join(w.be.brokers, ","),
		"SCHEMA_REGISTRY_URL=" + w.regURL,
		"SSL_CERT_FILE=" + ca,
		"COUPA_LOG_FORMAT=text",
	}
	return append(env, extra...)
}

// proc is one run of the binary.
type proc struct {
	cmd    *exec.Cmd
	out    *lockedBuffer // stdout and stderr
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

func startBinary(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &proc{cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the end of a process's output, for failure messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The real binary, SIGKILLed at random moments of syncs (and of their delete
// sweeps) while the instance keeps changing, deleting records, dropping
// lines and changing purchase order and expense lines on their own,
// restarted each time; then a final `sync` that runs to its end:
// every topic equals the instance, nothing is missing or stale, every
// deleted record and dropped line ends in a tombstone and no live one does,
// and no (id, updated_at) is visible twice to a read_committed consumer. A consumer
// that is not ours (Python) then reads the same topics.
func TestBinaryKilledDuringSyncUnderMutations(t *testing.T) {
	ctx := testContext(t, 10*time.Minute)
	records := map[string]int{}
	var tables []string
	for _, tb := range coupa.DefaultTables {
		records[tb.Name] = 1500
		tables = append(tables, tb.Name)
	}
	// And a sample of the rest of the catalog, full refresh tables included.
	for _, n := range truthcheck.CatalogSample {
		records[n] = 40 // a page: their backfill leaves the budget to the documents
		tables = append(tables, n)
	}
	w := newWorld(t, coupatest.Config{Seed: 21, UTCOffset: -7 * time.Hour, Adversarial: true, Deletes: true, LineChanges: true, Records: records}, tables...)
	w.sim.Faults().Latency(30*time.Millisecond, 10*time.Millisecond)
	bin := buildBinary(t)
	// A budget well under Coupa's 25/s, so that the backfill spans several
	// runs: a sync that is only incremental is over in moments and seldom
	// killed with records in flight (an idle pass is one request).
	// Every sync also sweeps for deletes (some runs are killed mid-sweep).
	env := w.binEnv("COUPA_RATE_LIMIT=15", "COUPA_LOOKBACK=2m", "COUPA_DELETE_SWEEP_INTERVAL=1ms")

	custom := w.customFields()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.sim.Churn(stop, 50*time.Millisecond, w.tableNames()...)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 5))
	t.Logf("kill delays drawn with seed %d", seed)
	// A transaction is open for only a few milliseconds of each batch (the
	// records are collected first), so kills at random instants alone seldom
	// hit one. Every third kill lands at a random instant (also while the
	// process still opens: topics, schemas, fencing, restore). The others
	// wait a random delay and then strike while a commit is held on its way
	// to the broker (faultproxy.HoldRequest on the binary's only way to
	// the broker, a Front address): the transaction's records are in the table
	// topic, its commit never arrives, and the next run's fencing aborts it.
	proxy := faultproxy.New()
	defer proxy.Close()
	front, err := proxy.Front(w.be.brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	killEnv := append(env[:len(env):len(env)], "KAFKA_BROKERS="+front)
	adm := w.admin()
	held := make(chan string, 1)
	// Only the commit of a transaction with records in its table's topic
	// (the table is the transactional id's last part), not one of the
	// cursor alone.
	holdDataCommit := func(r kmsg.Request) bool {
		end := r.(*kmsg.EndTxnRequest)
		table := end.TransactionalID[strings.LastIndex(end.TransactionalID, ".")+1:]
		if !end.Commit || !openTransaction(ctx, adm, []string{w.topic(table)}) {
			return false
		}
		select {
		case held <- table:
		default:
		}
		return true
	}
	const wantKills = 12
	kills, midTxn, finished := 0, 0, 0
	var delays []string
	for run := 0; kills < wantKills; run++ {
		if run >= 3*wantKills {
			t.Fatalf("only %d of %d runs were killed mid-sync: the syncs are too short for this test", kills, run)
		}
		// From a second on: opening 27 tables (scope checks, topics,
		// schemas, fencing, restore) takes about that long, and a run killed
		// before any table commits tests little.
		delay := time.Second + time.Duration(rng.Int64N(int64(5*time.Second)))
		atCommit := run%3 != 0
		p := startBinary(t, bin, killEnv, "sync")
		select {
		case <-p.exited:
		case <-time.After(delay):
		}
		heldTable := ""
		if atCommit && !exited(p) {
			err := proxy.Arm(faultproxy.Fault{API: kmsg.EndTxn.Int16(), Action: faultproxy.HoldRequest, When: holdDataCommit, Times: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case heldTable = <-held:
			case <-p.exited:
			case <-time.After(10 * time.Second):
			}
		}
		if !exited(p) {
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		<-p.exited
		proxy.Disarm()
		select {
		case <-held: // a hold that raced with the kill
		default:
		}
		var ee *exec.ExitError
		switch {
		case errors.As(p.err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled():
			kills++
			how := delay.Round(10 * time.Millisecond).String()
			if heldTable != "" {
				midTxn++
				how += "+" + heldTable
			}
			delays = append(delays, how)
		case p.err != nil:
			t.Fatalf("run %d: sync failed on its own: %v\n%s", run, p.err, tail(p.out.String(), 30))
		default:
			finished++ // it ended before the signal
		}
	}
	t.Logf("%d runs killed (after %s), %d of them while a table's commit was held; %d ran to the end", kills, strings.Join(delays, " "), midTxn, finished)
	if kills < 10 {
		t.Fatalf("only %d kills", kills)
	}

	close(stop)
	wg.Wait()
	// Whatever the kills left, five published documents with lines are
	// deleted: the final sync must tombstone them and their lines (the
	// churn's deletes may all have hit records no run had published yet).
	deleted := 0
	for _, table := range []string{"invoices", "purchase_orders", "requisitions", "expense_reports"} {
		published, err := truthcheck.Read(ctx, w.topic(table), w.kafka()...) // committed so far: no wait for the open transaction of the last kill
		if err != nil {
			t.Fatal(err)
		}
		for id, p := range published.Last {
			if _, live := w.sim.Record(table, id); live && p.Value != nil && deleted < 5 {
				if err := w.sim.Delete(table, id); err != nil {
					t.Fatal(err)
				}
				deleted++
			}
		}
	}
	if deleted == 0 {
		t.Fatal("no run published a document with lines: the kills came too early to test anything")
	}
	time.Sleep(1100 * time.Millisecond) // let the last second of changes close
	final := finalSync(ctx, t, bin, env)
	if !strings.Contains(final.out.String(), "sync finished") {
		t.Errorf("final sync logged no 'sync finished':\n%s", tail(final.out.String(), 30))
	}
	tombstoned := w.assertTruth(ctx)
	t.Logf("tombstoned (deleted records, dropped lines): %v", tombstoned)
	w.assertDeletesTested(tombstoned)
	w.assertCustomFieldsAddedMidSyncTyped(ctx, custom)
	aborted := 0
	for _, tb := range w.tables {
		committed := w.read(ctx, tb.Name).Records
		aborted += w.uncommitted(ctx, w.topic(tb.Name)) - committed
	}
	t.Logf("%d records of transactions that kills left open (aborted when the next run fenced them) are in the logs, invisible to read_committed", aborted)
	if aborted == 0 {
		t.Errorf("no kill left a transaction open (%d kills, %d with a commit held): the test did not test what it claims", kills, midTxn)
	}
	pycheck(t, ctx, w)
}

func exited(p *proc) bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// openTransaction reports whether a partition of topics has a transaction
// open: its last stable offset is behind its high watermark.
func openTransaction(ctx context.Context, adm *kadm.Client, topics []string) bool {
	hw, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return false
	}
	lso, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return false
	}
	open := false
	hw.Each(func(o kadm.ListedOffset) {
		if l, ok := lso.Lookup(o.Topic, o.Partition); ok && o.Err == nil && l.Err == nil && l.Offset < o.Offset {
			open = true
		}
	})
	return open
}

// poll polls cond until it holds or ctx ends.
func poll(ctx context.Context, every time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
