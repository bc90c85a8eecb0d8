//go:build integration

package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/internal/truthcheck"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// TestLiveCursorsResetOnRealKafka: `coupa-kafka cursors reset --execute`
// while `coupa-kafka run` is live, both as binaries against the real
// broker. The running process adopts the reset at its next pass (it says
// so), republishes the table in full-refresh mode, is neither fenced nor
// restarted, and exits 0 on SIGTERM; the topic matches the instance.
func TestLiveCursorsResetOnRealKafka(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 41, Records: map[string]int{"users": 150, "suppliers": 80}}, "users", "suppliers")
	bin := buildBinary(t)
	// Port 0: tests (and CI runs) in parallel must not fight over :8080.
	env := w.binEnv("COUPA_POLL_INTERVAL=300ms", "COUPA_POLL_MIN=100ms", "COUPA_LOG_LEVEL=info", "COUPA_HTTP_ADDR=127.0.0.1:0")
	run := startBinary(t, bin, env, "run")
	key := offsets.Key{Instance: w.client.Instance(), Table: "users"}
	synced := func() (bool, error) {
		if exited(run) {
			return false, fmt.Errorf("run exited: %v", run.err)
		}
		c, err := offsets.Load(ctx, w.offsets, w.kafka()...)
		return err == nil && !c[key].IsZero(), nil
	}
	if err := poll(ctx, 100*time.Millisecond, synced); err != nil {
		t.Fatalf("run never committed a users cursor: %v\n%s", err, tail(run.out.String(), 30))
	}

	reset := startBinary(t, bin, env, "cursors", "reset", "--table", "users", "--to-earliest", "--full-refresh", "--execute")
	<-reset.exited
	if reset.err != nil || !strings.Contains(reset.out.String(), "requested") {
		t.Fatalf("cursors reset: %v\n%s", reset.err, reset.out.String())
	}
	adopted := func() (bool, error) {
		if exited(run) {
			return false, fmt.Errorf("run exited: %v", run.err)
		}
		c, err := offsets.Load(ctx, w.offsets, w.kafka()...)
		cur := c[key]
		return err == nil && !cur.Pending(c[key.ResetRequest()]) && cur.Mode == offsets.Incremental && !cur.IsZero(), nil
	}
	if err := poll(ctx, 100*time.Millisecond, adopted); err != nil {
		t.Fatalf("the reset was not adopted and completed: %v\n%s", err, tail(run.out.String(), 40))
	}
	if err := run.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.exited:
	case <-ctx.Done():
		t.Fatal("run did not stop on SIGTERM")
	}
	out := run.out.String()
	if run.err != nil {
		t.Fatalf("run exited with %v\n%s", run.err, tail(out, 30))
	}
	if !strings.Contains(out, "adopted a cursor reset") {
		t.Errorf("run did not log the adoption:\n%s", tail(out, 30))
	}
	for _, bad := range []string{"another coupa-kafka process", "fenced", "level=ERROR", "level=WARN"} {
		if strings.Contains(out, bad) {
			t.Errorf("run logged %q:\n%s", bad, tail(out, 30))
		}
	}
	refreshed := 0
	for _, n := range w.read(ctx, "users").Count {
		if n == 2 {
			refreshed++
		}
	}
	if refreshed < 150 {
		t.Errorf("%d users versions are in the topic twice, want all 150 republished by the full refresh", refreshed)
	}
	w.assertTruth(ctx, truthcheck.Refreshed(1))
}
