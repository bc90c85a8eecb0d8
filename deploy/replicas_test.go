package deploy_test

// Replicas in one consumer group and several Coupa instances (COUPA_CONFIG):
// the chart's replicas, rolling update, PodDisruptionBudget, group settings,
// the instances ConfigMap and its secrets by reference, NOTES.txt, and the
// compose file's replicas.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/instances"
)

const instancesValues = chartDir + "/ci/instances-values.yaml"

// renderedDocs parses the rendered manifests, in order.
func renderedDocs(t *testing.T, rendered string) []map[string]any {
	t.Helper()
	docs, err := parseYAMLDocs(rendered)
	if err != nil {
		t.Fatalf("parsing rendered chart: %v\n%s", err, rendered)
	}
	var out []map[string]any
	for _, d := range docs {
		m, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("rendered document is not a mapping: %#v", d)
		}
		out = append(out, m)
	}
	return out
}

// docsOfKind returns the rendered documents of one kind.
func docsOfKind(docs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		if d["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

func mustRender(t *testing.T, helm string, args ...string) []map[string]any {
	t.Helper()
	rendered, err := helmTemplate(t, helm, args...)
	if err != nil {
		t.Fatal(err)
	}
	return renderedDocs(t, rendered)
}

func only(t *testing.T, docs []map[string]any, kind string) map[string]any {
	t.Helper()
	d := docsOfKind(docs, kind)
	if len(d) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(d))
	}
	return d[0]
}

// matches reports whether every label of selector is on labels.
func matches(selector, labels any) bool {
	sel, _ := selector.(map[string]any)
	lab, _ := labels.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if fmt.Sprint(lab[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// The defaults: two replicas, RollingUpdate that never takes a pod down
// before its replacement is ready, a PodDisruptionBudget (maxUnavailable 1)
// that selects exactly the Deployment's pods, replicas spread over nodes,
// and the group's session timeout. With one replica: no budget, no spread.
func TestHelmReplicasAndDisruptionBudget(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"-f", chartDir + "/ci/test-values.yaml"}

	docs := mustRender(t, helm, base...)
	dep := only(t, docs, "Deployment")
	want(t, "replicas", dig(dep, "spec", "replicas"), 2)
	want(t, "strategy", dig(dep, "spec", "strategy", "type"), "RollingUpdate")
	want(t, "maxSurge", dig(dep, "spec", "strategy", "rollingUpdate", "maxSurge"), 1)
	want(t, "maxUnavailable", dig(dep, "spec", "strategy", "rollingUpdate", "maxUnavailable"), 0)
	podLabels := dig(dep, "spec", "template", "metadata", "labels")
	if !matches(dig(dep, "spec", "selector", "matchLabels"), podLabels) {
		t.Fatalf("the Deployment's selector %v does not select its pods %v", dig(dep, "spec", "selector", "matchLabels"), podLabels)
	}

	pdb := only(t, docs, "PodDisruptionBudget")
	want(t, "PDB apiVersion", pdb["apiVersion"], "policy/v1")
	want(t, "PDB maxUnavailable", dig(pdb, "spec", "maxUnavailable"), 1)
	if dig(pdb, "spec", "minAvailable") != nil {
		t.Error("PDB sets minAvailable too")
	}
	if dig(pdb, "spec", "unhealthyPodEvictionPolicy") != nil {
		t.Error("PDB sets unhealthyPodEvictionPolicy without being asked")
	}
	sel := dig(pdb, "spec", "selector", "matchLabels")
	want(t, "PDB selector", sel, dig(dep, "spec", "selector", "matchLabels"))
	if !matches(sel, podLabels) {
		t.Errorf("the PDB's selector %v does not select the pods %v", sel, podLabels)
	}
	if dig(pdb, "spec", "selector", "matchExpressions") != nil {
		t.Error("PDB selector has matchExpressions")
	}

	pod := dig(dep, "spec", "template", "spec")
	spread := dig(pod, "topologySpreadConstraints", 0)
	want(t, "spread topologyKey", dig(spread, "topologyKey"), "kubernetes.io/hostname")
	want(t, "spread whenUnsatisfiable (a preference)", dig(spread, "whenUnsatisfiable"), "ScheduleAnyway")
	if !matches(dig(spread, "labelSelector", "matchLabels"), podLabels) {
		t.Errorf("the spread constraint's selector %v does not select the pods", dig(spread, "labelSelector", "matchLabels"))
	}

	env := envByName(t, dig(pod, "containers", 0))
	want(t, "COUPA_GROUP_SESSION_TIMEOUT", dig(env["COUPA_GROUP_SESSION_TIMEOUT"], "value"), "10s")
	if env["COUPA_GROUP"] != nil {
		t.Errorf("COUPA_GROUP set without group.id: %v", env["COUPA_GROUP"])
	}

	// group.* and the budget are configurable.
	docs = mustRender(t, helm, append(base, "--set", "replicaCount=4", "--set", "group.id=coupa-kafka.spend",
		"--set", "group.sessionTimeout=30s", "--set", "podDisruptionBudget.maxUnavailable=2",
		"--set", "podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow",
		"--set", "rollingUpdate.maxSurge=2")...)
	dep = only(t, docs, "Deployment")
	want(t, "replicas", dig(dep, "spec", "replicas"), 4)
	want(t, "maxSurge", dig(dep, "spec", "strategy", "rollingUpdate", "maxSurge"), 2)
	env = envByName(t, dig(dep, "spec", "template", "spec", "containers", 0))
	want(t, "COUPA_GROUP", dig(env["COUPA_GROUP"], "value"), "coupa-kafka.spend")
	want(t, "COUPA_GROUP_SESSION_TIMEOUT", dig(env["COUPA_GROUP_SESSION_TIMEOUT"], "value"), "30s")
	pdb = only(t, docs, "PodDisruptionBudget")
	want(t, "PDB maxUnavailable", dig(pdb, "spec", "maxUnavailable"), 2)
	want(t, "PDB unhealthyPodEvictionPolicy", dig(pdb, "spec", "unhealthyPodEvictionPolicy"), "AlwaysAllow")

	// One replica: still RollingUpdate (a second pod during a rollout is a
	// standby), but no budget (it would allow all or block every drain)
	// and nothing to spread.
	docs = mustRender(t, helm, append(base, "--set", "replicaCount=1")...)
	dep = only(t, docs, "Deployment")
	want(t, "replicas", dig(dep, "spec", "replicas"), 1)
	want(t, "strategy", dig(dep, "spec", "strategy", "type"), "RollingUpdate")
	if n := len(docsOfKind(docs, "PodDisruptionBudget")); n != 0 {
		t.Error("PodDisruptionBudget rendered with one replica")
	}
	if dig(dep, "spec", "template", "spec", "topologySpreadConstraints") != nil {
		t.Error("topologySpreadConstraints rendered with one replica")
	}

	// Switched off.
	docs = mustRender(t, helm, append(base, "--set", "podDisruptionBudget.enabled=false", "--set", "topologySpread.enabled=false")...)
	if n := len(docsOfKind(docs, "PodDisruptionBudget")); n != 0 {
		t.Error("PodDisruptionBudget rendered with podDisruptionBudget.enabled=false")
	}
	if dig(only(t, docs, "Deployment"), "spec", "template", "spec", "topologySpreadConstraints") != nil {
		t.Error("topologySpreadConstraints rendered with topologySpread.enabled=false")
	}

	out, err := helmTemplate(t, helm, append(base, "--set", "podDisruptionBudget.maxUnavailable=some")...)
	if err == nil || !strings.Contains(out, "podDisruptionBudget.maxUnavailable") {
		t.Errorf("podDisruptionBudget.maxUnavailable=some: want a failure naming the value, got %v: %s", err, out)
	}
}

// The contract's keys of one entry of the COUPA_CONFIG file.
var contractKeys = []string{"name", "url", "client_id", "client_id_env", "client_secret_env", "client_secret_file", "tables", "topic_prefix", "rate_limit"}

// ci/instances-values.yaml renders a ConfigMap holding the COUPA_CONFIG file
// in the contract's format, with no secret in it; the Deployment mounts it,
// points COUPA_CONFIG at it and sets the variables the file names from the
// referenced Secret keys. coupa.instanceUrl and the chart's OAuth Secret
// are gone.
func TestHelmInstancesConfigMap(t *testing.T) {
	helm := helmBinary(t)
	sentinels := []string{"sentinel-sasl-password-5b1e", "sentinel-registry-password-e07c"}
	rendered, err := helmTemplate(t, helm, "-f", instancesValues,
		"--set", "kafka.sasl.mechanism=SCRAM-SHA-512", "--set", "kafka.sasl.username=coupa-kafka",
		"--set", "kafka.sasl.password="+sentinels[0],
		"--set", "schemaRegistry.username=coupa-kafka", "--set", "schemaRegistry.password="+sentinels[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sentinels {
		if strings.Contains(rendered, s) {
			t.Errorf("a password appears in plain text in the rendered chart: %s", s)
		}
	}
	docs := renderedDocs(t, rendered)
	cms := docsOfKind(docs, "ConfigMap")
	if len(cms) != 1 {
		t.Fatalf("want the one ConfigMap of the instances file, got %d", len(cms))
	}
	cm := cms[0]
	cmName := dig(cm, "metadata", "name").(string)
	data, _ := dig(cm, "data").(map[string]any)
	if len(data) != 1 {
		t.Fatalf("ConfigMap data has %d keys, want the one file: %v", len(data), keys(data))
	}
	var file, text string
	for k, v := range data {
		file, text = k, v.(string)
	}

	// The file's shape: instances, each with the contract's keys only, the
	// secret by reference only.
	parsed, err := parseYAML(text)
	if err != nil {
		t.Fatalf("the instances file is no YAML: %v\n%s", err, text)
	}
	top, _ := parsed.(map[string]any)
	want(t, "top-level keys", keys(top), []string{"instances"})
	entries, _ := top["instances"].([]any)
	if len(entries) != 2 {
		t.Fatalf("want 2 instances, got %v", top["instances"])
	}
	secretEnv := regexp.MustCompile(`^COUPA_SECRET_[A-Z0-9_]+$`)
	for i, e := range entries {
		m, _ := e.(map[string]any)
		for k := range m {
			if !slices.Contains(contractKeys, k) {
				t.Errorf("instance %d: key %q is not in the contract", i, k)
			}
		}
		if _, inline := m["client_secret"]; inline {
			t.Errorf("instance %d: an inline client_secret", i)
		}
		if env, _ := m["client_secret_env"].(string); !secretEnv.MatchString(env) {
			t.Errorf("instance %d: client_secret_env %q, want COUPA_SECRET_<NAME>", i, env)
		}
	}
	want(t, "prod", entries[0], map[string]any{
		"name": "prod", "url": "https://acme.coupahost.com", "client_id": "4f2a1b", "client_secret_env": "COUPA_SECRET_PROD",
		"tables": []any{"invoices", "suppliers"}, "topic_prefix": "coupa.prod.", "rate_limit": 15,
	})
	want(t, "emea-sandbox", entries[1], map[string]any{
		"name": "emea-sandbox", "url": "https://acme-emea-test.coupahost.com",
		"client_id_env": "COUPA_CLIENT_ID_EMEA_SANDBOX", "client_secret_env": "COUPA_SECRET_EMEA_SANDBOX", "rate_limit": "7.5",
	})

	// The Deployment: COUPA_CONFIG is the mounted file; the variables the
	// file names come from the Secrets the values name, never as values.
	dep := only(t, docs, "Deployment")
	pod := dig(dep, "spec", "template", "spec")
	c := dig(pod, "containers", 0)
	env := envByName(t, c)
	var mountPath string
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "name") == "config" {
			mountPath, _ = dig(m, "mountPath").(string)
			want(t, "config mount readOnly", dig(m, "readOnly"), true)
		}
	}
	if mountPath == "" {
		t.Fatal("the instances file is not mounted (no volumeMount named config)")
	}
	var volumeCM any
	for _, v := range dig(pod, "volumes").([]any) {
		if dig(v, "name") == "config" {
			volumeCM = dig(v, "configMap", "name")
		}
	}
	want(t, "config volume's ConfigMap", volumeCM, cmName)
	want(t, "COUPA_CONFIG", dig(env["COUPA_CONFIG"], "value"), mountPath+"/"+file)
	refs := map[string]string{
		"COUPA_SECRET_PROD":            "coupa-prod-oauth/client-secret",
		"COUPA_CLIENT_ID_EMEA_SANDBOX": "coupa-emea-oauth/client-id",
		"COUPA_SECRET_EMEA_SANDBOX":    "coupa-emea-oauth/client-secret",
	}
	for name, ref := range refs {
		e := env[name]
		if e == nil {
			t.Errorf("env %s missing", name)
			continue
		}
		if _, plain := e["value"]; plain {
			t.Errorf("env %s has a plain value; it must come from a secretKeyRef", name)
		}
		got := fmt.Sprintf("%v/%v", dig(e, "valueFrom", "secretKeyRef", "name"), dig(e, "valueFrom", "secretKeyRef", "key"))
		want(t, name+" secretKeyRef", got, ref)
	}
	for _, name := range []string{"COUPA_INSTANCE_URL", "COUPA_CLIENT_ID", "COUPA_CLIENT_SECRET"} {
		if env[name] != nil {
			t.Errorf("env %s is set with instances (COUPA_CONFIG excludes it)", name)
		}
	}
	want(t, "replicas", dig(dep, "spec", "replicas"), 3)
	want(t, "COUPA_GROUP", dig(env["COUPA_GROUP"], "value"), "coupa-kafka.ci")
	want(t, "COUPA_GROUP_SESSION_TIMEOUT", dig(env["COUPA_GROUP_SESSION_TIMEOUT"], "value"), "15s")

	// The chart's Secret holds the passwords only, no OAuth client.
	sec := only(t, docs, "Secret")
	want(t, "Secret keys", keys(dig(sec, "data").(map[string]any)), []string{"KAFKA_SASL_PASSWORD", "SCHEMA_REGISTRY_PASSWORD"})

	// What coupa-kafka itself makes of the file: instances.Parse (the
	// loader of COUPA_CONFIG), with the environment the Deployment gives
	// the pod. A variable resolves to the Secret key it comes from.
	lookup := func(name string) (string, bool) {
		e := env[name]
		if e == nil {
			return "", false
		}
		if v, ok := e["value"].(string); ok {
			return v, true
		}
		return fmt.Sprintf("secret:%v/%v", dig(e, "valueFrom", "secretKeyRef", "name"), dig(e, "valueFrom", "secretKeyRef", "key")), true
	}
	got, err := instances.Parse([]byte(text), lookup, instances.Defaults{TopicPrefix: "coupa.", RateLimit: 15})
	if err != nil {
		t.Fatalf("instances.Parse refuses the rendered file: %v\n%s", err, text)
	}
	if len(got) != 2 {
		t.Fatalf("instances.Parse: %d instances, want 2", len(got))
	}
	for i, w := range []instances.Instance{
		{Name: "prod", URL: "https://acme.coupahost.com", ClientID: "4f2a1b", ClientSecret: "secret:coupa-prod-oauth/client-secret",
			Tables: []string{"invoices", "suppliers"}, TopicPrefix: "coupa.prod.", RateLimit: 15},
		{Name: "emea-sandbox", URL: "https://acme-emea-test.coupahost.com", ClientID: "secret:coupa-emea-oauth/client-id",
			ClientSecret: "secret:coupa-emea-oauth/client-secret", TopicPrefix: "coupa.emea-sandbox.", RateLimit: 7.5},
	} {
		g := got[i]
		if g.Name != w.Name || g.URL != w.URL || g.ClientID != w.ClientID || g.ClientSecret != w.ClientSecret ||
			!slices.Equal(g.Tables, w.Tables) || g.TopicPrefix != w.TopicPrefix || g.RateLimit != w.RateLimit {
			t.Errorf("instance %d:\n got %+v (secret %q)\nwant %+v (secret %q)", i, g, g.ClientSecret, w, w.ClientSecret)
		}
	}

	// A change of the list rolls the pods; the annotation is the file's.
	ann := func(docs []map[string]any) string {
		s, _ := dig(only(t, docs, "Deployment"), "spec", "template", "metadata", "annotations", "checksum/config").(string)
		return s
	}
	a1 := ann(mustRender(t, helm, "-f", instancesValues))
	a2 := ann(mustRender(t, helm, "-f", instancesValues, "--set", "instances[0].rateLimit=10"))
	if len(a1) != 64 || a1 == a2 {
		t.Errorf("checksum/config %q, then %q after a rateLimit change: want a sha256 that changes", a1, a2)
	}
	if a := ann(mustRender(t, helm, "-f", chartDir+"/ci/test-values.yaml")); a != "" {
		t.Errorf("checksum/config %q without instances", a)
	}

	// Without passwords there is nothing for the chart's Secret.
	docs = mustRender(t, helm, "-f", instancesValues)
	if n := len(docsOfKind(docs, "Secret")); n != 0 {
		t.Errorf("%d Secret(s) rendered with instances and no password", n)
	}
}

// instances and the one-instance values are exclusive, and a bad entry is
// refused with a message that names it.
func TestHelmInstancesRefused(t *testing.T) {
	helm := helmBinary(t)
	base := []string{"-f", instancesValues}
	both := "instances and coupa.instanceUrl/coupa.clientId/coupa.clientSecret are both set"
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--set", "coupa.instanceUrl=https://other.coupahost.com"}, both},
		{[]string{"--set", "coupa.clientId=x"}, both},
		{[]string{"--set", "coupa.clientSecret=sentinel-e4"}, both},
		// ci/test-values.yaml (one instance) on top of the instances.
		{[]string{"-f", chartDir + "/ci/test-values.yaml"}, both},
		{[]string{"--set", "instances[0].clientSecret=sentinel-f1"}, "instances[0] (prod): clientSecret must not be in values"},
		{[]string{"--set", "instances[1].clientSecretFrom=null"}, "instances[1] (emea-sandbox): clientSecretFrom: {secretName, key}"},
		{[]string{"--set", "instances[0].clientSecretFrom.key="}, "instances[0] (prod): clientSecretFrom: {secretName, key}"},
		{[]string{"--set", "instances[0].clientIdFrom.secretName=s", "--set", "instances[0].clientIdFrom.key=k"}, "instances[0] (prod): set exactly one of clientId and clientIdFrom"},
		{[]string{"--set", "instances[0].url="}, "instances[0] (prod): url is required"},
		{[]string{"--set", "instances[0].name=Prod"}, `instances[0] (Prod): name "Prod"`},
		{[]string{"--set", "instances[1].name=prod"}, `name "prod" is used twice`},
		{[]string{"--set", "instances[0].name=emea_sandbox"}, "COUPA_SECRET_EMEA_SANDBOX"},
		{[]string{"--set", "instances[0].rate_limit=3"}, `instances[0] (prod): unknown key "rate_limit"`},
		{[]string{"--set", "instances[0].rateLimit=26"}, "rateLimit 26 is outside (0, 25]"},
		{[]string{"--set", "instances[0].tables=invoices"}, "tables must be a list"},
	} {
		out, err := helmTemplate(t, helm, append(base, tc.args...)...)
		if err == nil {
			t.Errorf("%v: rendered, want failure %q", tc.args, tc.msg)
			continue
		}
		if !strings.Contains(out, tc.msg) {
			t.Errorf("%v: error %q does not say %q", tc.args, out, tc.msg)
		}
		if strings.Contains(out, "sentinel-") {
			t.Errorf("%v: the error quotes a secret: %s", tc.args, out)
		}
	}
	// Without instances, coupa.instanceUrl is required as before; with
	// them, it is not (ci/instances-values.yaml renders without it).
	if _, err := helmTemplate(t, helm, base...); err != nil {
		t.Errorf("ci/instances-values.yaml: %v", err)
	}
}

// renderNotes renders NOTES.txt, which helm template leaves out: on a copy
// of the chart where a template prints it into a ConfigMap.
func renderNotes(t *testing.T, helm string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "coupa-kafka")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "templates", "NOTES.txt")); err != nil {
		t.Fatal(err)
	}
	tpl := "{{- define \"test.notes\" }}" + string(notes) + "{{- end }}\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include \"test.notes\" . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "_notes_test.tpl"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes-test.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"template", "t", dir, "--namespace", "spend", "--show-only", "templates/notes-test.yaml"}, args...)
	out, err := runHelm(helm, full...)
	if err != nil {
		t.Fatalf("rendering NOTES.txt: %v\n%s", err, out)
	}
	m := only(t, renderedDocs(t, out), "ConfigMap")
	s, _ := dig(m, "data", "notes").(string)
	return s
}

// NOTES.txt explains the group: the replicas join COUPA_GROUP, each instance
// is synced by one of them, the others are standbys that take over within
// about the session timeout; with instances, it lists them.
func TestHelmNotesExplainReplicas(t *testing.T) {
	helm := helmBinary(t)
	notes := renderNotes(t, helm, "-f", chartDir+"/ci/test-values.yaml")
	for _, s := range []string{
		"2 replicas join the Kafka consumer group coupa-kafka.coupa-offsets (COUPA_GROUP)",
		"Each Coupa instance is synced by exactly one replica; the others are standbys",
		"session timeout (10s, COUPA_GROUP_SESSION_TIMEOUT)",
		"from https://example.coupahost.com into coupa.<table>",
		"PodDisruptionBudget",
		"owns: nothing (standby)",
	} {
		if !strings.Contains(notes, s) {
			t.Errorf("NOTES.txt lacks %q:\n%s", s, notes)
		}
	}
	notes = renderNotes(t, helm, "-f", instancesValues)
	for _, s := range []string{
		"3 replicas join the Kafka consumer group coupa-kafka.ci (COUPA_GROUP)",
		"session timeout (15s,",
		"prod: https://acme.coupahost.com, invoices, suppliers -> coupa.prod.<table>",
		"emea-sandbox: https://acme-emea-test.coupahost.com, all 8 tables -> coupa.emea-sandbox.<table>",
	} {
		if !strings.Contains(notes, s) {
			t.Errorf("NOTES.txt (instances) lacks %q:\n%s", s, notes)
		}
	}
	notes = renderNotes(t, helm, "-f", chartDir+"/ci/test-values.yaml", "--set", "replicaCount=1")
	if !strings.Contains(notes, "there is no standby") || strings.Contains(notes, "PodDisruptionBudget") {
		t.Errorf("NOTES.txt with one replica:\n%s", notes)
	}
}

// ------------------------------------------------------------- compose

// hostPorts lists the host ports a compose port mapping publishes, with
// ${VAR:-default} taken at its default: "8090-8099:8080" gives 8090..8099.
func hostPorts(t *testing.T, mapping string) []int {
	t.Helper()
	mapping = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(mapping, "$1")
	parts := strings.Split(mapping, ":")
	if len(parts) < 2 {
		return nil // container port only: no host port
	}
	host := parts[len(parts)-2]
	lo, hi, isRange := strings.Cut(host, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		t.Fatalf("port mapping %q: %v", mapping, err)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			t.Fatalf("port mapping %q: %v", mapping, err)
		}
	}
	var out []int
	for p := a; p <= b; p++ {
		out = append(out, p)
	}
	return out
}

// coupa-kafka runs two replicas: a fixed host port would let only one of
// them start, so it publishes a range with a port per replica, clear of
// every other service's host ports; Prometheus finds every replica by DNS;
// the stop grace period leaves time to hand the instances over.
func TestComposeReplicas(t *testing.T) {
	c := readCompose(t)
	services, _ := c["services"].(map[string]any)
	ck := dig(services, "coupa-kafka")
	want(t, "coupa-kafka deploy.replicas", dig(ck, "deploy", "replicas"), "${COUPA_KAFKA_REPLICAS:-2}")
	if dig(ck, "scale") != nil {
		t.Error("coupa-kafka sets both scale and deploy.replicas")
	}
	if dig(ck, "container_name") != nil {
		t.Error("coupa-kafka has a container_name: a scaled service cannot")
	}
	want(t, "coupa-kafka stop_grace_period", dig(ck, "stop_grace_period"), "60s")

	taken := map[int]string{}
	var ours []int
	for name, s := range services {
		ports, _ := dig(s, "ports").([]any)
		for _, p := range ports {
			hp := hostPorts(t, fmt.Sprint(p))
			if name == "coupa-kafka" {
				ours = append(ours, hp...)
				continue
			}
			for _, port := range hp {
				taken[port] = name
			}
		}
	}
	if len(ours) < 2 {
		t.Errorf("coupa-kafka publishes host ports %v: two replicas need a range of at least 2 (or no host port)", ours)
	}
	for _, p := range ours {
		if other, clash := taken[p]; clash {
			t.Errorf("coupa-kafka's host port range includes %d, %s's host port", p, other)
		}
	}

	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	prom, err := parseYAML(string(b))
	if err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	job := dig(prom, "scrape_configs", 0)
	want(t, "scrape job", dig(job, "job_name"), "coupa-kafka")
	if dig(job, "static_configs") != nil {
		t.Error("prometheus scrapes coupa-kafka through a static target: one replica per scrape, not all")
	}
	want(t, "dns_sd names", dig(job, "dns_sd_configs", 0, "names"), []any{"coupa-kafka"})
	want(t, "dns_sd type", dig(job, "dns_sd_configs", 0, "type"), "A")
	want(t, "dns_sd port", dig(job, "dns_sd_configs", 0, "port"), 8080)
}

func runHelm(helm string, args ...string) (string, error) {
	cmd := exec.Command(helm, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}
