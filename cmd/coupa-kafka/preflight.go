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
// schema registry and Coupa (a token and one list request per scope the
// tables need) answer. It returns every failure in one error, each naming
// the setting to check, so a first run with a wrong URL or secret fails fast
// and says which. It also returns the tables whose scope the client lacks:
// under COUPA_TABLES=all they are skipped; a table named in COUPA_TABLES
// without its scope is an error that names the scope to grant.
func preflight(ctx context.Context, f *Flags, kopts []kgo.Opt, rc *sr.Client, client *coupa.Client, tables []coupa.Table) (skipped []coupa.Table, err error) {
	checks := append(sharedChecks(f, kopts, rc), check{fmt.Sprintf("Coupa (COUPA_INSTANCE_URL=%s)", f.InstanceURL), func(ctx context.Context) error {
		granted, err := client.Granted(ctx, tables)
		if err != nil {
			return err
		}
		skipped = coupa.Missing(tables, granted)
		return scopeProblem(f.allTables(), tables, skipped)
	}})
	if err := runChecks(ctx, checks); err != nil {
		return nil, err
	}
	return skipped, nil
}

// preflightShared checks what every instance of a COUPA_CONFIG deployment
// needs, Kafka and the registry, before the process joins the group.
func preflightShared(ctx context.Context, f *Flags, kopts []kgo.Opt, rc *sr.Client) error {
	return runChecks(ctx, sharedChecks(f, kopts, rc))
}

// check is one startup check: what it checks (naming the setting) and how.
type check struct {
	what string
	run  func(context.Context) error
}

func sharedChecks(f *Flags, kopts []kgo.Opt, rc *sr.Client) []check {
	return []check{
		{fmt.Sprintf("Kafka (KAFKA_BROKERS=%s)", strings.Join(f.Brokers, ",")), func(ctx context.Context) error { return pingKafka(ctx, kopts) }},
		{fmt.Sprintf("schema registry (SCHEMA_REGISTRY_URL=%s)", f.RegistryURL), func(ctx context.Context) error {
			_, err := rc.Subjects(ctx)
			return err
		}},
	}
}

// runChecks runs the checks at once, within preflightTimeout together, and
// returns every failure in one error.
func runChecks(ctx context.Context, checks []check) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
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

// scopeProblem is the error of tables whose scope the client lacks: any,
// for tables named in COUPA_TABLES; all of them, under COUPA_TABLES=all
// (which otherwise skips them).
func scopeProblem(all bool, tables, missing []coupa.Table) error {
	if len(missing) == 0 || (all && len(missing) < len(tables)) {
		return nil
	}
	need := map[string][]string{}
	var scopes []string
	for _, t := range missing {
		if need[t.Scope] == nil {
			scopes = append(scopes, t.Scope)
		}
		need[t.Scope] = append(need[t.Scope], t.Name)
	}
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = fmt.Sprintf("%s (for %s)", s, strings.Join(need[s], ", "))
	}
	if all {
		return fmt.Errorf("the OAuth client has none of the catalog's scopes: grant at least one of %s in Coupa (Setup > OAuth2/OpenID Connect Clients)", strings.Join(parts, ", "))
	}
	return fmt.Errorf("the OAuth client lacks %s: grant them in Coupa (Setup > OAuth2/OpenID Connect Clients), or leave those tables out of COUPA_TABLES", strings.Join(parts, ", "))
}
