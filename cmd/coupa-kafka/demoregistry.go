package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// The demo's schema registry is in memory, but its Kafka persists: values
// name schema ids, and a rerun must know them (to restore what a topic
// holds, and for any consumer to decode it), as a real registry keeps them
// in its _schemas topic. So the registered versions are saved in the data
// dir after each run and registered again, in id order, before the next.

// savedSchema is one registered version.
type savedSchema struct {
	ID      int    `json:"id"`
	Subject string `json:"subject"`
	Schema  string `json:"schema"`
}

func registryFile(dir string) string { return filepath.Join(dir, "registry.json") }

// loadRegistry registers the versions saved in dir; it fails when the
// registry would give one a different id (a data dir of another version).
func loadRegistry(reg *srfake.Registry, dir string) error {
	b, err := os.ReadFile(registryFile(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved []savedSchema
	if err := json.Unmarshal(b, &saved); err != nil {
		return fmt.Errorf("%s: %w (rerun with --fresh)", registryFile(dir), err)
	}
	sort.SliceStable(saved, func(i, j int) bool { return saved[i].ID < saved[j].ID })
	for _, s := range saved {
		id, _, err := reg.RegisterSchema(s.Subject, sr.Schema{Schema: s.Schema, Type: sr.TypeAvro})
		if err != nil {
			return fmt.Errorf("restoring the demo's schema registry: %w (rerun with --fresh)", err)
		}
		if id != s.ID {
			return fmt.Errorf("restoring the demo's schema registry: %s got id %d, not %d (rerun with --fresh)", s.Subject, id, s.ID)
		}
	}
	return nil
}

// saveRegistry writes every registered version of every subject to dir.
func saveRegistry(ctx context.Context, cl *sr.Client, dir string) error {
	subjects, err := cl.Subjects(ctx)
	if err != nil {
		return err
	}
	var saved []savedSchema
	for _, subject := range subjects {
		versions, err := cl.Schemas(ctx, subject)
		if err != nil {
			return err
		}
		for _, v := range versions {
			saved = append(saved, savedSchema{ID: v.ID, Subject: subject, Schema: v.Schema.Schema})
		}
	}
	b, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	tmp := registryFile(dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, registryFile(dir))
}
