package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coupa-kafka/coupa-kafka/producer"
)

// An interrupted sync must not look like a success: no "table synced" for
// a table it did not finish, and an error (non-zero exit) that main does not
// take for a clean stop.
func TestSyncInterruptedExitsNonZero(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	results := []producer.PassResult{
		{Table: "users", Topic: "coupa.users", Published: 40},
		{Table: "invoices", Topic: "coupa.invoices", Err: context.Canceled},
	}
	err := summarizeSync(log, results, context.Canceled, true, time.Second)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sync returned %v: main would exit 0", err)
	}
	if !strings.Contains(err.Error(), "1 of 2 tables synced") {
		t.Errorf("error %q does not say how far it got", err)
	}
	out := logs.String()
	if strings.Count(out, `"msg":"table synced"`) != 1 || !strings.Contains(out, `"msg":"table not synced","table":"invoices"`) {
		t.Errorf("logs claim tables synced that were not:\n%s", out)
	}
	if strings.Contains(out, "sync finished") {
		t.Errorf("an interrupted sync logs that it finished:\n%s", out)
	}
}

func TestSyncFailureNamesTheTable(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	boom := errors.New("table invoices: giving up after 10 failed transactions")
	err := summarizeSync(log, []producer.PassResult{{Table: "invoices", Err: boom}}, boom, false, time.Second)
	if !errors.Is(err, boom) || !strings.Contains(logs.String(), `"msg":"table not synced","table":"invoices"`) {
		t.Errorf("err %v, logs:\n%s", err, logs.String())
	}
	logs.Reset()
	if err := summarizeSync(log, []producer.PassResult{{Table: "users"}}, nil, false, time.Second); err != nil ||
		!strings.Contains(logs.String(), "sync finished") {
		t.Errorf("a clean sync: %v\n%s", err, logs.String())
	}
}
