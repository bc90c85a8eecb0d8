package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/internal/trust"
)

// kafkaOpts turns the flags into franz-go connection options.
func (f *KafkaFlags) kafkaOpts(log *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(f.Brokers...),
		kgo.WithLogger(quietKafka{kslog.New(log.With("component", "kafka"))}),
	}
	if f.TLS {
		cfg, err := f.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}).DialContext))
	}
	switch strings.ToUpper(f.SASLMechanism) {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: f.SASLUsername, Pass: f.SASLPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: f.SASLUsername, Pass: f.SASLPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: f.SASLUsername, Pass: f.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("KAFKA_SASL_MECHANISM %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.SASLMechanism)
	}
	return opts, nil
}

// tlsConfig trusts KAFKA_TLS_CA_FILE when set, else the one rule of every
// TLS client here (internal/trust: system CAs plus SSL_CERT_FILE).
func (f *KafkaFlags) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.TLSCAFile == "" {
		pool, err := trust.Roots()
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.TLSCAFile != "" {
		pem, err := os.ReadFile(f.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE %s holds no PEM certificate", f.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if f.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.TLSCertFile, f.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE/KEY_FILE: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// registryClient connects to the schema registry, trusting what every TLS
// client here trusts (internal/trust): before, SSL_CERT_FILE replaced the
// system CAs for the registry, so a registry with a public certificate
// failed as soon as a private CA was added for Coupa.
func (f *KafkaFlags) registryClient() (*sr.Client, error) {
	hc, err := coupa.DefaultHTTPClient()
	if err != nil {
		return nil, err
	}
	opts := []sr.ClientOpt{sr.URLs(f.RegistryURL), sr.UserAgent("coupa-kafka/" + version), sr.HTTPClient(hc)}
	if f.RegistryUsername != "" {
		opts = append(opts, sr.BasicAuth(f.RegistryUsername, f.RegistryPassword))
	}
	return sr.NewClient(opts...)
}

// pingKafka checks that the brokers answer (for /readyz).
func pingKafka(ctx context.Context, opts []kgo.Opt) error {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(ctx)
}

// quietKafka logs franz-go's info lines at debug. franz-go narrates every
// transaction at info (begin, flush, "ending transaction", "end transaction
// response successfully received"), which buried the one line per table and
// pass that a healthy run logs; its warnings and errors keep their level.
type quietKafka struct{ kgo.Logger }

// Log implements kgo.Logger.
func (q quietKafka) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo {
		level = kgo.LogLevelDebug
	}
	q.Logger.Log(level, msg, keyvals...)
}
