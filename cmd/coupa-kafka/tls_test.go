package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaTLS connects to a kfake broker that requires mutual TLS with a
// private CA: with the CA and a client certificate it works; without the
// client certificate, or without the CA, it does not.
func TestKafkaTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "coupa-kafka test CA", true)
	server, serverKey := newCert(t, ca, caKey, "127.0.0.1", false)
	client, clientKey := newCert(t, ca, caKey, "coupa-kafka", false)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	certFile := writePEM(t, dir, "client.pem", "CERTIFICATE", client.Raw)
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	keyFile := writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey}},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	logs := LogFlags{LogLevel: "error", LogFormat: "text"}
	for name, tc := range map[string]struct {
		kf     KafkaFlags
		wantOK bool
	}{
		"ca and client cert": {KafkaFlags{TLS: true, TLSCAFile: caFile, TLSCertFile: certFile, TLSKeyFile: keyFile}, true},
		"no client cert":     {KafkaFlags{TLS: true, TLSCAFile: caFile}, false},
		"system roots only":  {KafkaFlags{TLS: true, TLSCertFile: certFile, TLSKeyFile: keyFile}, false},
	} {
		t.Run(name, func(t *testing.T) {
			tc.kf.Brokers = cluster.ListenAddrs()
			opts, err := tc.kf.kafkaOpts(logs.logger())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := pingKafka(ctx, opts); (err == nil) != tc.wantOK {
				t.Errorf("ping error %v", err)
			}
		})
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// At info, a transaction leaves no franz-go narration in the logs (begin,
// "ending transaction", "end transaction response"); its warnings would.
func TestKafkaInfoLinesAreDebug(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	for level, wantNarration := range map[slog.Level]bool{slog.LevelInfo: false, slog.LevelDebug: true} {
		var logs bytes.Buffer
		f := KafkaFlags{Brokers: cluster.ListenAddrs()}
		opts, err := f.kafkaOpts(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: level})))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.TransactionalID("tx-"+level.String()), kgo.DefaultProduceTopic("t"))...)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		if got := strings.Contains(logs.String(), "ending transaction"); got != wantNarration {
			t.Errorf("at %s, franz-go's transaction narration logged: %v, want %v:\n%s", level, got, wantNarration, logs.String())
		}
	}
}
