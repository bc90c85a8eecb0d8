package faultproxy

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LostAnswer is one way a transactional producer can lose the answer to a
// request, as the in-process (kfake) and the real-broker suites both test
// it.
type LostAnswer struct {
	Name string
	// Faults are armed together, in order, for one lost answer: a request
	// and its retries.
	Faults []Fault
	// Outcome is how a commit in doubt must settle: "committed",
	// "aborted", or "" where the producer is never in doubt (the answer
	// arrived, or the failure came before the commit).
	Outcome string
}

// Attempts is how many times franz-go sends one request with ClientOpts:
// the first try and its retries. A fault armed for Attempts requests fails
// them all, so the error reaches the caller.
const Attempts = 3

// LostAnswers are the cases: every way the EndTxn(commit) answer can be lost
// (before or after the coordinator acted on it), and lost Produce answers.
// The EndTxn faults apply to commits only: an abort (after a failed
// produce, say) that met one would fail the abort, not lose a commit's
// answer, and its settling as "aborted" is right but not the case tested.
var LostAnswers = []LostAnswer{
	{"answer lost after commit", []Fault{{API: endTxn, Action: DropResponse, Times: Attempts, When: commits}}, "committed"},
	{"connection reset after commit", []Fault{{API: endTxn, Action: DropResponse, Times: Attempts, Reset: true, When: commits}}, "committed"},
	{"cut before the commit reached the broker", []Fault{{API: endTxn, Action: CutBeforeForward, Times: Attempts, When: commits}}, "aborted"},
	{"NOT_COORDINATOR, commit never sent", []Fault{{API: endTxn, Action: ReplyError, ErrorCode: 16, Times: Attempts, When: commits}}, "aborted"},
	{"COORDINATOR_LOAD_IN_PROGRESS after commit", []Fault{{API: endTxn, Action: ReplaceError, ErrorCode: 14, Times: Attempts, When: commits}}, "committed"},
	// The commit times out; its retries never reach the broker (holding
	// them too would only make the test slower).
	{"request timeout after commit", []Fault{{API: endTxn, Action: HoldResponse, When: commits}, {API: endTxn, Action: CutBeforeForward, Times: Attempts - 1, When: commits}}, "committed"},
	{"cut after the answer", []Fault{{API: endTxn, Action: CutAfterResponse, When: commits}}, ""},
	{"produce answer lost", []Fault{{API: produce, Action: DropResponse}}, ""},
	{"produce answers lost beyond retries", []Fault{{API: produce, Action: DropResponse, Times: 3 * Attempts, Reset: true}}, ""},
}

// commits accepts the EndTxn requests that commit.
func commits(r kmsg.Request) bool {
	end, ok := r.(*kmsg.EndTxnRequest)
	return ok && end.Commit
}

// API is the request the case's faults apply to (they all share one).
func (c LostAnswer) API() int16 { return c.Faults[0].API }

var (
	endTxn  = kmsg.EndTxn.Int16()
	produce = kmsg.Produce.Int16()
)

// ClientOpts route a client through p and make franz-go give up on a lost
// answer after Attempts tries (its defaults retry for up to 30 s), so that a
// test sees many commits in doubt.
func (p *Proxy) ClientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.Dialer(p.DialContext),
		kgo.RequestRetries(Attempts - 1),
		kgo.RecordRetries(Attempts - 1),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.RequestTimeoutOverhead(time.Second),
		// A produce retried after a cut waits for a metadata refresh.
		kgo.MetadataMinAge(50 * time.Millisecond),
	}
}

// ArmRepeatedly arms faults, waits until all their Times are used up and
// progress reports that the client got past them (e.g. a later commit
// succeeded), then arms them again, until they were armed want times or ctx
// ends. The channel always has the number of arms used up to give.
func (p *Proxy) ArmRepeatedly(ctx context.Context, faults []Fault, want int, progress func() float64) (<-chan int, error) {
	for _, f := range faults {
		if err := f.check(); err != nil {
			return nil, err
		}
	}
	out := make(chan int)
	go func() {
		const (
			idle = iota
			armed
			awaitingProgress
		)
		state, done := idle, 0
		var at float64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			switch {
			case state == idle && done < want:
				for _, f := range faults {
					_ = p.Arm(f) // checked above
				}
				state = armed
			case state == armed && p.Pending() == 0:
				state, done, at = awaitingProgress, done+1, progress()
			case state == awaitingProgress && progress() > at:
				state = idle
			}
			select {
			case out <- done:
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Check compares what a test saw with what the case must produce: the
// faults armed at least want times and fired, and at least want commits in doubt
// settled as Outcome and none the other way. fired is Proxy.Fired of the
// case's API.
func (c LostAnswer) Check(fired, want int, committed, aborted float64) error {
	var bad bool
	switch c.Outcome {
	case "committed":
		bad = committed < float64(want) || aborted != 0
	case "aborted":
		bad = aborted < float64(want) || committed != 0
	default:
		bad = committed+aborted != 0
	}
	switch {
	case fired < want:
		return fmt.Errorf("the fault fired %d times, want >= %d", fired, want)
	case bad && c.Outcome == "":
		return fmt.Errorf("in doubt: %v committed, %v aborted; want none in doubt", committed, aborted)
	case bad:
		return fmt.Errorf("in doubt: %v committed, %v aborted; want >= %d %s and none the other way", committed, aborted, want, c.Outcome)
	}
	return nil
}
