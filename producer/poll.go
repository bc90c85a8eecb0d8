package producer

import (
	"errors"

	"fmt"
	"github.com/coupa-kafka/coupa-kafka/coupa"
	"math/rand/v2"
	"time"
)

// Polling. A table that found changes is polled again soon: changes come in
// bursts (an approval chain, a batch of invoices), and a stream processor
// wants them in seconds. An idle table backs off towards a ceiling, so that
// quiet reference tables cost next to nothing. All tables draw the start of
// each pass from one budget, so that however many tables are busy the
// polling rate stays bounded; an idle incremental pass costs one request,
// so the budget is, in steady state, the request rate of polling.

// The polling defaults the CLI shows and the library applies. With the
// eight document tables and changes arriving about once a second, they give
// a change a p95 latency well under 30 s at under 1 request/s (see
// BENCHMARKS.md, "Freshness").
const (
	DefaultPollMin    = 2 * time.Second
	DefaultPollMax    = 30 * time.Second
	DefaultPollBudget = 0.8
)

// Poll paces Run's passes.
type Poll struct {
	// Min is the interval after a pass that published changes. Default
	// DefaultPollMin.
	Min time.Duration
	// Max is the ceiling: each idle pass doubles a table's interval, from
	// Min up to Max; a failed pass waits Max. Default DefaultPollMax.
	Max time.Duration
	// Budget is how many passes may start per second, across all tables:
	// the request rate of polling in steady state. Default
	// DefaultPollBudget; negative means unbounded.
	Budget float64
	// Intervals overrides Max per table name ("exchange_rates": an hour).
	// A table without an entry polls up to Max if it is an incremental
	// document table, and up to its kind's coupa.Table.DefaultPollInterval
	// otherwise: reference data is polled every 15 minutes, a full refresh
	// runs hourly. For a full refresh table the interval is the time
	// between the end of one refresh and the start of the next.
	Intervals map[string]time.Duration
}

// forTable is p as table t uses it: Max is t's own ceiling, and Min no
// longer than that.
func (p Poll) forTable(t coupa.Table) Poll {
	q := p
	switch d, ok := p.Intervals[t.Name]; {
	case ok:
		q.Max = d
	case t.Kind != coupa.Document || t.Mode != coupa.Incremental:
		q.Max = t.DefaultPollInterval()
	}
	q.Min = min(q.Min, q.Max)
	return q
}

func (p *Poll) defaults() error {
	if p.Min == 0 {
		p.Min = DefaultPollMin
	}
	if p.Max == 0 {
		p.Max = DefaultPollMax
	}
	if p.Budget == 0 {
		p.Budget = DefaultPollBudget
	}
	switch {
	case p.Min < 0 || p.Max < 0:
		return errors.New("producer: negative poll interval")
	case p.Min > p.Max:
		return fmt.Errorf("producer: the shortest poll interval %v is longer than the longest %v", p.Min, p.Max)
	}
	for table, d := range p.Intervals {
		if d <= 0 {
			return fmt.Errorf("producer: poll interval of %s is %v; it must be positive", table, d)
		}
	}
	return nil
}

// pacer is one table's polling interval.
type pacer struct {
	poll     Poll
	interval time.Duration
	rand     func() float64 // [0, 1): rand.Float64, fixed in tests
}

func newPacer(p Poll) *pacer { return &pacer{poll: p, interval: p.Min, rand: rand.Float64} }

// next returns the pause before the table's next pass, after a pass that
// published changes, found none, or failed. The pause is the interval with
// ±10% jitter, so that tables do not poll in lockstep.
func (p *pacer) next(changes int, err error) time.Duration {
	switch {
	case err != nil:
		p.interval = p.poll.Max
	case changes > 0:
		p.interval = p.poll.Min
	default:
		p.interval = min(2*p.interval, p.poll.Max)
	}
	return time.Duration(float64(p.interval) * (0.9 + 0.2*p.rand()))
}
