package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/group"
	"github.com/coupa-kafka/coupa-kafka/instances"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// RunCmd is `coupa-kafka run`, the daemon.
type RunCmd struct {
	Flags          `embed:""`
	PollInterval   time.Duration `name:"poll-interval" env:"COUPA_POLL_INTERVAL" default:"${default_poll_max}" help:"Longest pause between passes of a document table: the pause of an idle table doubles up to it (and a failed pass waits it). Reference tables default to ${reference_poll}, full refresh tables to ${full_refresh_poll} between refreshes."`
	PollIntervals  string        `name:"poll-intervals" env:"COUPA_POLL_INTERVALS" help:"Per-table longest pauses, overriding the defaults: table=duration,... (exchange_rates=1h,lookup_values=15m)."`
	PollMin        time.Duration `name:"poll-min" env:"COUPA_POLL_MIN" default:"${default_poll_min}" help:"Pause after a pass that found changes: how soon a busy table is polled again."`
	PollBudget     float64       `name:"poll-budget" env:"COUPA_POLL_BUDGET" default:"${default_poll_budget}" help:"Passes started per second across all tables (an idle pass costs one request): the request rate of polling in steady state. Negative: unbounded."`
	Group          string        `name:"group" env:"COUPA_GROUP" help:"Kafka consumer group the run processes of one deployment join: each Coupa instance is synced by one member, and a member that dies or leaves has its instances taken over by the others. Default: coupa-kafka.<offsets topic>."`
	SessionTimeout time.Duration `name:"group-session-timeout" env:"COUPA_GROUP_SESSION_TIMEOUT" default:"${default_session_timeout}" help:"How long the group waits for a silent member before moving its instances (the broker's group.min.session.timeout.ms and group.max.session.timeout.ms bound it)."`
	HTTPAddr       string        `name:"http-addr" env:"COUPA_HTTP_ADDR" default:":8080" help:"Listen address of /metrics, /healthz and /readyz."`
}

// groupID is COUPA_GROUP or its default, derived from the offsets topic: the
// processes that share cursors share the work.
func (c *RunCmd) groupID() string {
	if c.Group != "" {
		return c.Group
	}
	return "coupa-kafka." + c.OffsetsTopic
}

// Run serves health and metrics at once (so a slow start is visible), runs
// the startup checks, then joins the group and syncs the instances it is
// given until SIGTERM or SIGINT. On a signal each owned instance finishes
// or aborts its open transactions (bounded by the commit timeout), the
// process leaves the group (its instances move at once) and exits 0.
func (c *RunCmd) Run(ctx context.Context) error {
	intervals, err := c.validateRun()
	if err != nil {
		return err
	}
	list, err := c.instances()
	if err != nil {
		return err
	}
	log := c.logger()
	var sup atomic.Pointer[supervisor]
	var kafka []kgo.Opt
	var registry *sr.Client
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		s := sup.Load()
		if s == nil {
			http.Error(w, "starting: startup checks (Kafka, schema registry, Coupa) not done yet", http.StatusServiceUnavailable)
			return
		}
		problems, lines := s.readiness()
		if len(problems) > 0 {
			http.Error(w, "not syncing:\n"+strings.Join(problems, "\n"), http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := pingKafka(pctx, kafka); err != nil {
			http.Error(w, "kafka unreachable", http.StatusServiceUnavailable)
			return
		}
		if _, err := registry.Subjects(pctx); err != nil {
			http.Error(w, "schema registry unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n" + strings.Join(lines, "\n") + "\n"))
	})
	metricsHandler := &deferredHandler{}
	mux.Handle("/metrics", metricsHandler)
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	poll := producer.Poll{Min: c.PollMin, Max: c.PollInterval, Budget: c.PollBudget, Intervals: intervals}
	if kafka, err = c.kafkaOpts(log); err != nil {
		return err
	}
	if registry, err = c.registryClient(); err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	s, err := c.startupChecks(ctx, log, poll, list, kafka, registry)
	if err != nil {
		return err
	}
	metricsHandler.set(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.changed(group.Status{Group: c.groupID()}) // joining; OnChange tells the rest
	member, err := group.Join(ctx, group.Config{
		Kafka: kafka, Group: c.groupID(), TopicPrefix: c.OffsetsTopic + ".instance.", Units: s.units(),
		SessionTimeout: c.SessionTimeout, ReplicationFactor: c.ReplicationFactor,
		Work: s.work, OnChange: s.changed, Logger: log,
	})
	if err != nil {
		return err
	}
	sup.Store(s)
	log.Info("running", "group", c.groupID(), "instances", s.names(), "poll_min", c.PollMin.String(), "poll_interval", c.PollInterval.String(),
		"poll_budget", c.PollBudget, "session_timeout", c.SessionTimeout.String(), "http", ln.Addr().String())
	<-ctx.Done()
	member.Leave()
	log.Info("stopped")
	return nil
}

// validateRun checks run's own settings with the rest, every problem at once.
func (c *RunCmd) validateRun() (map[string]time.Duration, error) {
	var own []error
	if c.PollInterval <= 0 {
		own = append(own, fmt.Errorf("COUPA_POLL_INTERVAL %v must be positive", c.PollInterval))
	}
	if c.PollMin <= 0 || c.PollMin > c.PollInterval {
		own = append(own, fmt.Errorf("COUPA_POLL_MIN %v must be positive and at most COUPA_POLL_INTERVAL %v", c.PollMin, c.PollInterval))
	}
	intervals, err := parsePollIntervals(c.PollIntervals)
	if err != nil {
		own = append(own, err)
	}
	if c.PollBudget == 0 {
		own = append(own, errors.New("COUPA_POLL_BUDGET 0 would never poll: give passes per second, or a negative number for no bound"))
	}
	if c.SessionTimeout != 0 && c.SessionTimeout < time.Second {
		own = append(own, fmt.Errorf("COUPA_GROUP_SESSION_TIMEOUT %v is below 1s (brokers allow 6s to 30m by default)", c.SessionTimeout))
	}
	return intervals, c.validate(true, own...)
}

// startupChecks makes sure, before the process joins the group, that what
// every instance needs answers: with the single-instance variables, Kafka,
// the registry and Coupa (as before: a wrong secret fails the start);
// with COUPA_CONFIG, Kafka and the registry (each instance's Coupa is
// checked by the member that is given it, and an instance that fails is
// retried there without stopping the others).
func (c *RunCmd) startupChecks(ctx context.Context, log *slog.Logger, poll producer.Poll, list []instances.Instance, kopts []kgo.Opt, rc *sr.Client) (*supervisor, error) {
	if c.Config == "" {
		a, err := prepare(ctx, &c.Flags, wiring{log: log})
		if err != nil {
			return nil, err
		}
		s := newSupervisor(&c.Flags, log, poll, list, a.metrics.Registry)
		s.metrics, s.prepared = a.metrics, a
		return s, nil
	}
	if err := preflightShared(ctx, &c.Flags, kopts, rc); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return newSupervisor(&c.Flags, log, poll, list, reg), nil
}

// deferredHandler answers 503 until the real handler exists.
type deferredHandler struct{ h atomic.Pointer[http.Handler] }

func (d *deferredHandler) set(h http.Handler) { d.h.Store(&h) }

func (d *deferredHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := d.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "starting", http.StatusServiceUnavailable)
}

// parsePollIntervals reads COUPA_POLL_INTERVALS: table=duration pairs,
// comma separated, each naming a catalog table and a positive duration.
func parsePollIntervals(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	var errs []string
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, text, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok {
			errs = append(errs, fmt.Sprintf("%q is not table=duration", pair))
			continue
		}
		if _, err := coupa.LookupTable(name); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%s: want a positive duration such as 15m or 1h", name, text))
			continue
		}
		out[name] = d
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("COUPA_POLL_INTERVALS: %s", strings.Join(errs, "; "))
	}
	return out, nil
}
