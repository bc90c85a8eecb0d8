package main

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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coupa-kafka/coupa-kafka/group"
	"github.com/coupa-kafka/coupa-kafka/instances"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// Backoff of an owned instance that cannot sync (its startup checks fail,
// or every table stopped): it is retried in place, its owner keeps it, and
// /readyz says why. (Variables for the tests.)
var (
	instanceRetryMin = 5 * time.Second
	instanceRetryMax = 5 * time.Minute
)

// supervisor runs the instances the group gives this process: one
// producer per owned instance, started when the instance is assigned and
// closed (its open transactions finished or aborted) when it is revoked.
type supervisor struct {
	flags  *Flags
	log    *slog.Logger
	poll   producer.Poll
	byName map[string]instances.Instance
	// nameOf names the instance of each of the group's units. A unit is
	// an instance's host, as its transactional ids are: renaming an
	// instance, or moving it from the single-instance variables to
	// COUPA_CONFIG, leaves it the same unit, so two members never hold
	// one instance under two names and fence each other.
	nameOf map[string]string
	// several: COUPA_CONFIG lists the instances; each gets metrics of its
	// own, labelled coupa_instance, registered while it is owned. With the
	// single-instance variables the process's metrics are the instance's,
	// unlabelled as before.
	several  bool
	registry *prometheus.Registry
	metrics  *producer.Metrics // the single instance's
	owned    *prometheus.GaugeVec

	mu       sync.Mutex
	prepared *app // the single instance, checked at start, not started yet
	health   map[string]*tableHealth
	failing  map[string]string // instance -> why it is not syncing
	skipped  map[string]string // instance -> tables skipped for want of scope
	status   group.Status
}

func newSupervisor(f *Flags, log *slog.Logger, poll producer.Poll, list []instances.Instance, registry *prometheus.Registry) *supervisor {
	s := &supervisor{flags: f, log: log, poll: poll, byName: map[string]instances.Instance{}, nameOf: map[string]string{}, several: f.Config != "",
		registry: registry, health: map[string]*tableHealth{}, failing: map[string]string{}, skipped: map[string]string{}}
	for _, in := range list {
		s.byName[in.Name] = in
		s.nameOf[in.Host()] = in.Name
	}
	s.owned = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "coupa_kafka", Name: "instance_owned",
		Help: "1 for each Coupa instance this process syncs (the group gave it to this member); 0 for the configured instances other members sync."},
		[]string{"coupa_instance"})
	// instance_info maps an instance's name (the metrics' label under
	// COUPA_CONFIG) to its host (the cursors' key): `coupa-kafka status`
	// joins them by it.
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "coupa_kafka", Name: "instance_info",
		Help: "1 for each configured Coupa instance: its name (coupa_instance, as on the other metrics) and host (as in cursor keys and the coupa.instance header)."},
		[]string{"coupa_instance", "host"})
	registry.MustRegister(s.owned)
	if s.several { // with one instance, the metrics carry no coupa_instance
		registry.MustRegister(info)
	}
	for name, in := range s.byName {
		s.owned.WithLabelValues(name).Set(0)
		info.WithLabelValues(name, in.Host()).Set(1)
	}
	return s
}

// names are the configured instances.
func (s *supervisor) names() []string { return slices.Sorted(maps.Keys(s.byName)) }

// units are the group's units: the instances' hosts.
func (s *supervisor) units() []string { return slices.Sorted(maps.Keys(s.nameOf)) }

// changed follows the member's ownership (the gauge; /readyz).
func (s *supervisor) changed(st group.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(st.Owned))
	for _, unit := range st.Owned {
		names = append(names, s.nameOf[unit])
	}
	slices.Sort(names)
	st.Owned = names
	s.status = st
	for name := range s.byName {
		v := 0.0
		if slices.Contains(st.Owned, name) {
			v = 1
		}
		s.owned.WithLabelValues(name).Set(v)
	}
}

// work runs one owned instance (the group's unit is its host) until ctx
// ends (the group revoked it, or the process stops), retrying with backoff
// while it cannot sync. A fenced instance is not retried: another process
// took its transactional ids over, the group's new owner if this process
// is a zombie; retrying would fence that owner in turn.
func (s *supervisor) work(ctx context.Context, unit string) {
	name := s.nameOf[unit]
	log := s.log.With("instance", name)
	defer s.forget(name)
	for backoff := instanceRetryMin; ; backoff = min(2*backoff, instanceRetryMax) {
		started := time.Now()
		err := s.runInstance(ctx, name, log)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.failing[name] = oneLine(err)
		s.mu.Unlock()
		var fenced *producer.FencedError
		if errors.As(err, &fenced) {
			log.Error("fenced: another process syncs this instance; this one stops syncing it until the group assigns it again", "error", oneLine(err))
			<-ctx.Done()
			return
		}
		if time.Since(started) > instanceRetryMax {
			backoff = instanceRetryMin // it ran a long while: a new failure
		}
		log.Error("instance not syncing; retrying", "retry_in", backoff.String(), "error", oneLine(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// runInstance starts the instance's producer (startup checks, topics,
// fencing, cursors) and runs it until ctx ends or every table stops.
func (s *supervisor) runInstance(ctx context.Context, name string, log *slog.Logger) error {
	in := s.byName[name]
	f := s.flags.forInstance(in)
	w := wiring{log: log, metrics: s.metrics}
	if s.several {
		w.metrics = producer.NewInstanceMetrics(s.registry, name)
		defer w.metrics.Unregister()
		w.clientID = "coupa-kafka-" + name
	}
	var err error
	a := s.takePrepared()
	if a != nil {
		err = a.start(ctx, &f, w)
	} else {
		a, err = open(ctx, &f, w)
	}
	if err != nil {
		return err
	}
	defer a.prod.Close()
	health := newTableHealth()
	s.mu.Lock()
	delete(s.failing, name)
	s.health[name] = health
	s.skipped[name] = skippedText(a.skipped)
	s.mu.Unlock()
	log.Info("running", "tables", len(a.prod.Cursors()), "topic_prefix", f.TopicPrefix)
	return a.prod.Run(ctx, s.poll, func(r producer.PassResult, err error) {
		health.record(r, err)
		if err != nil {
			log.Error("pass failed", "table", r.Table, "published", r.Published, "cursor", r.Cursor.String(), "error", err.Error())
			return
		}
		log.Info("pass done", "table", r.Table, "published", r.Published, "requests", r.Requests, "cursor", r.Cursor.String(),
			"next_pass_in", r.NextPass.Round(100*time.Millisecond).String())
	})
}

// takePrepared hands out the single instance's app that the start-up
// checks built, once: a later assignment starts afresh.
func (s *supervisor) takePrepared() *app {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.prepared
	s.prepared = nil
	return a
}

// forget drops what /readyz knew of an instance the process no longer runs.
func (s *supervisor) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.health, name)
	delete(s.failing, name)
	delete(s.skipped, name)
}

// readiness is /readyz's verdict: problems (not ready) and the lines of a
// ready answer.
func (s *supervisor) readiness() (problems, lines []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if !st.Joined {
		return []string{fmt.Sprintf("joining the group %s", st.Group)}, nil
	}
	for _, name := range st.Owned {
		prefix := ""
		if s.several {
			prefix = name + ": "
		}
		if why, ok := s.failing[name]; ok {
			problems = append(problems, fmt.Sprintf("%snot syncing: %s", prefix, why))
		}
		if h := s.health[name]; h != nil {
			for _, p := range h.problems() {
				problems = append(problems, prefix+p)
			}
		}
	}
	lines = append(lines, fmt.Sprintf("group %s member %s", st.Group, st.MemberID))
	if len(st.Owned) == 0 {
		lines = append(lines, "owns: nothing (standby)")
	} else {
		lines = append(lines, "owns: "+strings.Join(st.Owned, ", "))
	}
	for _, name := range st.Owned {
		if sk := s.skipped[name]; sk != "" {
			where := ""
			if s.several {
				where = " (" + name + ")"
			}
			lines = append(lines, fmt.Sprintf("skipped%s, the OAuth client lacks their scope: %s", where, sk))
		}
	}
	return problems, lines
}
