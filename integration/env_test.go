//go:build integration

// Package integration runs coupa-kafka against a real Kafka broker: the
// producer in-process, the real binary as a process (SIGKILLed mid-sync),
// a broker restart mid-sync, real log compaction, and a consumer that is not
// ours (Python, librdkafka + fastavro) reading what we wrote.
//
// Where the broker comes from:
//
//   - KAFKA_BROKERS set (scripts/integration.sh starts a real Apache Kafka
//     with scripts/kafka-local.sh and sets it): that broker, with franz-go's
//     in-memory schema registry (srfake) served over HTTP by this process.
//     When the broker is the one scripts/kafka-local.sh runs, the broker
//     restart scenario restarts it with that script.
//   - KAFKA_BROKERS unset and the package built with the extra tag
//     testcontainers (-tags integration,testcontainers): a Redpanda container
//     (Kafka API and a real schema registry) via testcontainers-go, shared by
//     the tests; every test skips cleanly when no Docker engine answers.
//   - Neither: every test skips, saying how to run it.
//
// Every test uses its own topic prefix and offsets topic, so the tests can
// run one after the other on one broker, and again (-count=1) on the same
// one. They do not run in parallel: they share the transactional ids of the
// simulator's instance (127.0.0.1).
package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend is the Kafka (and maybe registry) the tests run against.
type backend struct {
	name    string
	brokers []string
	// registryURL is a real registry shared by the tests; empty means each
	// test serves its own srfake over HTTP.
	registryURL string
	// restart restarts the broker on the same address while clients keep
	// running, with the arguments of `kafka-local.sh restart` ("--kill": a
	// crash). Nil: not possible with this backend.
	restart func(ctx context.Context, args ...string) error
	// apacheKafka: the broker is Apache Kafka, whose log cleaner the
	// compaction test drives with topic configs (segment.ms,
	// min.cleanable.dirty.ratio); Redpanda compacts on its own schedule.
	apacheKafka bool
}

// dockerBackend starts (once) and returns a containerised broker and
// registry; set by the testcontainers-tagged file. It must skip t when no
// Docker engine is usable.
var dockerBackend func(t *testing.T) *backend

// cleanups run when the package's tests end (containers, the built binary).
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanupMu.Unlock()
	os.Exit(code)
}

var (
	localOnce sync.Once
	local     *backend
)

// getBackend returns the backend of this run, or skips t.
func getBackend(t *testing.T) *backend {
	t.Helper()
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		localOnce.Do(func() { local = kafkaLocal(strings.Split(b, ",")) })
		return local
	}
	if dockerBackend != nil {
		return dockerBackend(t)
	}
	t.Skip("no broker: set KAFKA_BROKERS (scripts/integration.sh starts a real Kafka and does), " +
		"or build with -tags integration,testcontainers where a Docker engine runs")
	return nil
}

// repoRoot is the module root (the tests run in integration/).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// kafkaLocal describes the broker at brokers; it can be restarted when it is
// the broker scripts/kafka-local.sh runs (same state dir: COUPA_KAFKA_STATE
// is inherited) and listens where KAFKA_BROKERS says.
func kafkaLocal(brokers []string) *backend {
	b := &backend{name: "KAFKA_BROKERS=" + strings.Join(brokers, ","), brokers: brokers, apacheKafka: true}
	wd, err := os.Getwd()
	if err != nil {
		return b
	}
	script := filepath.Join(filepath.Dir(wd), "scripts", "kafka-local.sh")
	out, err := exec.Command(script, "env").Output()
	if err != nil || strings.TrimSpace(string(out)) != "KAFKA_BROKERS="+strings.Join(brokers, ",") {
		return b
	}
	b.name = "scripts/kafka-local.sh broker " + strings.Join(brokers, ",")
	b.restart = func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, script, append([]string{"restart"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil && strings.Contains(string(out), "Kafka exited during startup") {
			// kafka-local.sh checks the new JVM's command line right after
			// forking it, and can find the forked shell's instead (before
			// exec): it then reports a broker that is starting as exited
			// and forgets it. Adopt that broker as the script would have.
			if aerr := adoptStartingBroker(ctx, brokers); aerr == nil {
				return nil
			} else {
				err = errors.Join(err, aerr)
			}
		}
		if err != nil {
			return fmt.Errorf("%s restart: %w\n%s", script, err, out)
		}
		if got := lastLine(string(out)); got != "KAFKA_BROKERS="+strings.Join(brokers, ",") {
			return fmt.Errorf("%s restart printed %q, want the same brokers", script, got)
		}
		return nil
	}
	return b
}

// adoptStartingBroker finds the broker JVM that kafka-local.sh launched on
// its state dir but lost track of, waits until it serves, and records it in
// the state dir (pid and env files) as kafka-local.sh does, so that its
// stop and restart work on it again.
func adoptStartingBroker(ctx context.Context, brokers []string) error {
	state := os.Getenv("COUPA_KAFKA_STATE")
	if state == "" {
		state = "/tmp/coupa-kafka-local"
	}
	needle := "kafka.Kafka " + filepath.Join(state, "server.properties")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	pid := ""
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), needle) {
			pid = filepath.Base(filepath.Dir(p))
		}
	}
	if pid == "" {
		return errors.New("no broker JVM of " + state + " is running")
	}
	logFile := filepath.Join(state, "kafka.log")
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := poll(actx, 200*time.Millisecond, func() (bool, error) {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			return false, fmt.Errorf("broker pid %s exited", pid)
		}
		b, err := os.ReadFile(logFile)
		if err != nil {
			return false, err
		}
		log := string(b)
		log = log[strings.LastIndex(log, "===== kafka-local.sh"):]
		if !strings.Contains(log, "Kafka Server started") {
			return false, nil
		}
		c, err := net.DialTimeout("tcp", brokers[0], time.Second)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("adopting broker pid %s: %w", pid, err)
	}
	if err := os.WriteFile(filepath.Join(state, "kafka.pid"), []byte(pid+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(state, "env"), []byte("KAFKA_BROKERS="+strings.Join(brokers, ",")+"\n"), 0o644)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
