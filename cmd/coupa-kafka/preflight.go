package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// preflightTimeout bounds the startup checks together: a dependency that is
// down is reported within seconds, not after minutes of retries. (A
// variable for the tests.)
var preflightTimeout = 20 * time.Second

// preflight checks, at once and before any table starts, that Kafka, the
// schema registry and Coupa (a token and one list request of the first
// table) answer. It returns every failure in one error, each naming the
// setting to check, so a first run with a wrong URL or secret fails fast and
// says which.
func preflight(ctx context.Context, f *Flags, kopts []kgo.Opt, rc *sr.Client, client *coupa.Client, first coupa.Table) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	checks := []struct {
		what string
		run  func(context.Context) error
	}{
		{fmt.Sprintf("Kafka (KAFKA_BROKERS=%s)", strings.Join(f.Brokers, ",")), func(ctx context.Context) error { return pingKafka(ctx, kopts) }},
		{fmt.Sprintf("schema registry (SCHEMA_REGISTRY_URL=%s)", f.RegistryURL), func(ctx context.Context) error {
			_, err := rc.Subjects(ctx)
			return err
		}},
		{fmt.Sprintf("Coupa (COUPA_INSTANCE_URL=%s)", f.InstanceURL), func(ctx context.Context) error {
			_, err := client.List(ctx, first, coupa.Query{Limit: 1, Fields: `["id","updated-at"]`})
			var scope *coupa.ScopeError
			if errors.As(err, &scope) {
				return nil // the instance and the credentials answer; that table reports its scope itself
			}
			return err
		}},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.run(ctx); err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
					err = fmt.Errorf("no answer within %v: %w", preflightTimeout, err)
				}
				errs[i] = fmt.Errorf("%s: %w", c.what, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
			return err
		}
		return fmt.Errorf("startup checks failed: %w", err)
	}
	return nil
}
