package group_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/coupa-kafka/coupa-kafka/group"
)

// ledger records which member runs which unit, and fails the test the
// moment two members run one unit at once.
type ledger struct {
	t      *testing.T
	mu     sync.Mutex
	owner  map[string]string // unit -> member running it
	starts map[string]int
	strict bool // zombies are expected when false (a cut-off member)
}

func newLedger(t *testing.T) *ledger {
	return &ledger{t: t, owner: map[string]string{}, starts: map[string]int{}, strict: true}
}

func (l *ledger) work(member string) func(context.Context, string) {
	return func(ctx context.Context, unit string) {
		l.mu.Lock()
		if o, ok := l.owner[unit]; ok && l.strict {
			l.t.Errorf("%s starts %s while %s still runs it", member, unit, o)
		}
		l.owner[unit] = member
		l.starts[unit]++
		l.mu.Unlock()
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // finishing an open transaction
		l.mu.Lock()
		if l.owner[unit] == member {
			delete(l.owner, unit)
		}
		l.mu.Unlock()
	}
}

func (l *ledger) snapshot() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for u, m := range l.owner {
		out[u] = m
	}
	return out
}

type testGroup struct {
	t       *testing.T
	cluster *kfake.Cluster
	name    string
	units   []string
	ledger  *ledger
}

func newTestGroup(t *testing.T, units ...string) *testGroup {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &testGroup{t: t, cluster: c, name: "coupa-kafka.test", units: units, ledger: newLedger(t)}
}

const session = time.Second

func (g *testGroup) join(name string, opts ...kgo.Opt) *group.Member {
	g.t.Helper()
	m, err := group.Join(context.Background(), group.Config{
		Kafka: append([]kgo.Opt{kgo.SeedBrokers(g.cluster.ListenAddrs()...)}, opts...),
		Group: g.name, TopicPrefix: "coupa-offsets.instance.", Units: g.units, SessionTimeout: session,
		ReplicationFactor: -1, Work: g.ledger.work(name),
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return m
}

// settled waits until every unit runs where the members' statuses say, in
// a spread that want accepts, and returns unit -> member.
func (g *testGroup) settled(members map[string]*group.Member, want func(map[string]string) bool) map[string]string {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		own := g.ledger.snapshot()
		claimed := map[string]string{}
		ok := len(own) == len(g.units)
		for name, m := range members {
			st := m.Status()
			ok = ok && st.Joined
			for _, u := range st.Owned {
				if _, dup := claimed[u]; dup {
					ok = false
				}
				claimed[u] = name
			}
		}
		if ok && fmt.Sprint(claimed) == fmt.Sprint(own) && want(own) {
			return own
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("the group did not settle: running %v, statuses %v", own, claimed)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counts(owner map[string]string) map[string]int {
	out := map[string]int{}
	for _, m := range owner {
		out[m]++
	}
	return out
}

// Three members share four units, each unit on one member, two on one and
// one on each other; a member that joins takes one, moving nothing else;
// one that leaves gives its units to the others at once; at no time does a
// unit run twice.
func TestUnitsSpreadStickToTheirOwnersAndMoveOnLeave(t *testing.T) {
	g := newTestGroup(t, "alpha", "beta", "gamma", "delta")
	members := map[string]*group.Member{"m1": g.join("m1"), "m2": g.join("m2"), "m3": g.join("m3")}
	own := g.settled(members, func(own map[string]string) bool {
		c := counts(own)
		return len(c) == 3 && slices.Max(mapValues(c)) == 2
	})

	members["m4"] = g.join("m4")
	after := g.settled(members, func(own map[string]string) bool { return counts(own)["m4"] > 0 })
	moved := 0
	for u, m := range after {
		if own[u] != m {
			moved++
		}
	}
	if moved != 1 || counts(after)["m4"] != 1 {
		t.Fatalf("a fourth member should take exactly one unit: before %v, after %v", own, after)
	}

	var leaver string
	for u, m := range after {
		if u == "alpha" {
			leaver = m
		}
	}
	start := time.Now()
	members[leaver].Leave()
	delete(members, leaver)
	final := g.settled(members, func(own map[string]string) bool { return counts(own)[leaver] == 0 })
	for u, m := range final {
		if m == leaver {
			t.Fatalf("%s still owned by the member that left", u)
		}
		if after[u] != leaver && after[u] != m {
			t.Errorf("%s moved from %s to %s although its owner stayed", u, after[u], m)
		}
	}
	d, err := group.Describe(context.Background(), []kgo.Opt{kgo.SeedBrokers(g.cluster.ListenAddrs()...)}, g.name, "coupa-offsets.instance.")
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for _, dm := range d.Members {
		for _, u := range dm.Owns {
			described[u] = true
		}
	}
	if len(d.Members) != len(members) || len(described) != len(g.units) {
		t.Errorf("Describe: %+v, want %d members owning the %d units", d, len(members), len(g.units))
	}
	if waited := time.Since(start); waited >= session {
		t.Logf("note: the leave took %v to move its units (a leave should not wait for the session timeout)", waited)
	}
	for _, m := range members {
		m.Leave()
	}
	if own := g.ledger.snapshot(); len(own) != 0 {
		t.Fatalf("units still running after every member left: %v", own)
	}
}

// A member cut off from Kafka (a dead process, a partition) holds its units
// only until the session timeout; then the others run them. (The cut-off
// member's Work is a zombie until it notices: the transactional ids its
// Work uses fence it; see the producer's fencing tests.)
func TestADeadMembersUnitsMoveAfterTheSessionTimeout(t *testing.T) {
	g := newTestGroup(t, "alpha", "beta")
	g.ledger.strict = false
	cut := &cutDialer{}
	members := map[string]*group.Member{"live": g.join("live"), "doomed": g.join("doomed", kgo.Dialer(cut.dial))}
	g.settled(members, func(own map[string]string) bool { return counts(own)["doomed"] == 1 })
	cut.cut()
	live := map[string]*group.Member{"live": members["live"]}
	deadline := time.Now().Add(session + 20*time.Second)
	for {
		if st := live["live"].Status(); len(st.Owned) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead member's unit did not move: live owns %v", live["live"].Status().Owned)
		}
		time.Sleep(20 * time.Millisecond)
	}
	live["live"].Leave()
}

// A unit's topic with more than one partition would run the unit on several
// members: Join refuses it.
func TestJoinRefusesAUnitTopicWithSeveralPartitions(t *testing.T) {
	g := newTestGroup(t, "alpha")
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, -1, nil, "coupa-offsets.instance.alpha"); err != nil {
		t.Fatal(err)
	}
	_, err = group.Join(context.Background(), group.Config{Kafka: []kgo.Opt{kgo.SeedBrokers(g.cluster.ListenAddrs()...)},
		Group: g.name, TopicPrefix: "coupa-offsets.instance.", Units: g.units, Work: g.ledger.work("m")})
	if err == nil {
		t.Fatal("joined with a three-partition unit topic")
	}
	t.Log(err)
}

func mapValues(m map[string]int) []int {
	var out []int
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// cutDialer dials normally until cut, then closes every connection it made
// and refuses new ones.
type cutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	isCut atomic.Bool
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	if d.isCut.Load() {
		return nil, fmt.Errorf("cut off")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *cutDialer) cut() {
	d.isCut.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}
