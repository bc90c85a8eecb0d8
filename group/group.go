// Package group spreads units of work (Coupa instances) over the processes
// of one deployment with Kafka's consumer-group protocol, the engine Kafka
// Connect and Kafka Streams build on, through franz-go's group consumer.
//
// Each unit is an empty, one-partition topic, "<TopicPrefix><unit>". Every
// member subscribes to the topics of the units it is configured with; the
// group coordinator's protocol gives each partition, and so each unit, to
// exactly one live member, and franz-go's cooperative sticky balancer keeps
// units where they are when members come and go, moving only what balance
// needs. Nothing is ever written to or read from those topics: the group
// only uses them to name the work.
//
// A unit that moves is first revoked from its owner, whose Work for it must
// return (finish or abort its open transaction) before the owner rejoins;
// only the next generation gives the unit to its new owner (cooperative
// rebalancing). A member that dies holds its units until the session
// timeout; a member that is cut off and comes back (a zombie) is fenced by
// the transactional ids its Work uses, so at no time do two members commit
// for one unit.
//
// Why topics rather than a protocol of our own: a member's subscription is
// what it is configured to do, so during a rolling change of the instance
// list a unit only goes to members that know it, and franz-go's tested
// balancer, heartbeats, session handling and leave-on-close do the rest.
package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultSessionTimeout is how long the group waits for a silent member
// before giving its units to others. Kafka Connect's workers use 10 s: long
// enough that a GC pause or a slow network does not move work, short enough
// that a dead process's instances move within seconds.
const DefaultSessionTimeout = 10 * time.Second

// Config is a member's configuration.
type Config struct {
	// Kafka are the client options (brokers, TLS, SASL, logger).
	Kafka []kgo.Opt
	// Group is the consumer group's id.
	Group string
	// TopicPrefix names the units' topics: "<TopicPrefix><unit>".
	TopicPrefix string
	// Units this member can run: the instances it is configured with.
	Units []string
	// SessionTimeout: DefaultSessionTimeout if zero.
	SessionTimeout time.Duration
	// ReplicationFactor of the units' topics when created (-1: broker
	// default).
	ReplicationFactor int16
	// Work runs one owned unit until ctx ends, then returns. It must not
	// return earlier unless the unit can do nothing more; it is not
	// restarted until the unit is assigned again.
	Work func(ctx context.Context, unit string)
	// OnChange, if set, sees the status after every change of ownership.
	OnChange func(Status)
	Logger   *slog.Logger
}

// Status is what a member owns.
type Status struct {
	Group    string
	MemberID string // empty until joined
	Joined   bool   // an assignment has been received (possibly empty)
	Owned    []string
}

// Member is one process in the group.
type Member struct {
	cfg Config

	mu      sync.Mutex
	client  *kgo.Client
	running map[string]*unitRun
	joined  bool
	leaving bool
}

type unitRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Join creates the units' topics when missing and joins the group. The
// member works until Leave.
func Join(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Group == "" || len(cfg.Units) == 0 || cfg.Work == nil {
		return nil, errors.New("group: Config needs Group, Units and Work")
	}
	if err := ensureUnitTopics(ctx, cfg); err != nil {
		return nil, err
	}
	m := &Member{cfg: cfg, running: map[string]*unitRun{}}
	opts := append(slices.Clip(cfg.Kafka),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(unitTopics(cfg)...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(cfg.SessionTimeout/3),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(m.assigned),
		kgo.OnPartitionsRevoked(m.revoked),
		kgo.OnPartitionsLost(m.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", cfg.Group, err)
	}
	m.mu.Lock()
	m.client = cl // the group may have assigned units already: see statusLocked
	m.mu.Unlock()
	go m.poll()
	return m, nil
}

// poll keeps the group consumer's fetch loop served; the units' topics stay
// empty, so it only returns when the client closes.
func (m *Member) poll() {
	for {
		fs := m.client.PollFetches(context.Background())
		if fs.IsClientClosed() {
			return
		}
		if err := fs.Err0(); err != nil {
			time.Sleep(time.Second) // a fetch error repeats; the group is managed apart
		}
	}
}

// Leave stops every owned unit (each Work returns), then leaves the group
// so that the others take the units over at once, without waiting for the
// session timeout.
func (m *Member) Leave() {
	m.mu.Lock()
	m.leaving = true
	m.mu.Unlock()
	m.stop(m.ownedUnits(), "leaving")
	m.client.Close() // leaves the group (its revoke callback finds nothing left)
}

// Status returns what the member owns now.
func (m *Member) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statusLocked()
}

func (m *Member) statusLocked() Status {
	var id string
	if m.client != nil { // nil while Join still builds it
		id, _ = m.client.GroupMetadata()
	}
	return Status{Group: m.cfg.Group, MemberID: id, Joined: m.joined, Owned: slices.Sorted(maps.Keys(m.running))}
}

func (m *Member) units(assignment map[string][]int32) []string {
	var out []string
	for topic, parts := range assignment {
		// Partition 0 only: should partitions be added to a unit's topic
		// later, its other partitions give nothing to their owners.
		if u, ok := strings.CutPrefix(topic, m.cfg.TopicPrefix); ok && slices.Contains(parts, 0) && slices.Contains(m.cfg.Units, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// assigned starts the newly assigned units. franz-go calls it after every
// rebalance, with nothing new as often as not; it must return quickly, so
// each Work runs in its own goroutine.
func (m *Member) assigned(_ context.Context, _ *kgo.Client, assignment map[string][]int32) {
	units := m.units(assignment)
	m.mu.Lock()
	if m.leaving {
		m.mu.Unlock()
		return
	}
	m.joined = true
	var started []string
	for _, u := range units {
		if _, ok := m.running[u]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &unitRun{cancel: cancel, done: make(chan struct{})}
		m.running[u] = r
		started = append(started, u)
		go func() {
			defer close(r.done)
			m.cfg.Work(ctx, u)
		}()
	}
	st := m.statusLocked()
	m.mu.Unlock()
	if len(started) > 0 {
		m.cfg.Logger.Info("instances assigned", "group", st.Group, "member", st.MemberID, "instances", started, "owned", st.Owned)
	}
	m.changed(st)
}

// revoked stops the units the group takes away, and waits for their Work to
// return: franz-go rejoins, and the group can hand them on, only after.
func (m *Member) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.stop(m.units(revoked), "instances revoked")
}

// lost stops the units of a membership the group has ended (the session
// expired, the member was fenced): another member may own them already.
func (m *Member) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.stop(m.units(lost), "instances lost")
}

func (m *Member) ownedUnits() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.running))
}

// stop cancels the units' Work and waits for each to return.
func (m *Member) stop(units []string, why string) {
	m.mu.Lock()
	var runs []*unitRun
	var stopped []string
	for _, u := range units {
		if r, ok := m.running[u]; ok {
			r.cancel()
			runs = append(runs, r)
			stopped = append(stopped, u)
		}
	}
	m.mu.Unlock()
	if len(runs) == 0 {
		return
	}
	start := time.Now()
	for _, r := range runs {
		<-r.done
	}
	m.mu.Lock()
	for _, u := range stopped {
		delete(m.running, u)
	}
	st := m.statusLocked()
	m.mu.Unlock()
	m.cfg.Logger.Info(why, "group", st.Group, "member", st.MemberID, "instances", stopped, "owned", st.Owned,
		"stopped_in", time.Since(start).Round(time.Millisecond).String())
	m.changed(st)
}

func (m *Member) changed(st Status) {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(st)
	}
}

// ensureUnitTopics creates the units' topics that are missing: one
// partition each (one owner), compacted (nothing is written; compaction
// keeps retention from ever mattering).
func ensureUnitTopics(ctx context.Context, cfg Config) error {
	cl, err := kgo.NewClient(cfg.Kafka...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	var errs []error
	for _, topic := range unitTopics(cfg) {
		u := strings.TrimPrefix(topic, cfg.TopicPrefix)
		resp, err := adm.CreateTopic(ctx, 1, cfg.ReplicationFactor, map[string]*string{"cleanup.policy": &compact}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("group: creating the topic %s that stands for instance %s: %w", topic, u, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A unit's topic with more partitions would give the unit to as many
	// members at once: refuse it rather than run an instance twice.
	details, err := adm.ListTopics(ctx, unitTopics(cfg)...)
	if err != nil {
		return fmt.Errorf("group: describing the instances' topics: %w", err)
	}
	for _, d := range details.Sorted() {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("group: describing the topic %s: %w", d.Topic, d.Err))
		} else if len(d.Partitions) != 1 {
			errs = append(errs, fmt.Errorf("group: the topic %s has %d partitions: it stands for one instance in the group and must have exactly 1 (delete it; it holds nothing)", d.Topic, len(d.Partitions)))
		}
	}
	return errors.Join(errs...)
}

func unitTopics(cfg Config) []string {
	out := make([]string, len(cfg.Units))
	for i, u := range cfg.Units {
		out[i] = cfg.TopicPrefix + u
	}
	return out
}
