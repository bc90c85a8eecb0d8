package coupa

import (
	"context"
	"errors"
	"sync"
)

// Granted reports, for each scope the tables need, whether the client may
// read it. Coupa's token answer does not list the scopes it carries, and an
// instance without per-object scopes takes none (see tokens), so the only
// reliable test is to read: one listing of one record, ids only, of the
// first table that needs each scope. A 403 means the scope is not granted;
// any other failure (credentials, the instance down) is returned, since it
// says nothing about scopes. At most eight scopes are tried at once, on the
// client's shared rate budget.
func (c *Client) Granted(ctx context.Context, tables []Table) (map[string]bool, error) {
	probe := map[string]Table{}
	for _, t := range tables {
		if _, ok := probe[t.Scope]; !ok {
			probe[t.Scope] = t
		}
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		errs    []error
		granted = make(map[string]bool, len(probe))
		slots   = make(chan struct{}, 8)
	)
	for scope, t := range probe {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			fields := `["id","updated-at"]`
			if !t.HasUpdatedAt() {
				fields = `["id"]`
			}
			_, err := c.List(ctx, t, Query{Limit: 1, Fields: fields})
			var refused *ScopeError
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !errors.As(err, &refused) {
				errs = append(errs, err)
				return
			}
			granted[scope] = err == nil
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0] // one is enough: the others are most likely the same
	}
	return granted, nil
}

// Missing returns the tables whose scope granted (from Granted) lacks.
func Missing(tables []Table, granted map[string]bool) []Table {
	var out []Table
	for _, t := range tables {
		if !granted[t.Scope] {
			out = append(out, t)
		}
	}
	return out
}
