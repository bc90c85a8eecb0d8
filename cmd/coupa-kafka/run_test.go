package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
)

// TestRunServesHealthReadinessMetricsAndStopsOnSignal runs the daemon
// against a simulator, kfake and srfake: /healthz, /readyz and /metrics
// answer, the first pass publishes, and cancelling (what SIGTERM does) makes
// Run return cleanly.
func TestRunServesHealthReadinessMetricsAndStopsOnSignal(t *testing.T) {
	_, flags := localWorld(t, map[string]int{"users": 40, "suppliers": 40})
	addr := freeAddr(t)
	cmd := RunCmd{Flags: flags, PollInterval: time.Hour, PollMin: time.Hour, PollBudget: -1, HTTPAddr: addr}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx) }()

	get := func(path string) (int, string) { return httpGet(addr, path) }
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get("/metrics")
		if code == 200 && strings.Contains(body, `coupa_kafka_records_published_total{table="users"} 40`) &&
			strings.Contains(body, `coupa_kafka_records_published_total{table="suppliers"} 40`) {
			for _, want := range []string{
				`coupa_kafka_coupa_requests_total{status="200",table="users"}`,
				`coupa_kafka_transactions_total{result="commit",table="users"}`,
				`coupa_kafka_cursor_lag_seconds{table="users"}`,
				`coupa_kafka_last_successful_sync_timestamp_seconds{table="users"}`,
				`coupa_kafka_extra_fields_total{table="users"}`,
				`coupa_kafka_client_`, // franz-go kprom
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if strings.Contains(body, coupatest.DefaultClientSecret) {
				t.Error("/metrics shows the client secret")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first pass did not publish in time; /metrics: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	stop() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after the signal", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("run did not stop after the signal")
	}
}

// TestRunWithBadCredentialsIsNotReady: the OAuth client's secret is rotated
// in Coupa while run is live, so every pass fails from then on. /healthz
// stays 200 (the process is alive), but /readyz turns 503 after three failed
// passes, naming each table and the reason, and /metrics counts the failed
// passes and auth failures. No secret shows. (With bad credentials from the
// start, run fails its startup checks instead: TestStartupChecks.)
func TestRunWithBadCredentialsIsNotReady(t *testing.T) {
	sim, flags := localWorld(t, map[string]int{"users": 10, "suppliers": 10})
	addr := freeAddr(t)
	const secret = "rotated-secret-0451"
	cmd := RunCmd{Flags: flags, PollInterval: 50 * time.Millisecond, PollMin: 50 * time.Millisecond, PollBudget: -1, HTTPAddr: addr}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx) }()
	get := func(path string) (int, string) { return httpGet(addr, path) }
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := get("/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sim.RotateSecret(coupatest.DefaultClientID, secret)
	sim.ExpireTokens()
	for {
		code, body := get("/readyz")
		if code == 503 && strings.Contains(body, "suppliers: the last") && strings.Contains(body, "users: the last") {
			if !strings.Contains(body, "COUPA_CLIENT_SECRET") || strings.Contains(body, coupatest.DefaultClientSecret) {
				t.Errorf("/readyz does not point at the credentials, or shows the secret:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with every pass failing:\n%s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d (the process is alive)", code)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{`coupa_kafka_auth_failures_total{table="users"}`, `coupa_kafka_passes_total{result="failed",table="suppliers"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, coupatest.DefaultClientSecret) {
		t.Error("/metrics shows the secret")
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("run after the signal: %v", err)
	}
}

// localWorld is a simulated instance (trusted through SSL_CERT_FILE, as a
// deployment trusts a private CA), kfake and srfake, and the flags of a
// users+suppliers sync against them.
func localWorld(t *testing.T, records map[string]int) (*coupatest.Server, Flags) {
	t.Helper()
	return localWorldWith(t, coupatest.Config{Seed: 5, Records: records})
}

// localWorldWith is localWorld with the simulated instance of cfg.
func localWorldWith(t *testing.T, cfg coupatest.Config) (*coupatest.Server, Flags) {
	t.Helper()
	sim := coupatest.NewTLS(t, cfg)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", ca)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return sim, Flags{
		CoupaFlags: CoupaFlags{InstanceURL: sim.URL(), ClientID: coupatest.DefaultClientID, ClientSecret: coupatest.DefaultClientSecret,
			Tables: []string{"users", "suppliers"}, RateLimit: 25, Lookback: time.Minute, Parallelism: 4},
		KafkaFlags: KafkaFlags{Brokers: cluster.ListenAddrs(), TopicPrefix: "coupa.", OffsetsTopic: "coupa-offsets",
			Partitions: -1, ReplicationFactor: -1, RegistryURL: reg.URL()},
		LogFlags: LogFlags{LogLevel: "error", LogFormat: "json"},
	}
}

// freeAddr is a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStatus: against a live run, status shows each table's cursor, lag,
// last pass and state; when passes start failing, it says so with the
// reason; without a run it shows the cursors from Kafka alone.
func TestStatus(t *testing.T) {
	sim, flags := localWorld(t, map[string]int{"users": 10, "suppliers": 10})
	addr := freeAddr(t)
	cmd := RunCmd{Flags: flags, PollInterval: 50 * time.Millisecond, PollMin: 50 * time.Millisecond, PollBudget: -1, HTTPAddr: addr}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- cmd.Run(ctx) }()
	defer func() { stop(); <-done }()
	status := func(runURL string) string {
		var out bytes.Buffer
		s := StatusCmd{KafkaFlags: flags.KafkaFlags, LogFlags: flags.LogFlags, RunURL: runURL, out: &out}
		if err := s.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	waitFor := func(runURL string, want ...string) string {
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := status(runURL)
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(got, w)
			}
			if ok {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never showed %q:\n%s", want, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	healthy := waitFor("http://"+addr, "127.0.0.1  suppliers", "127.0.0.1  users", "syncing", "live figures from the run")
	t.Log("\n" + healthy)
	sim.RotateSecret(coupatest.DefaultClientID, "rotated-0451")
	sim.ExpireTokens()
	failing := waitFor("http://"+addr, "FAILING: the last", "COUPA_CLIENT_SECRET")
	t.Log("\n" + failing)
	if got := status(""); !strings.Contains(got, "users") || !strings.Contains(got, "no run consulted") || strings.Contains(got, "syncing") {
		t.Errorf("status without a run:\n%s", got)
	}
}
