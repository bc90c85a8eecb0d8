package faultproxy

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Action is what a fault does to the request it matches.
type Action int

const (
	// CutBeforeForward never forwards the request and cuts the
	// connection: the broker never sees it.
	CutBeforeForward Action = iota

	// DropResponse forwards the request, waits for the broker's response,
	// discards it and cuts the connection. The broker certainly processed
	// the request; the client never learns the answer. This is the "lost
	// commit answer" case.
	DropResponse

	// CutAfterResponse forwards the request and its response, then cuts
	// the connection.
	CutAfterResponse

	// ReplyError does not forward the request; the proxy answers it
	// itself with a response of the same API and version whose top-level
	// ErrorCode is Fault.ErrorCode (for example 16 NOT_COORDINATOR).
	ReplyError

	// ReplaceError forwards the request, reads and discards the broker's
	// real response, and answers with one carrying Fault.ErrorCode: the
	// broker did the work but the client is told it failed.
	ReplaceError

	// HoldResponse forwards the request but never forwards its response,
	// nor anything after it on that connection. The connection stays open
	// until the client gives up (its request timeout) and closes it, or
	// the broker closes its side (a broker that dies).
	HoldResponse

	// HoldRequest never forwards the request, nor anything after it on
	// that connection, and leaves the connection open until the client
	// closes it. The broker never sees the request and the client waits
	// for an answer: what a broker sees of a process killed with the
	// request unsent. Held on EndTxn, the transaction stays open (its
	// records in the log, no marker) until the next producer with its
	// transactional id aborts it.
	HoldRequest
)

var actionNames = [...]string{"CutBeforeForward", "DropResponse", "CutAfterResponse", "ReplyError", "ReplaceError", "HoldResponse", "HoldRequest"}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Fault is one armed fault.
type Fault struct {
	// API is the request key to match, e.g. kmsg.EndTxn.Int16() (26).
	API int16
	// Action is what happens to a matching request.
	Action Action
	// Times is how many matching requests the fault applies to before it
	// disarms; 0 means 1.
	Times int
	// ErrorCode is the error code of the synthesized response, for
	// ReplyError and ReplaceError.
	ErrorCode int16
	// Reset makes the cuts of this fault abortive: the client side is
	// closed with SO_LINGER 0, so the client reads ECONNRESET instead of
	// EOF. kgo treats the two differently: an EOF as the first response
	// on a fresh connection is taken for a TLS/SASL misconfiguration and
	// is not retried (unless kgo.AlwaysRetryEOF), a reset is retried.
	Reset bool
	// When, if set, narrows the fault to the requests of API for which it
	// returns true, given the decoded request (a *kmsg.EndTxnRequest for
	// EndTxn, say); other requests pass untouched and do not use the fault
	// up. It runs on the relay's goroutine, before the request is
	// forwarded.
	When func(kmsg.Request) bool
}

// check reports a fault that could never work, at Arm time rather than
// when it first matches.
func (f Fault) check() error {
	if f.Action < CutBeforeForward || f.Action > HoldRequest {
		return fmt.Errorf("faultproxy: unknown action %v", f.Action)
	}
	if f.Times < 0 {
		return fmt.Errorf("faultproxy: negative Times %d", f.Times)
	}
	if f.Action == ReplyError || f.Action == ReplaceError {
		if _, err := errorResponse(f.API, 0, 0, f.ErrorCode); err != nil {
			return err
		}
	}
	return nil
}

// errorResponse builds a whole response frame (size, header, body) for the
// request (key, version, corr), whose top-level ErrorCode field is code.
// Only APIs whose response has a top-level ErrorCode are supported (EndTxn,
// InitProducerID, AddOffsetsToTxn, FindCoordinator v0-3, the group APIs...);
// the field is found by reflection so that every such kmsg type works.
func errorResponse(key, version int16, corr int32, code int16) ([]byte, error) {
	resp := kmsg.ResponseForKey(key)
	if resp == nil {
		return nil, fmt.Errorf("faultproxy: unknown api key %d", key)
	}
	f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return nil, fmt.Errorf("faultproxy: %s response has no top-level ErrorCode", kmsg.NameForKey(key))
	}
	f.SetInt(int64(code))
	resp.SetVersion(version)

	buf := make([]byte, 8, 64) // size, correlation id
	putInt32(buf[4:], corr)
	// A flexible response header carries tagged fields after the
	// correlation id, except ApiVersions, whose response header is always
	// v0 so that a client can parse it before knowing any version.
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	putInt32(buf, int32(len(buf)-4))
	return buf, nil
}

func putInt32(b []byte, v int32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func getInt32(b []byte) int32 {
	return int32(b[0])<<24 | int32(b[1])<<16 | int32(b[2])<<8 | int32(b[3])
}
