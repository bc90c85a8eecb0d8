package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/producer"
)

// RunCmd is `coupa-kafka run`, the daemon.
type RunCmd struct {
	Flags         `embed:""`
	PollInterval  time.Duration `name:"poll-interval" env:"COUPA_POLL_INTERVAL" default:"${default_poll_max}" help:"Longest pause between passes of a document table: the pause of an idle table doubles up to it (and a failed pass waits it). Reference tables default to ${reference_poll}, full refresh tables to ${full_refresh_poll} between refreshes."`
	PollIntervals string        `name:"poll-intervals" env:"COUPA_POLL_INTERVALS" help:"Per-table longest pauses, overriding the defaults: table=duration,... (exchange_rates=1h,lookup_values=15m)."`
	PollMin       time.Duration `name:"poll-min" env:"COUPA_POLL_MIN" default:"${default_poll_min}" help:"Pause after a pass that found changes: how soon a busy table is polled again."`
	PollBudget    float64       `name:"poll-budget" env:"COUPA_POLL_BUDGET" default:"${default_poll_budget}" help:"Passes started per second across all tables (an idle pass costs one request): the request rate of polling in steady state. Negative: unbounded."`
	HTTPAddr      string        `name:"http-addr" env:"COUPA_HTTP_ADDR" default:":8080" help:"Listen address of /metrics, /healthz and /readyz."`
}

// Run serves health and metrics at once (so a slow start is visible), then
// prepares the producer and syncs until SIGTERM or SIGINT. On a signal each
// table finishes or aborts its open transaction (bounded by the commit
// timeout) and the process exits 0.
func (c *RunCmd) Run(ctx context.Context) error {
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
	if err := c.validate(true, own...); err != nil {
		return err
	}
	var ready atomic.Pointer[app]
	health := newTableHealth()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		a := ready.Load()
		if a == nil {
			http.Error(w, "starting: topics, registry and cursors not ready yet", http.StatusServiceUnavailable)
			return
		}
		if problems := health.problems(); len(problems) > 0 {
			http.Error(w, "tables not syncing:\n"+strings.Join(problems, "\n"), http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := pingKafka(pctx, a.kafka); err != nil {
			http.Error(w, "kafka unreachable", http.StatusServiceUnavailable)
			return
		}
		if _, err := a.registry.Subjects(pctx); err != nil {
			http.Error(w, "schema registry unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
		if len(a.skipped) > 0 {
			fmt.Fprintf(w, "skipped, the OAuth client lacks their scope: %s\n", skippedText(a.skipped))
		}
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

	a, err := open(ctx, &c.Flags, wiring{})
	if err != nil {
		return err
	}
	defer a.prod.Close()
	metricsHandler.set(promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	ready.Store(a)
	a.log.Info("running", "tables", len(c.Tables), "poll_min", c.PollMin.String(), "poll_interval", c.PollInterval.String(),
		"poll_budget", c.PollBudget, "http", ln.Addr().String())
	poll := producer.Poll{Min: c.PollMin, Max: c.PollInterval, Budget: c.PollBudget, Intervals: intervals}
	err = a.prod.Run(ctx, poll, func(r producer.PassResult, err error) {
		health.record(r, err)
		if err != nil {
			a.log.Error("pass failed", "table", r.Table, "published", r.Published, "cursor", r.Cursor.String(), "error", err.Error())
			return
		}
		a.log.Info("pass done", "table", r.Table, "published", r.Published, "requests", r.Requests, "cursor", r.Cursor.String(),
			"next_pass_in", r.NextPass.Round(100*time.Millisecond).String())
	})
	if err != nil {
		a.log.Error("stopped: no table is syncing", "error", err.Error())
		return err
	}
	a.log.Info("stopped")
	return nil
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
