//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/coupa/coupatest"
	"github.com/coupa-kafka/coupa-kafka/offsets"
)

// Replicas of `coupa-kafka run` share the instances of one COUPA_CONFIG
// through a Kafka consumer group: each instance is owned by one member, and
// a member that dies (SIGKILL: no goodbye, the group notices when its
// session times out) has its instances taken over by the others, which
// resume from the committed cursors. These tests kill members while the
// instances keep changing, measure the failover (from the SIGKILL to the
// first cursor the new owner commits, as a read_committed consumer of the
// offsets topic sees it), and then check that every topic equals its
// instance: nothing missing, nothing stale, nothing twice.

// replicaPoll is the polling of the replicas: a busy table is polled again
// soon and the budget does not hold back a taken-over instance's first
// passes, so the failover measured is the group's and the producer's, not
// the poller's.
var replicaPoll = []string{"COUPA_POLL_MIN=250ms", "COUPA_POLL_INTERVAL=1s", "COUPA_POLL_BUDGET=20", "COUPA_LOG_LEVEL=info"}

// replica is one `coupa-kafka run` of a group, restarted as new processes.
type replica struct {
	name string // r1, r2, ...
	http string // its COUPA_HTTP_ADDR, 127.0.0.1:port
	env  []string
	p    *proc
	runs []*proc // every process it ran, for the logs
}

func (r *replica) start(t *testing.T, bin string) {
	t.Helper()
	r.p = startBinary(t, bin, r.env, "run")
	r.runs = append(r.runs, r.p)
}

func (r *replica) alive() bool { return r.p != nil && !exited(r.p) }

// owned scrapes the replica's coupa_kafka_instance_owned gauges: instance
// name to value. An error when the replica does not answer (yet).
func (r *replica) owned() (map[string]float64, error) {
	body, status, err := httpGet("http://" + r.http + "/metrics")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %d", status)
	}
	out := map[string]float64{}
	for _, m := range ownedRE.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("gauge %s: %w", m[0], err)
		}
		out[m[1]] = v
	}
	return out, nil
}

var ownedRE = regexp.MustCompile(`(?m)^coupa_kafka_instance_owned\{[^}]*coupa_instance="([^"]+)"[^}]*\} (\S+)$`)

// ready reports whether /readyz answers 200 (the member joined the group).
func (r *replica) ready() bool {
	_, status, err := httpGet("http://" + r.http + "/readyz")
	return err == nil && status == http.StatusOK
}

// logs is the output of every process the replica ran.
func (r *replica) logs() string {
	var b strings.Builder
	for i, p := range r.runs {
		fmt.Fprintf(&b, "----- %s process %d (pid %d)\n%s", r.name, i+1, p.cmd.Process.Pid, p.out.String())
	}
	return b.String()
}

func httpGet(url string) (string, int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// freeAddr is a free loopback address for a replica's HTTP server: the test
// must know where to scrape each replica, so port 0 will not do.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ownership scrapes the live replicas: for each instance name, the replicas
// whose gauge is 1. Replicas that do not answer are left out.
func ownership(reps []*replica) map[string][]*replica {
	out := map[string][]*replica{}
	for _, r := range reps {
		if !r.alive() {
			continue
		}
		g, err := r.owned()
		if err != nil {
			continue
		}
		for name, v := range g {
			if v == 1 {
				out[name] = append(out[name], r)
			}
		}
	}
	return out
}

// waitOwned waits until each of names is owned by exactly one live replica,
// and every replica in mustAnswer answers /readyz 200, and returns the
// owners.
func waitOwned(ctx context.Context, t *testing.T, reps []*replica, names []string, within time.Duration, mustAnswer ...*replica) map[string]*replica {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last map[string][]*replica
	err := poll(wctx, 200*time.Millisecond, func() (bool, error) {
		for _, r := range reps {
			if r.p != nil && exited(r.p) && r.p.cmd.ProcessState != nil && !r.p.cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
				return false, fmt.Errorf("replica %s exited on its own: %v", r.name, r.p.err)
			}
		}
		for _, r := range mustAnswer {
			if !r.ready() {
				return false, nil
			}
		}
		last = ownership(reps)
		for _, n := range names {
			if len(last[n]) != 1 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, " %s:%v", n, replicaNames(last[n]))
		}
		for _, r := range reps {
			fmt.Fprintf(&b, "\n%s", tail(r.logs(), 25))
		}
		t.Fatalf("instances not each owned by one replica within %s: %v; owners%s", within, err, b.String())
	}
	out := map[string]*replica{}
	for _, n := range names {
		out[n] = last[n][0]
	}
	return out
}

func replicaNames(rs []*replica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.name)
	}
	return out
}

// commitWatch follows the offsets topic with read_committed from its start
// and notes when each cursor arrives, by instance host.
type commitWatch struct {
	mu   sync.Mutex
	seen map[string][]commitSeen
	err  error
}

type commitSeen struct {
	arrived   time.Time // when this consumer got it
	committed time.Time // the cursor's CommittedAt (the writer's clock)
	table     string
}

func watchCommits(t *testing.T, w *world, topic string) *commitWatch {
	t.Helper()
	cw := &commitWatch{seen: map[string][]commitSeen{}}
	cl, err := kgo.NewClient(append(w.kafka(),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				k, err := offsets.ParseKey(r.Key)
				if err != nil || k.Kind != "" || r.Value == nil {
					return
				}
				var c offsets.Cursor
				if err := c.UnmarshalJSON(r.Value); err != nil {
					cw.mu.Lock()
					cw.err = fmt.Errorf("cursor %s at offset %d: %w", r.Key, r.Offset, err)
					cw.mu.Unlock()
					return
				}
				cw.mu.Lock()
				cw.seen[k.Instance] = append(cw.seen[k.Instance], commitSeen{arrived: now, committed: c.CommittedAt, table: k.Table})
				cw.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return cw
}

// firstAfter is the arrival of the first cursor of host committed after
// since by its writer's clock: a cursor a killed process committed before
// it died can reach a consumer after the kill, one committed after the
// kill is the new owner's.
func (cw *commitWatch) firstAfter(host string, since time.Time) (time.Time, bool) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	for _, s := range cw.seen[host] {
		if s.committed.After(since) {
			return s.arrived, true
		}
	}
	return time.Time{}, false
}

func (cw *commitWatch) error() error {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.err
}

// setEnv is env with each KEY=value of kv replacing any KEY already there.
func setEnv(env []string, kv ...string) []string {
	out := slices.Clone(env)
	for _, e := range kv {
		key, _, _ := strings.Cut(e, "=")
		out = slices.DeleteFunc(out, func(x string) bool { return strings.HasPrefix(x, key+"=") })
		out = append(out, e)
	}
	return out
}

// unsetEnv is env without the given keys.
func unsetEnv(env []string, keys ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(x string) bool {
		key, _, _ := strings.Cut(x, "=")
		return slices.Contains(keys, key)
	})
}

// churn runs each world's simulator's Churn on its tables until the
// returned stop is called (idempotent), which waits for them to end.
func churn(pace time.Duration, ws ...*world) (stop func()) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.sim.Churn(ch, pace, w.tableNames()...)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(ch)
			wg.Wait()
		})
	}
}

// stopReplicas SIGTERMs the live replicas and checks they exit 0.
func stopReplicas(ctx context.Context, t *testing.T, reps []*replica) {
	t.Helper()
	for _, r := range reps {
		if r.alive() {
			if err := r.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range reps {
		if r.p == nil {
			continue
		}
		select {
		case <-r.p.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %s did not stop within 60s of SIGTERM\n%s", r.name, tail(r.p.out.String(), 30))
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if ps := r.p.cmd.ProcessState; ps.Sys().(syscall.WaitStatus).Signaled() && ps.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL {
			continue // killed by the test earlier and not restarted
		}
		if r.p.err != nil {
			t.Errorf("replica %s exited with %v on SIGTERM\n%s", r.name, r.p.err, tail(r.p.out.String(), 30))
		}
	}
}

// finalSync runs `coupa-kafka sync` with env to its end, which must be a
// success.
func finalSync(ctx context.Context, t *testing.T, bin string, env []string) *proc {
	t.Helper()
	final := startBinary(t, bin, env, "sync")
	select {
	case <-final.exited:
	case <-ctx.Done():
		t.Fatalf("final sync did not end: %v\n%s", ctx.Err(), tail(final.out.String(), 30))
	}
	if final.err != nil {
		t.Fatalf("final sync: %v\n%s", final.err, tail(final.out.String(), 40))
	}
	return final
}

// logReplicas logs every replica's whole output when INTEGRATION_LOG is
// set (as testLogger shows the producer's info logs then).
func logReplicas(t *testing.T, reps []*replica) {
	if os.Getenv("INTEGRATION_LOG") == "" {
		return
	}
	for _, r := range reps {
		t.Log(r.logs())
	}
}

// logProblems logs the ERROR and WARN lines of the replicas' logs (text
// format), for the reader to judge: a killed member's instances are
// expected to cause some.
func logProblems(t *testing.T, reps []*replica) {
	t.Helper()
	for _, r := range reps {
		var lines []string
		for _, l := range strings.Split(r.logs(), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 0 {
			t.Logf("replica %s logged %d warnings and errors; the first ones:\n%s", r.name, len(lines), strings.Join(lines[:min(len(lines), 12)], "\n"))
		}
	}
}

func durationsLine(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var median time.Duration
	if n := len(s); n%2 == 1 {
		median = s[n/2]
	} else {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	var each []string
	for _, d := range ds {
		each = append(each, d.Round(10*time.Millisecond).String())
	}
	return fmt.Sprintf("%d values, median %s, max %s: %s", len(s), median.Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond), strings.Join(each, " "))
}

// failoverBound catches a hang: a moved instance's new owner commits well
// within it (the session timeout is 10 s). Not a performance claim.
const failoverBound = 90 * time.Second

// Four instances (each its own loopback host, tables, topic prefix and
// OAuth client) in one COUPA_CONFIG, three `run` replicas in one group,
// the instances changing throughout. For two minutes the replica owning
// the most instances is SIGKILLed; the survivors take its instances over
// and commit their cursors; it is restarted after a pause and rejoins. Then
// the instances stop changing, the replicas stop, and one `sync` of the
// config catches up: every topic of every instance equals its instance,
// with nothing missing, stale or published twice.
func TestReplicasFailoverAcrossInstances(t *testing.T) {
	ctx := testContext(t, 6*time.Minute)
	type spec struct {
		name    string
		host    string
		records map[string]int
	}
	specs := []spec{
		{"alpha", "127.0.0.1", map[string]int{"invoices": 250, "suppliers": 150, "users": 150}},
		{"bravo", "127.0.0.2", map[string]int{"purchase_orders": 200, "suppliers": 150, "contracts": 100}},
		{"charlie", "127.0.0.3", map[string]int{"requisitions": 200, "users": 150, "expense_reports": 100}},
		{"delta", "127.0.0.4", map[string]int{"invoices": 150, "contracts": 100, "users": 100}},
	}
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	var ws []*world
	var names []string
	host := map[string]string{} // instance name to host
	var yaml strings.Builder
	yaml.WriteString("instances:\n")
	var secrets, pems []string
	for i, s := range specs {
		var tables []string
		for tb := range s.records {
			tables = append(tables, tb)
		}
		sort.Strings(tables)
		clientID := "replicas-" + s.name
		secret := "secret-" + s.name + "-" + hex.EncodeToString(nonce)
		w := newWorld(t, coupatest.Config{
			Seed: int64(61 + i), UTCOffset: -7 * time.Hour, Records: s.records, Addr: s.host + ":0",
			Clients: []coupatest.Client{
				{ID: coupatest.DefaultClientID, Secret: coupatest.DefaultClientSecret, Scopes: coupatest.AllScopes()},
				{ID: clientID, Secret: secret, Scopes: coupatest.AllScopes()},
			},
		}, tables...)
		if h := w.client.Instance(); h != s.host {
			t.Fatalf("simulator %d serves on %s, want %s", i, h, s.host)
		}
		if i > 0 { // one registry and one offsets topic for all
			w.regURL, w.offsets = ws[0].regURL, ws[0].offsets
		}
		ws = append(ws, w)
		names = append(names, s.name)
		host[s.name] = s.host
		secretEnv := "COUPA_" + strings.ToUpper(s.name) + "_CLIENT_SECRET"
		secrets = append(secrets, secretEnv+"="+secret)
		pems = append(pems, string(w.sim.CACertPEM()))
		fmt.Fprintf(&yaml, "  - name: %s\n    url: %s\n    client_id: %s\n    client_secret_env: %s\n    tables: [%s]\n    topic_prefix: %s\n",
			s.name, w.sim.URL(), clientID, secretEnv, strings.Join(tables, ", "), w.prefix)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "coupa.yaml")
	caFile := filepath.Join(dir, "coupa-ca.pem")
	if err := os.WriteFile(cfgFile, []byte(yaml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, []byte(strings.Join(pems, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	offsetsTopic := ws[0].offsets
	group := ws[0].prefix + "group"
	t.Logf("config %s:\n%s", cfgFile, yaml.String())

	bin := buildBinary(t)
	base := unsetEnv(ws[0].binEnv(), "COUPA_INSTANCE_URL", "COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET", "COUPA_TABLES", "COUPA_TOPIC_PREFIX")
	base = setEnv(base, append([]string{"COUPA_CONFIG=" + cfgFile, "SSL_CERT_FILE=" + caFile,
		"COUPA_OFFSETS_TOPIC=" + offsetsTopic, "COUPA_GROUP=" + group}, secrets...)...)

	stopChurn := churn(100*time.Millisecond, ws...)
	defer stopChurn()

	var reps []*replica
	for i := range 3 {
		r := &replica{name: fmt.Sprintf("r%d", i+1), http: freeAddr(t)}
		r.env = setEnv(base, append([]string{"COUPA_HTTP_ADDR=" + r.http}, replicaPoll...)...)
		r.start(t, bin)
		reps = append(reps, r)
	}
	start := time.Now()
	owners := waitOwned(ctx, t, reps, names, 2*time.Minute, reps...)
	t.Logf("every instance owned %s after the replicas started: %v", time.Since(start).Round(100*time.Millisecond), ownersText(owners, names))
	commits := watchCommits(t, ws[0], offsetsTopic)
	// Every instance syncing (a cursor committed since since): failovers
	// are measured from a steady state, not from a start-up.
	waitSyncing := func(since time.Time, what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, failoverBound)
		defer cancel()
		var idle []string
		err := poll(wctx, 100*time.Millisecond, func() (bool, error) {
			idle = idle[:0]
			for _, n := range names {
				if _, ok := commits.firstAfter(host[n], since); !ok {
					idle = append(idle, n)
				}
			}
			return len(idle) == 0, commits.error()
		})
		if err != nil {
			var logs strings.Builder
			for _, r := range reps {
				logs.WriteString(tail(r.logs(), 30) + "\n")
			}
			t.Fatalf("%s: %v committed nothing within %s: %v\n%s", what, idle, failoverBound, err, logs.String())
		}
	}
	waitSyncing(start, "start")
	t.Logf("every instance committed a cursor %s after the replicas started", time.Since(start).Round(100*time.Millisecond))

	// Each kill comes a random while after the previous rejoin: a
	// failover depends on where the kill falls between the victim's
	// heartbeats, and a fixed rhythm would measure one phase only.
	seed := uint64(time.Now().UnixNano())
	rng := mrand.New(mrand.NewPCG(seed, 14))
	t.Logf("kill delays drawn with seed %d", seed)
	var failovers []time.Duration
	var cycles []string
	killPhase := time.Now()
	for kill := 1; time.Since(killPhase) < 2*time.Minute; kill++ {
		time.Sleep(time.Second + time.Duration(rng.Int64N(int64(4*time.Second))))
		owners = waitOwned(ctx, t, reps, names, time.Minute)
		count := map[*replica][]string{}
		for _, n := range names {
			count[owners[n]] = append(count[owners[n]], n)
		}
		var victim *replica
		for _, r := range reps {
			if victim == nil || len(count[r]) > len(count[victim]) {
				victim = r
			}
		}
		moved := count[victim]
		killedAt := time.Now()
		if err := victim.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.p.exited
		// Every moved instance's new owner commits a cursor (the
		// instances keep changing, so a pass soon has something to).
		// took: to the first commit; assigned: to the moment a survivor's
		// gauge says it owns the instance (the group's part of it).
		took, assigned := map[string]time.Duration{}, map[string]time.Duration{}
		newOwner := map[string][]string{}
		wctx, cancel := context.WithTimeout(ctx, failoverBound)
		err := poll(wctx, 50*time.Millisecond, func() (bool, error) {
			own := ownership(reps)
			for _, n := range moved {
				if _, ok := assigned[n]; !ok && len(own[n]) > 0 {
					assigned[n] = time.Since(killedAt)
					newOwner[n] = replicaNames(own[n])
				}
				if _, ok := took[n]; ok {
					continue
				}
				if at, ok := commits.firstAfter(host[n], killedAt); ok {
					took[n] = at.Sub(killedAt)
				}
			}
			return len(took) == len(moved), commits.error()
		})
		cancel()
		if err != nil {
			var logs strings.Builder
			for _, r := range reps {
				logs.WriteString(tail(r.logs(), 30) + "\n")
			}
			t.Fatalf("kill %d of %s (owning %v): only %v committed again within %s: %v\n%s", kill, victim.name, moved, took, failoverBound, err, logs.String())
		}
		var parts []string
		for _, n := range moved {
			failovers = append(failovers, took[n])
			a := "not seen"
			if d, ok := assigned[n]; ok {
				a = d.Round(10 * time.Millisecond).String()
			}
			parts = append(parts, fmt.Sprintf("%s to %v: assigned after %s, committed after %s", n, newOwner[n], a, took[n].Round(10*time.Millisecond)))
		}
		cycles = append(cycles, fmt.Sprintf("kill %d of %s: %s", kill, victim.name, strings.Join(parts, ", ")))
		t.Log(cycles[len(cycles)-1])
		time.Sleep(3 * time.Second)
		victim.start(t, bin)
		// The restarted member rejoins: the group rebalances (the
		// cooperative balancer hands it a share of the instances, each
		// stopped by its owner before it moves).
		restarted := time.Now()
		owners = waitOwned(ctx, t, reps, names, time.Minute, victim)
		settled := time.Now() // each instance with its owner of this generation
		waitSyncing(settled, fmt.Sprintf("after %s rejoined", victim.name))
		t.Logf("%s restarted and joined, every instance syncing %s later: %v", victim.name, time.Since(restarted).Round(100*time.Millisecond), ownersText(owners, names))
	}
	t.Logf("failover: %s (SIGKILL to the new owner's first committed cursor, per moved instance; %d kills of the busiest of 3 replicas, 4 instances, session timeout 10s)",
		durationsLine(failovers), len(cycles))
	if len(failovers) < 4 {
		t.Errorf("only %d instances moved in the kill phase: the test measured too little", len(failovers))
	}

	stopChurn()
	time.Sleep(1100 * time.Millisecond) // let the last second of changes close
	stopReplicas(ctx, t, reps)
	logProblems(t, reps)
	logReplicas(t, reps)
	finalSync(ctx, t, bin, base)
	if err := commits.error(); err != nil {
		t.Error(err)
	}
	for i, w := range ws {
		t.Logf("instance %s (%s): checking %v", specs[i].name, specs[i].host, w.tableNames())
		w.assertTruth(ctx)
	}
}

func ownersText(owners map[string]*replica, names []string) string {
	var parts []string
	for _, n := range names {
		parts = append(parts, n+"="+owners[n].name)
	}
	return strings.Join(parts, " ")
}

// One instance in env mode (no COUPA_CONFIG) and two `run` replicas in one
// group: one syncs, the other stands by, ready but owning nothing. The
// active one is SIGKILLed; the standby takes the instance over and commits
// its cursors; after a final sync the topics equal the instance.
func TestSingleInstanceStandbyTakesOver(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	w := newWorld(t, coupatest.Config{Seed: 71, UTCOffset: -7 * time.Hour,
		Records: map[string]int{"invoices": 250, "suppliers": 150, "users": 150}}, "invoices", "suppliers", "users")
	bin := buildBinary(t)
	name := w.client.Instance() // single env mode: the instance's name is its host
	env := w.binEnv("COUPA_GROUP=" + w.prefix + "group")
	stopChurn := churn(100*time.Millisecond, w)
	defer stopChurn()
	var reps []*replica
	for i := range 2 {
		r := &replica{name: fmt.Sprintf("r%d", i+1), http: freeAddr(t)}
		r.env = setEnv(env, append([]string{"COUPA_HTTP_ADDR=" + r.http}, replicaPoll...)...)
		r.start(t, bin)
		reps = append(reps, r)
	}
	owners := waitOwned(ctx, t, reps, []string{name}, 2*time.Minute, reps...)
	active := owners[name]
	standby := reps[0]
	if standby == active {
		standby = reps[1]
	}
	if body, _, err := httpGet("http://" + standby.http + "/readyz"); err != nil || !strings.Contains(body, "standby") {
		t.Errorf("the standby's /readyz does not say it stands by (%v):\n%s", err, body)
	}
	commits := watchCommits(t, w, w.offsets)
	if err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		_, ok := commits.firstAfter(name, time.Time{})
		return ok, nil
	}); err != nil {
		t.Fatalf("the active replica committed nothing: %v\n%s", err, tail(active.logs(), 30))
	}
	killedAt := time.Now()
	if err := active.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-active.p.exited
	var took, assigned time.Duration
	wctx, cancel := context.WithTimeout(ctx, failoverBound)
	defer cancel()
	err := poll(wctx, 50*time.Millisecond, func() (bool, error) {
		if g, err := standby.owned(); assigned == 0 && err == nil && g[name] == 1 {
			assigned = time.Since(killedAt)
		}
		at, ok := commits.firstAfter(name, killedAt)
		took = at.Sub(killedAt)
		return ok, commits.error()
	})
	if err != nil {
		t.Fatalf("the standby %s committed nothing within %s of the kill of %s: %v\n%s", standby.name, failoverBound, active.name, err, tail(standby.logs(), 40))
	}
	if g, err := standby.owned(); err != nil || g[name] != 1 {
		t.Errorf("the standby %s committed but its gauge says %v (%v)", standby.name, g, err)
	}
	t.Logf("failover: %s (SIGKILL of the active replica to the standby's first committed cursor; 1 instance, 2 replicas, session timeout 10s; the standby's gauge said it owned the instance after %s)",
		durationsLine([]time.Duration{took}), assigned.Round(10*time.Millisecond))
	time.Sleep(3 * time.Second) // the standby syncs on, under changes

	stopChurn()
	time.Sleep(1100 * time.Millisecond)
	stopReplicas(ctx, t, reps)
	logProblems(t, reps)
	logReplicas(t, reps)
	finalSync(ctx, t, bin, env)
	w.assertTruth(ctx)
}
