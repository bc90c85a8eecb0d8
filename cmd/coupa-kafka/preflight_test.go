package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStartupChecks: with a dependency down or the credentials wrong, sync
// fails within the startup checks' bound, once, naming the setting to check
// for each failure, and describes a transport failure as one (no "HTTP 0").
func TestStartupChecks(t *testing.T) {
	preflightTimeout = 3 * time.Second
	defer func() { preflightTimeout = 20 * time.Second }()
	_, good := localWorld(t, map[string]int{"users": 10})
	good.Tables = []string{"users"}
	for _, tc := range []struct {
		name   string
		mod    func(*Flags)
		want   []string
		absent []string
	}{
		{"everything down", func(f *Flags) {
			f.Brokers, f.RegistryURL, f.InstanceURL = []string{"127.0.0.1:1"}, "http://127.0.0.1:1", "https://127.0.0.1:1"
		}, []string{"startup checks failed", "KAFKA_BROKERS=127.0.0.1:1", "SCHEMA_REGISTRY_URL=http://127.0.0.1:1", "COUPA_INSTANCE_URL=https://127.0.0.1:1", "transport error"}, []string{"HTTP 0"}},
		{"bad credentials", func(f *Flags) { f.ClientSecret = "wrong-secret-0451" },
			[]string{"COUPA_INSTANCE_URL", "COUPA_CLIENT_ID and COUPA_CLIENT_SECRET"}, []string{"wrong-secret-0451", "KAFKA_BROKERS", "SCHEMA_REGISTRY_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := good
			tc.mod(&f)
			start := time.Now()
			err := (&SyncCmd{Flags: f}).Run(context.Background())
			took := time.Since(start)
			if err == nil {
				t.Fatal("sync succeeded")
			}
			msg := oneLine(err)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(msg, a) {
					t.Errorf("error has %q:\n%s", a, msg)
				}
			}
			if took > preflightTimeout+5*time.Second {
				t.Errorf("sync took %v to fail; the startup checks are bounded by %v", took, preflightTimeout)
			}
			t.Logf("after %v: %s", took.Round(time.Millisecond), msg)
		})
	}
}
