// Package deploy_test checks the deployment files in deploy/: the Helm chart
// (rendered with helm when it is installed, skipped otherwise), the compose
// file, and the Kafka Connect sink configs (against schemas/avsc).
//
//	go test ./deploy/                    # run
//	go test ./deploy/ -run JDBC -update  # regenerate connect/jdbc-postgres/*.json
//	deploy/validate.sh                   # builds helm (+ compose-config if no compose), runs everything
package deploy_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/schemas"
)

var update = flag.Bool("update", false, "rewrite connect/jdbc-postgres/*.json from ../schemas/avsc")

const chartDir = "helm/coupa-kafka"

// ---------------------------------------------------------------- helm

// helmBinary finds helm: $HELM, then PATH, then the copy validate.sh builds.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	if cache != "" {
		h := filepath.Join(cache, "coupa-kafka", "bin", "helm-v3.22.0")
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	t.Skip("helm is not installed (not in PATH, $HELM unset, no cached build): chart tests skipped; deploy/validate.sh installs it")
	return ""
}

func helmTemplate(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", "t", chartDir, "--namespace", "spend"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), fmt.Errorf("helm template %v: %v: %s", args, err, errb.String())
	}
	return out.String(), nil
}

// byKind parses the rendered manifests and indexes them by kind.
func byKind(t *testing.T, rendered string) map[string]map[string]any {
	t.Helper()
	docs, err := parseYAMLDocs(rendered)
	if err != nil {
		t.Fatalf("parsing rendered chart: %v\n%s", err, rendered)
	}
	out := map[string]map[string]any{}
	for _, d := range docs {
		m, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("rendered document is not a mapping: %#v", d)
		}
		kind, _ := m["kind"].(string)
		if _, dup := out[kind]; dup {
			t.Fatalf("two %s documents rendered", kind)
		}
		out[kind] = m
	}
	return out
}

func envByName(t *testing.T, container any) map[string]map[string]any {
	t.Helper()
	env := map[string]map[string]any{}
	list, _ := dig(container, "env").([]any)
	for _, e := range list {
		m := e.(map[string]any)
		name := m["name"].(string)
		if _, dup := env[name]; dup {
			t.Errorf("env %s set twice", name)
		}
		env[name] = m
	}
	return env
}

func want(t *testing.T, what string, got, exp any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("%s = %v, want %v", what, got, exp)
	}
}

// TestHelmLint lints the chart with each ci/*-values.yaml (one instance,
// several instances), as validate.sh does.
func TestHelmLint(t *testing.T) {
	helm := helmBinary(t)
	files, err := filepath.Glob(chartDir + "/ci/*-values.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("want ci/test-values.yaml and ci/instances-values.yaml, got %v (%v)", files, err)
	}
	for _, f := range files {
		out, err := exec.Command(helm, "lint", "--strict", chartDir, "-f", f).CombinedOutput()
		if err != nil {
			t.Errorf("helm lint -f %s: %v\n%s", f, err, out)
		}
	}
}

func TestHelmChartRendersEssentials(t *testing.T) {
	helm := helmBinary(t)
	secrets := map[string]string{
		"coupa.clientId":          "sentinel-client-id-7f3a",
		"coupa.clientSecret":      "sentinel-client-secret-91bd",
		"kafka.sasl.password":     "sentinel-sasl-password-c2e8",
		"schemaRegistry.password": "sentinel-registry-password-44d0",
	}
	args := []string{"-f", chartDir + "/ci/test-values.yaml"}
	for k, v := range secrets {
		args = append(args, "--set", k+"="+v)
	}
	rendered, err := helmTemplate(t, helm, args...)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secrets {
		if strings.Contains(rendered, v) {
			t.Errorf("the value of %s appears in plain text in the rendered chart", k)
		}
	}
	docs := byKind(t, rendered)
	for _, k := range []string{"Deployment", "Secret", "Service", "ServiceAccount", "ServiceMonitor", "PodDisruptionBudget"} {
		if docs[k] == nil {
			t.Fatalf("no %s rendered; got %v", k, keys(docs))
		}
	}
	// One instance from coupa.*: no instances file.
	if docs["ConfigMap"] != nil {
		t.Error("a ConfigMap (the COUPA_CONFIG file) is rendered without instances")
	}

	// Secret: every sensitive value is there, base64 encoded.
	sec := docs["Secret"]
	secretName := dig(sec, "metadata", "name").(string)
	for key, v := range map[string]string{
		"COUPA_CLIENT_ID":          secrets["coupa.clientId"],
		"COUPA_CLIENT_SECRET":      secrets["coupa.clientSecret"],
		"KAFKA_SASL_PASSWORD":      secrets["kafka.sasl.password"],
		"SCHEMA_REGISTRY_PASSWORD": secrets["schemaRegistry.password"],
	} {
		enc, _ := dig(sec, "data", key).(string)
		dec, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || string(dec) != v {
			t.Errorf("Secret data %s = %q (decoded %q), want base64 of the given value", key, enc, dec)
		}
	}

	dep := docs["Deployment"]
	// Replicas join one consumer group (one owner per instance), so two
	// replicas and a rolling update are the defaults.
	want(t, "replicas", dig(dep, "spec", "replicas"), 2)
	want(t, "strategy", dig(dep, "spec", "strategy", "type"), "RollingUpdate")
	want(t, "maxSurge", dig(dep, "spec", "strategy", "rollingUpdate", "maxSurge"), 1)
	want(t, "maxUnavailable", dig(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"), 0)
	pod := dig(dep, "spec", "template", "spec")
	containers, _ := dig(pod, "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("want 1 container, got %d", len(containers))
	}
	c := containers[0]
	want(t, "args", dig(c, "args"), []any{"run"})
	want(t, "container port name", dig(c, "ports", 0, "name"), "http")
	want(t, "container port", dig(c, "ports", 0, "containerPort"), 8080)
	want(t, "liveness path", dig(c, "livenessProbe", "httpGet", "path"), "/healthz")
	want(t, "liveness port", dig(c, "livenessProbe", "httpGet", "port"), "http")
	want(t, "readiness path", dig(c, "readinessProbe", "httpGet", "path"), "/readyz")
	want(t, "readiness port", dig(c, "readinessProbe", "httpGet", "port"), "http")
	want(t, "requests.cpu", dig(c, "resources", "requests", "cpu"), "100m")
	want(t, "requests.memory", dig(c, "resources", "requests", "memory"), "128Mi")
	want(t, "limits.memory", dig(c, "resources", "limits", "memory"), "256Mi")

	sc := dig(c, "securityContext")
	want(t, "readOnlyRootFilesystem", dig(sc, "readOnlyRootFilesystem"), true)
	want(t, "runAsNonRoot", dig(sc, "runAsNonRoot"), true)
	want(t, "allowPrivilegeEscalation", dig(sc, "allowPrivilegeEscalation"), false)
	want(t, "capabilities.drop", dig(sc, "capabilities", "drop"), []any{"ALL"})
	want(t, "seccompProfile", dig(sc, "seccompProfile", "type"), "RuntimeDefault")
	want(t, "pod runAsNonRoot", dig(pod, "securityContext", "runAsNonRoot"), true)
	want(t, "pod seccompProfile", dig(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault")
	want(t, "pod automountServiceAccountToken", dig(pod, "automountServiceAccountToken"), false)

	ann := dig(dep, "spec", "template", "metadata", "annotations")
	want(t, "prometheus.io/scrape", dig(ann, "prometheus.io/scrape"), "true")
	want(t, "prometheus.io/port", dig(ann, "prometheus.io/port"), "8080")
	want(t, "prometheus.io/path", dig(ann, "prometheus.io/path"), "/metrics")

	env := envByName(t, c)
	for _, name := range []string{"COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET", "KAFKA_SASL_PASSWORD", "SCHEMA_REGISTRY_PASSWORD"} {
		e := env[name]
		if e == nil {
			t.Errorf("env %s missing", name)
			continue
		}
		if _, plain := e["value"]; plain {
			t.Errorf("env %s has a plain value; it must come from a secretKeyRef", name)
		}
		want(t, name+" secretKeyRef.name", dig(e, "valueFrom", "secretKeyRef", "name"), secretName)
		want(t, name+" secretKeyRef.key", dig(e, "valueFrom", "secretKeyRef", "key"), name)
	}
	for name, v := range map[string]string{
		"COUPA_INSTANCE_URL":   "https://example.coupahost.com",
		"KAFKA_BROKERS":        "kafka-0.kafka:9093,kafka-1.kafka:9093",
		"SCHEMA_REGISTRY_URL":  "https://schema-registry.kafka:8081",
		"KAFKA_TLS":            "true",
		"KAFKA_TLS_CA_FILE":    "/etc/coupa-kafka/kafka-tls/ca.crt",
		"KAFKA_TLS_CERT_FILE":  "/etc/coupa-kafka/kafka-tls/tls.crt",
		"KAFKA_TLS_KEY_FILE":   "/etc/coupa-kafka/kafka-tls/tls.key",
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME":  "coupa-kafka",
		"COUPA_HTTP_ADDR":      ":8080",
		// The group: the binary's default id, a 10 s session timeout.
		"COUPA_GROUP_SESSION_TIMEOUT": "10s",
	} {
		want(t, "env "+name, dig(env[name], "value"), v)
	}
	// Exactly the variables of the one-instance mode: COUPA_GROUP only when
	// group.id is set, no COUPA_CONFIG (it excludes COUPA_INSTANCE_URL).
	want(t, "env names", keys(env), []string{
		"COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET", "COUPA_GROUP_SESSION_TIMEOUT", "COUPA_HTTP_ADDR", "COUPA_INSTANCE_URL",
		"COUPA_LOG_FORMAT", "COUPA_LOG_LEVEL", "COUPA_LOOKBACK", "COUPA_OFFSETS_TOPIC", "COUPA_POLL_BUDGET", "COUPA_POLL_INTERVAL",
		"COUPA_POLL_MIN", "COUPA_RATE_LIMIT", "COUPA_TOPIC_PREFIX",
		"KAFKA_BROKERS", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_USERNAME", "KAFKA_TLS", "KAFKA_TLS_CA_FILE",
		"KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE", "KAFKA_TOPIC_PARTITIONS", "KAFKA_TOPIC_REPLICATION_FACTOR",
		"SCHEMA_REGISTRY_PASSWORD", "SCHEMA_REGISTRY_URL", "SCHEMA_REGISTRY_USERNAME",
	})
	// Every env var is a plain value or a secretKeyRef; no secret-looking
	// name carries a plain value.
	for name, e := range env {
		if _, plain := e["value"]; plain && regexp.MustCompile(`SECRET|PASSWORD|TOKEN`).MatchString(name) {
			t.Errorf("env %s carries a plain value", name)
		}
	}
	// The TLS secret is mounted where the env vars point.
	var mounted bool
	for _, v := range dig(pod, "volumes").([]any) {
		if dig(v, "name") == "kafka-tls" {
			want(t, "kafka-tls secretName", dig(v, "secret", "secretName"), "coupa-kafka-tls")
			mounted = true
		}
	}
	if !mounted {
		t.Error("no kafka-tls volume")
	}
	var mountedAt string
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "name") == "kafka-tls" {
			mountedAt, _ = dig(m, "mountPath").(string)
			want(t, "kafka-tls readOnly", dig(m, "readOnly"), true)
		}
	}
	want(t, "kafka-tls mountPath", mountedAt, "/etc/coupa-kafka/kafka-tls")

	svc := docs["Service"]
	want(t, "service port name", dig(svc, "spec", "ports", 0, "name"), "http")
	want(t, "service targetPort", dig(svc, "spec", "ports", 0, "targetPort"), "http")
	want(t, "service selector", dig(svc, "spec", "selector"), dig(dep, "spec", "selector", "matchLabels"))
	sm := docs["ServiceMonitor"]
	want(t, "ServiceMonitor path", dig(sm, "spec", "endpoints", 0, "path"), "/metrics")
	want(t, "ServiceMonitor port", dig(sm, "spec", "endpoints", 0, "port"), "http")
}

func TestHelmChartExistingSecret(t *testing.T) {
	helm := helmBinary(t)
	rendered, err := helmTemplate(t, helm,
		"--set", "image.repository=registry.example.com/coupa-kafka",
		"--set", "coupa.instanceUrl=https://acme.coupahost.com",
		"--set", "kafka.brokers[0]=b-1.kafka:9092",
		"--set", "schemaRegistry.url=http://sr:8081",
		"--set", "schemaRegistry.username=reader",
		"--set", "existingSecret=coupa-oauth")
	if err != nil {
		t.Fatal(err)
	}
	docs := byKind(t, rendered)
	if docs["Secret"] != nil {
		t.Error("a Secret is rendered although existingSecret is set")
	}
	if docs["ServiceMonitor"] != nil {
		t.Error("ServiceMonitor rendered although serviceMonitor.enabled is false by default")
	}
	c := dig(docs["Deployment"], "spec", "template", "spec", "containers", 0)
	env := envByName(t, c)
	for _, name := range []string{"COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET", "SCHEMA_REGISTRY_PASSWORD"} {
		want(t, name+" secret", dig(env[name], "valueFrom", "secretKeyRef", "name"), "coupa-oauth")
	}
	want(t, "registry password optional", dig(env["SCHEMA_REGISTRY_PASSWORD"], "valueFrom", "secretKeyRef", "optional"), true)
	for _, name := range []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_PASSWORD", "KAFKA_TLS_CA_FILE"} {
		if env[name] != nil {
			t.Errorf("env %s set without SASL/TLS configured", name)
		}
	}
	want(t, "KAFKA_TLS", dig(env["KAFKA_TLS"], "value"), "false")
}

func TestHelmChartRefusesIncompleteValues(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"-f", chartDir + "/ci/test-values.yaml"}
	for _, tc := range []struct {
		set, msg string
	}{
		{"image.repository=", "image.repository is required: no coupa-kafka image is published"},
		{"coupa.instanceUrl=", "coupa.instanceUrl is required"},
		{"kafka.brokers=null", "kafka.brokers is required"},
		{"schemaRegistry.url=", "schemaRegistry.url is required"},
		{"coupa.clientSecret=", "coupa.clientSecret"},
		{"kafka.sasl.mechanism=GSSAPI", "use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{"kafka.sasl.password=", "kafka.sasl.password is required"},
	} {
		out, err := helmTemplate(t, helm, append(base, "--set", tc.set)...)
		if err == nil {
			t.Errorf("--set %s: rendered, want failure %q", tc.set, tc.msg)
			continue
		}
		if !strings.Contains(out, tc.msg) {
			t.Errorf("--set %s: error %q does not say %q", tc.set, out, tc.msg)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ------------------------------------------------------------- compose

func readCompose(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return v.(map[string]any)
}

func TestComposeFileStatic(t *testing.T) {
	c := readCompose(t)
	services, _ := c["services"].(map[string]any)
	for _, s := range []string{"kafka", "schema-registry", "coupa-kafka", "postgres", "connect", "connect-init", "prometheus", "grafana"} {
		if services[s] == nil {
			t.Errorf("service %s missing", s)
		}
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9][A-Za-z0-9._-]*$`)
	for name, s := range services {
		img, _ := dig(s, "image").(string)
		if dig(s, "build") != nil {
			continue // built locally from ../Dockerfile
		}
		if !pinned.MatchString(img) {
			t.Errorf("service %s: image %q is not pinned to a version tag", name, img)
		}
	}
	want(t, "kafka image", dig(services, "kafka", "image"), "apache/kafka:4.1.1")
	kenv := dig(services, "kafka", "environment")
	want(t, "KAFKA_PROCESS_ROLES", dig(kenv, "KAFKA_PROCESS_ROLES"), "broker,controller")
	want(t, "transaction log RF", dig(kenv, "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"), 1)
	want(t, "transaction log min ISR", dig(kenv, "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"), 1)
	if id, _ := dig(kenv, "CLUSTER_ID").(string); len(id) != 22 {
		t.Errorf("CLUSTER_ID %q is not a 22-character base64 UUID", id)
	}

	ck := dig(services, "coupa-kafka")
	want(t, "coupa-kafka build context", dig(ck, "build", "context"), "..")
	want(t, "coupa-kafka command", dig(ck, "command"), []any{"run"})
	want(t, "coupa-kafka env_file", dig(ck, "env_file"), []any{".env"})
	for k := range dig(ck, "environment").(map[string]any) {
		if regexp.MustCompile(`SECRET|PASSWORD`).MatchString(k) {
			t.Errorf("coupa-kafka environment sets %s in the compose file; secrets belong in .env", k)
		}
	}
	cenv := dig(services, "connect", "environment")
	want(t, "override policy", dig(cenv, "CONNECT_CONNECTOR_CLIENT_CONFIG_OVERRIDE_POLICY"), "All")
	if s, _ := dig(services, "connect", "command", 2).(string); !strings.Contains(s, "confluent-hub install --no-prompt confluentinc/kafka-connect-jdbc:10.") {
		t.Errorf("connect does not install a pinned JDBC connector: %q", s)
	}

	// .env is ignored, .env.example is not.
	gi, err := os.ReadFile(".gitignore")
	if err != nil || !regexp.MustCompile(`(?m)^\.env$`).Match(gi) {
		t.Errorf("deploy/.gitignore must list .env (err %v)", err)
	}
	ex, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"COUPA_INSTANCE_URL=", "COUPA_CLIENT_ID=", "COUPA_CLIENT_SECRET=", "POSTGRES_PASSWORD="} {
		if !strings.Contains(string(ex), "\n"+v) {
			t.Errorf(".env.example lacks %s", v)
		}
	}
}

// composeCommand finds a compose command: $COUPA_COMPOSE_CONFIG (set by
// validate.sh when it uses its compose-config build), docker-compose v1, the
// docker compose plugin, then the compose-config build validate.sh caches.
func composeCommand() []string {
	if p := os.Getenv("COUPA_COMPOSE_CONFIG"); p != "" {
		return []string{p}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil {
			return []string{p, "compose"}
		}
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	if cache != "" {
		// validate.sh keeps one build, named after compose-go's version and
		// the hash of compose-config/main.go.
		m, _ := filepath.Glob(filepath.Join(cache, "coupa-kafka", "bin", "compose-config-v*"))
		for _, p := range slices.Backward(m) {
			if !strings.HasSuffix(p, ".tmp") {
				return []string{p}
			}
		}
	}
	return nil
}

// TestComposeConfig runs `docker-compose config` (no engine needed) on a copy
// of deploy/ with .env made from .env.example, so a real .env is never read.
func TestComposeConfig(t *testing.T) {
	cc := composeCommand()
	if cc == nil {
		t.Skip("neither docker-compose, the docker compose plugin nor validate.sh's compose-config build is there: compose config check skipped; deploy/validate.sh builds compose-config")
	}
	root := t.TempDir()
	dst := filepath.Join(root, "deploy")
	if err := os.CopyFS(dst, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dst, ".env"))
	ex, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, ".env"), ex, 0o600); err != nil {
		t.Fatal(err)
	}
	// The build context ".." must exist with a Dockerfile in it.
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(cc[1:], "-f", filepath.Join(dst, "docker-compose.yaml"), "--project-directory", dst, "config")
	cmd := exec.Command(cc[0], args...)
	cmd.Dir = dst
	cmd.Env = cleanComposeEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(cc, " "), err, out)
	}
	// replicas: 2 is ${COUPA_KAFKA_REPLICAS:-2} resolved (two coupa-kafka
	// replicas in one group), and their host port range with it.
	for _, s := range []string{"apache/kafka:4.1.1", "POSTGRES_PASSWORD: change-me-local-only", "COUPA_CLIENT_SECRET: replace-me", "replicas: 2", "8090-8099"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("compose config output lacks %q:\n%s", s, out)
		}
	}
	// The secret-less run must fail with the message of ${POSTGRES_PASSWORD:?}.
	os.Remove(filepath.Join(dst, ".env"))
	cmd = exec.Command(cc[0], args...)
	cmd.Dir = dst
	cmd.Env = cleanComposeEnv()
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("compose config passed without deploy/.env:\n%s", out)
	}
}

// cleanComposeEnv drops variables that would change what compose resolves.
func cleanComposeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "COMPOSE_") || strings.HasPrefix(k, "COUPA_") || strings.HasPrefix(k, "POSTGRES_") || strings.HasPrefix(k, "DOCKER_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ------------------------------------------------------ connect configs

func connectConfigs(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := filepath.WalkDir("connect", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		if dec.More() {
			return fmt.Errorf("%s: trailing data", p)
		}
		out[p] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no connector configs in connect/")
	}
	return out
}

func TestConnectorConfigs(t *testing.T) {
	classes := map[string]bool{}
	for p, m := range connectConfigs(t) {
		for k, v := range m {
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s is %T; Connect configs are strings", p, k, v)
			}
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		if s("name") != strings.TrimSuffix(filepath.Base(p), ".json") {
			t.Errorf("%s: name %q differs from the file name (apply.sh PUTs by file name)", p, s("name"))
		}
		if s("connector.class") == "" {
			t.Errorf("%s: no connector.class", p)
		}
		classes[s("connector.class")] = true
		want(t, p+" isolation", s("consumer.override.isolation.level"), "read_committed")
		want(t, p+" key.converter", s("key.converter"), "org.apache.kafka.connect.storage.StringConverter")
		if !strings.Contains(s("value.converter"), "AvroConverter") {
			t.Errorf("%s: value.converter %q is no Avro converter", p, s("value.converter"))
		}
		if s("value.converter.schema.registry.url") == "" {
			t.Errorf("%s: no value.converter.schema.registry.url", p)
		}
		switch {
		case s("topics.regex") != "":
			re, err := regexp.Compile("^(?:" + s("topics.regex") + ")$")
			if err != nil {
				t.Errorf("%s: topics.regex: %v", p, err)
				break
			}
			for _, topic := range []string{"coupa.invoices", "coupa.expense_reports"} {
				if !re.MatchString(topic) {
					t.Errorf("%s: topics.regex %q misses %s", p, s("topics.regex"), topic)
				}
			}
			for _, topic := range []string{"coupa-offsets", "coupainvoices", "_schemas"} {
				if re.MatchString(topic) {
					t.Errorf("%s: topics.regex %q matches %s", p, s("topics.regex"), topic)
				}
			}
		case s("topics") == "":
			t.Errorf("%s: neither topics nor topics.regex", p)
		}
		for k, v := range m {
			if sv, _ := v.(string); regexp.MustCompile(`(?i)password|secret|private.key`).MatchString(k) && sv != "" && !strings.HasPrefix(sv, "${") {
				t.Errorf("%s: %s holds a literal secret; use a config provider reference", p, k)
			}
		}
	}
	for _, c := range []string{
		"io.confluent.connect.jdbc.JdbcSinkConnector",
		"io.confluent.connect.s3.S3SinkConnector",
		"com.snowflake.kafka.connector.SnowflakeSinkConnector",
		"com.wepay.kafka.connect.bigquery.BigQuerySinkConnector",
	} {
		if !classes[c] {
			t.Errorf("no config for %s", c)
		}
	}
}

// ------------------------------------------------- JDBC column selection

// The JDBC sink writes flat rows of primitive columns: it refuses STRUCT,
// ARRAY and MAP fields. The Postgres configs therefore keep, per table, the
// top-level scalar fields (numbers, strings, booleans, decimals,
// timestamps), the associations (records), flattened into <assoc>_<field>
// columns by Kafka's Flatten SMT, and the typed custom fields (the "custom"
// record that schema evolution adds after custom_fields, flattened into
// custom_<field> and custom_<lookup>_<id|name|...> columns). They leave out
// lines (arrays of records), custom_fields and extra (maps) and the fields
// schema evolution promotes out of extra: `pick` (ReplaceField include)
// names the top-level fields, and `drop` (ReplaceField exclude, after
// Flatten) names the flattened columns that are no column (an array or a
// map inside an association, a name over Postgres' 63 bytes).
//
// There is no fields.whitelist: it would have to name every column in
// advance, and the custom_* columns only appear when a new schema version
// brings them (auto.evolve adds them then). Without it, the columns are
// whatever pick + flatten + drop leave, so the generator checks what makes
// that safe: no picked association can evolve (none has custom_fields), so
// a new version changes the columns through `custom` alone, whose fields
// are scalars and records of scalars (TestJDBCPostgresTakesLearnedCustomFields
// runs the chain on learned schemas).
//
// This test computes the lists from schemas/avsc and compares them with
// connect/jdbc-postgres/*.json; -update rewrites the files.

// The eight tables and the four line topics.
var tables = []string{"invoices", "purchase_orders", "requisitions", "suppliers", "contracts", "expense_reports", "users", "approvals",
	"invoice_lines", "purchase_order_lines", "requisition_lines", "expense_lines"}

// customView is the field schema evolution adds, right after custom_fields,
// to every record that has custom_fields (schemas/learn.go).
const customView = "custom"

type avroSchemaSet struct {
	named map[string]map[string]any
}

func newSchemaSet(top map[string]any) *avroSchemaSet {
	s := &avroSchemaSet{named: map[string]map[string]any{}}
	s.register(top, "")
	return s
}

func (s *avroSchemaSet) register(v any, ns string) {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			s.register(x, ns)
		}
	case map[string]any:
		typ, _ := v["type"].(string)
		if name, ok := v["name"].(string); ok && (typ == "record" || typ == "enum" || typ == "fixed") {
			full := name
			if n, ok := v["namespace"].(string); ok && !strings.Contains(name, ".") {
				full = n + "." + name
			} else if !strings.Contains(name, ".") && ns != "" {
				full = ns + "." + name
			}
			s.named[full] = v
			if i := strings.LastIndex(full, "."); i >= 0 {
				ns = full[:i]
			}
		}
		if fs, ok := v["fields"].([]any); ok {
			for _, f := range fs {
				s.register(f.(map[string]any)["type"], ns)
			}
		}
		if it, ok := v["items"]; ok {
			s.register(it, ns)
		}
		if vs, ok := v["values"]; ok {
			s.register(vs, ns)
		}
		if _, ok := v["type"].(map[string]any); ok {
			s.register(v["type"], ns)
		}
	}
}

// resolve returns the non-null branch of a field type with named types
// looked up (nil for a real union), and whether null was a branch.
func (s *avroSchemaSet) resolve(t any) (typ any, optional bool, err error) {
	for {
		switch tt := t.(type) {
		case []any:
			var branches []any
			for _, b := range tt {
				if b == "null" {
					optional = true
				} else {
					branches = append(branches, b)
				}
			}
			if len(branches) != 1 {
				return nil, optional, nil // a real union: not a column
			}
			t = branches[0]
		case string:
			switch tt {
			case "long", "int", "string", "boolean", "double", "float", "bytes", "null":
				return tt, optional, nil
			}
			n, ok := s.named[tt]
			if !ok {
				return nil, optional, fmt.Errorf("unknown type %q", tt)
			}
			return n, optional, nil
		case map[string]any:
			if inner, ok := tt["type"].(map[string]any); ok {
				t = inner
				continue
			}
			if inner, ok := tt["type"].([]any); ok {
				t = inner
				continue
			}
			return tt, optional, nil
		default:
			return nil, optional, fmt.Errorf("bad type %#v", t)
		}
	}
}

// kind is "scalar", "record" (with the record), "complex" (array/map) for
// the non-null branch of a field type.
func (s *avroSchemaSet) kind(t any) (string, map[string]any, error) {
	r, _, err := s.resolve(t)
	if err != nil {
		return "", nil, err
	}
	switch r := r.(type) {
	case nil:
		return "complex", nil, nil
	case string:
		return "scalar", nil, nil
	case map[string]any:
		switch r["type"] {
		case "record":
			return "record", r, nil
		case "array", "map":
			return "complex", nil, nil
		}
		return "scalar", nil, nil // enum, fixed, a logical type
	}
	return "", nil, fmt.Errorf("bad type %#v", t)
}

// flatten lists the columns Flatten makes of a field (all of them, for the
// duplicate check) and the scalar ones.
func (s *avroSchemaSet) flatten(prefix string, t any, depth int) (all, scalars []string, err error) {
	k, rec, err := s.kind(t)
	if err != nil {
		return nil, nil, err
	}
	switch k {
	case "scalar":
		return []string{prefix}, []string{prefix}, nil
	case "complex":
		return []string{prefix}, nil, nil
	}
	if depth > 4 {
		return nil, nil, fmt.Errorf("%s: records nested too deep for Flatten", prefix)
	}
	for _, f := range rec["fields"].([]any) {
		fm := f.(map[string]any)
		a, sc, err := s.flatten(prefix+"_"+fm["name"].(string), fm["type"], depth+1)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, a...)
		scalars = append(scalars, sc...)
	}
	return all, scalars, nil
}

// evolvable finds a record with custom_fields in t (at any depth): schema
// evolution may add fields to it.
func (s *avroSchemaSet) evolvable(t any, depth int) (string, error) {
	k, rec, err := s.kind(t)
	if err != nil || k != "record" || depth > 8 {
		return "", err
	}
	for _, f := range rec["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["name"] == "custom_fields" {
			return rec["name"].(string), nil
		}
		if n, err := s.evolvable(fm["type"], depth+1); n != "" || err != nil {
			return n, err
		}
	}
	return "", nil
}

type jdbcColumns struct {
	pick, renames, columns, skipped []string
	// drop are the flattened columns that are no SQL column: an array or a
	// map inside a picked association, a name longer than 63 bytes.
	drop []string
	// custom: the record has custom_fields, so pick keeps its typed view
	// (custom) too, once a schema version has one.
	custom bool
	// reserved are columns named like a flattened custom field
	// (custom_<name>): a custom field of that name would clash.
	reserved []string
}

func clash(names []string, seen map[string]bool) string {
	for _, c := range names {
		if seen[c] {
			return c
		}
	}
	return ""
}

func jdbcColumnsFor(table string) (jdbcColumns, error) {
	var out jdbcColumns
	b, err := os.ReadFile(filepath.Join("..", "schemas", "avsc", table+".avsc"))
	if err != nil {
		return out, err
	}
	var top map[string]any
	if err := json.Unmarshal(b, &top); err != nil {
		return out, err
	}
	set := newSchemaSet(top)
	seen := map[string]bool{}
	fields := top["fields"].([]any)
	// Top-level scalars first: they always win a name clash.
	for _, f := range fields {
		fm := f.(map[string]any)
		name := fm["name"].(string)
		if name == customView {
			return out, fmt.Errorf("%s: a generated field is named %q, the name of the typed custom fields", table, customView)
		}
		if name == "custom_fields" {
			out.custom = true
		}
		k, _, err := set.kind(fm["type"])
		if err != nil {
			return out, fmt.Errorf("%s.%s: %v", table, name, err)
		}
		if k == "scalar" && slices.Contains(schemas.Credentials[table], name) {
			out.skipped = append(out.skipped, name+" (a credential: coupa-kafka never publishes it)")
			continue
		}
		if k == "scalar" {
			if len(name) > 63 {
				out.skipped = append(out.skipped, name+" (name longer than 63 bytes)")
				continue
			}
			seen[name] = true
			out.pick = append(out.pick, name)
			out.columns = append(out.columns, name)
		}
	}
	for _, f := range fields {
		fm := f.(map[string]any)
		name := fm["name"].(string)
		k, _, _ := set.kind(fm["type"])
		if k != "record" {
			continue
		}
		if rec, err := set.evolvable(fm["type"], 0); err != nil || rec != "" {
			// Its columns could change with every schema version, maps
			// included: the configs would need fields.whitelist again.
			return out, fmt.Errorf("%s.%s: the association %s has custom_fields, so schema evolution can add fields to it (%v)", table, name, rec, err)
		}
		all, scalars, err := set.flatten(name, fm["type"], 0)
		if err != nil {
			return out, fmt.Errorf("%s.%s: %v", table, name, err)
		}
		if c := clash(all, seen); c != "" {
			// e.g. invoices.currency{id,code} vs the top-level currency_id:
			// rename the association to <name>_ref before flattening.
			ref := name + "_ref"
			all, scalars, err = set.flatten(ref, fm["type"], 0)
			if err != nil {
				return out, err
			}
			if c2 := clash(all, seen); c2 != "" || seen[ref] {
				out.skipped = append(out.skipped, fmt.Sprintf("%s (flattened column %s clashes with a field)", name, c))
				continue
			}
			out.renames = append(out.renames, name+":"+ref)
		}
		for _, c := range all {
			seen[c] = true
		}
		out.pick = append(out.pick, name)
		for _, c := range all {
			switch {
			case !slices.Contains(scalars, c):
				out.drop = append(out.drop, c) // an array or a map: no column
			case len(c) > 63:
				out.drop = append(out.drop, c)
				out.skipped = append(out.skipped, c+" (name longer than 63 bytes)")
			default:
				out.columns = append(out.columns, c)
			}
		}
	}
	if out.custom {
		out.pick = append(out.pick, customView)
		for c := range seen {
			if strings.HasPrefix(c, customView+"_") {
				out.reserved = append(out.reserved, c)
			}
		}
		sort.Strings(out.reserved)
	}
	return out, nil
}

func jdbcConfig(table string, cols jdbcColumns) map[string]string {
	m := jdbcBaseConfig(table, cols)
	if len(cols.renames) > 0 {
		m["transforms.pick.renames"] = strings.Join(cols.renames, ",")
	}
	if len(cols.drop) > 0 {
		m["transforms"] += ",drop"
		m["transforms.drop.type"] = "org.apache.kafka.connect.transforms.ReplaceField$Value"
		m["transforms.drop.exclude"] = strings.Join(cols.drop, ",")
		m["transforms.drop.predicate"] = "isTombstone"
		m["transforms.drop.negate"] = "true"
	}
	return m
}

func jdbcBaseConfig(table string, cols jdbcColumns) map[string]string {
	return map[string]string{
		"name":                                "coupa-postgres-" + table,
		"connector.class":                     "io.confluent.connect.jdbc.JdbcSinkConnector",
		"tasks.max":                           "1",
		"topics":                              "coupa." + table,
		"connection.url":                      "jdbc:postgresql://postgres:5432/coupa",
		"connection.user":                     "coupa",
		"connection.password":                 "${env:POSTGRES_PASSWORD}",
		"dialect.name":                        "PostgreSqlDatabaseDialect",
		"insert.mode":                         "upsert",
		"pk.mode":                             "record_key",
		"pk.fields":                           "id",
		"delete.enabled":                      "true",
		"auto.create":                         "true",
		"auto.evolve":                         "true",
		"db.timezone":                         "UTC",
		"key.converter":                       "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":                     "io.confluent.connect.avro.AvroConverter",
		"value.converter.schema.registry.url": "http://schema-registry:8081",
		"consumer.override.isolation.level":   "read_committed",
		"consumer.override.auto.offset.reset": "earliest",
		"transforms":                          "keyToLong,pick,flatten",
		"transforms.keyToLong.type":           "org.apache.kafka.connect.transforms.Cast$Key",
		"transforms.keyToLong.spec":           "int64",
		"transforms.pick.type":                "org.apache.kafka.connect.transforms.ReplaceField$Value",
		"transforms.pick.include":             strings.Join(cols.pick, ","),
		"transforms.pick.predicate":           "isTombstone",
		"transforms.pick.negate":              "true",
		"transforms.flatten.type":             "org.apache.kafka.connect.transforms.Flatten$Value",
		"transforms.flatten.delimiter":        "_",
		"transforms.flatten.predicate":        "isTombstone",
		"transforms.flatten.negate":           "true",
		"predicates":                          "isTombstone",
		"predicates.isTombstone.type":         "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
	}
}

func TestJDBCPostgresConfigsMatchSchemas(t *testing.T) {
	var report strings.Builder
	for _, table := range tables {
		cols, err := jdbcColumnsFor(table)
		if err != nil {
			t.Fatal(err)
		}
		if len(cols.columns) == 0 || cols.columns[0] != "id" {
			t.Fatalf("%s: columns do not start with id: %v", table, cols.columns)
		}
		for _, c := range []string{"created_at", "updated_at"} {
			if !contains(cols.columns, c) {
				t.Errorf("%s: no %s column", table, c)
			}
		}
		if !cols.custom {
			t.Errorf("%s: no custom_fields, so no typed custom fields as columns: every table and line topic has them", table)
		}
		exp := jdbcConfig(table, cols)
		path := filepath.Join("connect", "jdbc-postgres", exp["name"]+".json")
		fmt.Fprintf(&report, "%s: %d columns from %d fields (+ custom_* as learned); renamed: %v; dropped after flatten: %v; left out: %v; named like custom fields: %v\n",
			table, len(cols.columns), len(cols.pick)-1, cols.renames, cols.drop, cols.skipped, cols.reserved)
		if *update {
			b, err := json.MarshalIndent(exp, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./deploy -run JDBC -update writes it)", err)
		}
		var got map[string]string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k, v := range exp {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q (schemas changed? go test ./deploy -run JDBC -update)", path, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := exp[k]; !ok {
				t.Errorf("%s: unexpected key %s", path, k)
			}
		}
	}
	t.Log("\n" + report.String())
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
