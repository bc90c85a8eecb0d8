package instances_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coupa-kafka/coupa-kafka/instances"
)

var defaults = instances.Defaults{Tables: []string{"invoices"}, TopicPrefix: "coupa.", RateLimit: 15}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParseSeveralInstances(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "sandbox-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-sandbox\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`
instances:
  - name: prod
    url: https://acme.coupahost.com
    client_id: prod-client
    client_secret_env: PROD_SECRET
    tables: [invoices, suppliers]
    rate_limit: 10
  - name: sandbox
    url: acme-test.coupahost.com
    client_id_env: SANDBOX_ID
    client_secret_file: %s
    topic_prefix: sandbox.
`, secretFile)
	got, err := instances.Parse([]byte(doc), env(map[string]string{"PROD_SECRET": "s3cret-prod", "SANDBOX_ID": "sandbox-client"}), defaults)
	if err != nil {
		t.Fatal(err)
	}
	want := []instances.Instance{
		{Name: "prod", URL: "https://acme.coupahost.com", ClientID: "prod-client", ClientSecret: "s3cret-prod",
			Tables: []string{"invoices", "suppliers"}, TopicPrefix: "coupa.prod.", RateLimit: 10},
		{Name: "sandbox", URL: "acme-test.coupahost.com", ClientID: "sandbox-client", ClientSecret: "s3cret-sandbox",
			Tables: []string{"invoices"}, TopicPrefix: "sandbox.", RateLimit: 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	if got[1].Host() != "acme-test.coupahost.com" {
		t.Fatalf("host %q", got[1].Host())
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "instance", got[0])
	for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%v %+v %#v", got[0], got[0], got[0]), logged.String()} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("an Instance prints its secret: %s", s)
		}
	}
}

// One instance keeps the deployment's topic prefix: moving a single
// instance from environment variables to a file renames no topic.
func TestParseOneInstanceKeepsThePrefix(t *testing.T) {
	got, err := instances.Parse([]byte("instances:\n- {name: prod, url: acme.coupahost.com, client_id: c, client_secret_env: S}\n"),
		env(map[string]string{"S": "x"}), defaults)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].TopicPrefix != "coupa." {
		t.Fatalf("prefix %q, want the default coupa.", got[0].TopicPrefix)
	}
}

func TestParseRefusesWithEveryProblem(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"inline secret", "instances:\n- {name: a, url: a.coupahost.com, client_id: c, client_secret: hunter2}\n",
			[]string{`instance "a": client_secret must not be written in the file`}},
		{"unknown key", "instances:\n- {name: a, url: a.coupahost.com, client_id: c, client_secret_env: S, tabels: [x]}\n",
			[]string{"field tabels not found"}},
		{"empty", "instances: []\n", []string{"lists no instance"}},
		{"bad values", `instances:
- {name: Prod!, url: "http://a.coupahost.com", client_secret_env: NOPE, rate_limit: 40}
- {name: b, url: b.coupahost.com, client_id: c, client_secret_env: S, client_secret_file: /x}
`, []string{`name "Prod!"`, "only https", "client_id is missing", "client_secret_env names NOPE, which is not set", "rate_limit 40",
			`instance "b": client_secret is given more than one way`}},
		{"duplicates", `instances:
- {name: a, url: acme.coupahost.com, client_id: c, client_secret_env: S}
- {name: a, url: "https://ACME.coupahost.com/", client_id: c, client_secret_env: S}
`, []string{"name is used twice", `host acme.coupahost.com is also instance "a"'s`}},
		{"shared topics", `instances:
- {name: a, url: a.coupahost.com, client_id: c, client_secret_env: S, topic_prefix: coupa.}
- {name: b, url: b.coupahost.com, client_id: c, client_secret_env: S, topic_prefix: coupa.}
`, []string{`instance "b": topic_prefix "coupa." is also instance "a"'s`}},
		{"a secret where a variable's name goes", "instances:\n- {name: a, url: a.coupahost.com, client_id: c, client_secret_env: hunter2!x}\n",
			[]string{"client_secret_env must be the name of an environment variable"}},
		{"rate not a number", "instances:\n- {name: a, url: a.coupahost.com, client_id: c, client_secret_env: S, rate_limit: .nan}\n",
			[]string{"rate_limit NaN is outside"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := instances.Parse([]byte(c.doc), env(map[string]string{"S": "top-secret"}), defaults)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "top-secret") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error quotes a secret: %v", err)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	_, err := instances.Load(filepath.Join(t.TempDir(), "missing.yaml"), os.LookupEnv, defaults)
	if err == nil || !strings.Contains(err.Error(), "COUPA_CONFIG") || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("error %v", err)
	}
}

// The README's example file is a valid file.
func TestREADMEExampleParses(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\ninstances:")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README has no ```yaml block starting with instances:")
	}
	secret := filepath.Join(t.TempDir(), "sandbox")
	if err := os.WriteFile(secret, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll("instances:"+block, "/run/secrets/sandbox-client-secret", secret)
	got, err := instances.Parse([]byte(doc), env(map[string]string{"COUPA_PROD_CLIENT_SECRET": "y"}), defaults)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TopicPrefix != "coupa.prod." || got[1].TopicPrefix != "coupa.sandbox." {
		t.Fatalf("%v", got)
	}
}
