//go:build integration && testcontainers

package integration

// The Docker backend: where a Docker engine runs, `go test -tags
// integration,testcontainers ./integration/...` (KAFKA_BROKERS unset) runs
// the suite against one Redpanda container, which brings the Kafka API with
// transactions and a real (Confluent-compatible) schema registry. Without a
// Docker engine every test skips (testcontainers.SkipIfProviderIsNotHealthy).
// The extra tag keeps testcontainers-go out of the default integration
// build: go.mod needs github.com/testcontainers/testcontainers-go v0.45.0
// and .../modules/redpanda v0.44.0 for it.

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/redpanda"
)

// redpandaImage can be overridden with INTEGRATION_REDPANDA_IMAGE.
const redpandaImage = "docker.redpanda.com/redpandadata/redpanda:v25.2.4"

var (
	rpMu  sync.Mutex
	rp    *backend
	rpErr error
)

func init() { dockerBackend = redpandaBackend }

func redpandaBackend(t *testing.T) *backend {
	t.Helper()
	testcontainers.SkipIfProviderIsNotHealthy(t)
	rpMu.Lock()
	defer rpMu.Unlock()
	if rp == nil && rpErr == nil {
		image := redpandaImage
		if i := os.Getenv("INTEGRATION_REDPANDA_IMAGE"); i != "" {
			image = i
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := redpanda.Run(ctx, image)
		if c != nil {
			atExit(func() { _ = testcontainers.TerminateContainer(c) })
		}
		if err != nil {
			rpErr = err
		} else {
			seed, err := c.KafkaSeedBroker(ctx)
			if err != nil {
				rpErr = err
			}
			reg, err := c.SchemaRegistryAddress(ctx)
			if err != nil {
				rpErr = err
			}
			rp = &backend{name: "testcontainers " + image, brokers: []string{seed}, registryURL: reg}
		}
	}
	if rpErr != nil {
		t.Fatalf("starting Redpanda with testcontainers-go: %v", rpErr)
	}
	return rp
}
