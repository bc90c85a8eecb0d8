package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's Connect snippet must work when pasted into a .properties
// file: read it as Java reads properties (a backslash escapes the next
// character) and check what Connect would subscribe to.
func TestReadmeConnectSnippetWorksWhenPasted(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```properties\n(.*?)```").FindSubmatch(b)
	if block == nil {
		t.Fatal("README has no properties block")
	}
	props := javaProperties(string(block[1]))
	for key, want := range map[string]string{
		"key.converter":                       "org.apache.kafka.connect.storage.StringConverter",
		"value.converter":                     "io.confluent.connect.avro.AvroConverter",
		"consumer.override.isolation.level":   "read_committed",
		"value.converter.schema.registry.url": "http://registry:8081",
	} {
		if props[key] != want {
			t.Errorf("%s = %q, want %q", key, props[key], want)
		}
	}
	re, err := regexp.Compile("^(?:" + props["topics.regex"] + ")$")
	if err != nil || props["topics.regex"] == "" {
		t.Fatalf("topics.regex %q: %v", props["topics.regex"], err)
	}
	for topic, match := range map[string]bool{"coupa.invoices": true, "coupa.suppliers": true, "coupa-offsets": false, "coupaXinvoices": false} {
		if re.MatchString(topic) != match {
			t.Errorf("topics.regex %q (as Connect reads it) matches %s: %v", props["topics.regex"], topic, !match)
		}
	}
}

// javaProperties reads key=value lines the way java.util.Properties does
// for the subset the README uses: # comments, and a backslash that escapes
// the character after it (a lone backslash disappears).
func javaProperties(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			sb.WriteByte(v[i])
		}
		out[strings.TrimSpace(k)] = sb.String()
	}
	return out
}

// `kubectl port-forward` runs until it is stopped: a command chained after
// it with && never runs. NOTES.txt must background it.
func TestHelmNotesDoNotChainAfterPortForward(t *testing.T) {
	b, err := os.ReadFile("helm/coupa-kafka/templates/NOTES.txt")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "port-forward") && strings.Contains(line, "&&") {
			t.Errorf("NOTES.txt line %d chains a command after port-forward, which never returns: %s", i+1, line)
		}
	}
}
