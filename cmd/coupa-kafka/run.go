package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coupa-kafka/coupa-kafka/producer"
)

// RunCmd is `coupa-kafka run`, the daemon.
type RunCmd struct {
	Flags        `embed:""`
	PollInterval time.Duration `name:"poll-interval" env:"COUPA_POLL_INTERVAL" default:"5m" help:"Pause between passes of a table."`
	HTTPAddr     string        `name:"http-addr" env:"COUPA_HTTP_ADDR" default:":8080" help:"Listen address of /metrics, /healthz and /readyz."`
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
	a.log.Info("running", "tables", len(c.Tables), "poll_interval", c.PollInterval.String(), "http", ln.Addr().String())
	err = a.prod.Run(ctx, c.PollInterval, func(r producer.PassResult, err error) {
		health.record(r, err)
		if err != nil {
			a.log.Error("pass failed", "table", r.Table, "published", r.Published, "cursor", r.Cursor.String(), "error", err.Error())
			return
		}
		a.log.Info("pass done", "table", r.Table, "published", r.Published, "requests", r.Requests, "cursor", r.Cursor.String())
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
