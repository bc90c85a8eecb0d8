// Package instances reads the COUPA_CONFIG file: the Coupa instances one
// deployment syncs, each with its URL, OAuth client, tables, topic prefix
// and request budget.
//
// Secrets are never inline: a client secret is named by reference, an
// environment variable or a file, and resolved when the file is loaded, so
// the file itself can live in a ConfigMap or a repository and be logged.
//
// The file:
//
//	instances:
//	  - name: prod                      # [a-z0-9][a-z0-9_-]*: the group's unit, the default topic prefix
//	    url: https://acme.coupahost.com
//	    client_id: 4f2a1b               # or client_id_env: NAME
//	    client_secret_env: COUPA_PROD_CLIENT_SECRET   # or client_secret_file: /run/secrets/prod
//	    tables: [invoices, suppliers]   # default: COUPA_TABLES
//	    topic_prefix: coupa.prod.       # default: coupa.<name>. when several, else COUPA_TOPIC_PREFIX
//	    rate_limit: 15                  # default: COUPA_RATE_LIMIT
package instances

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/coupa-kafka/coupa-kafka/coupa"
)

// Instance is one Coupa instance to sync, with its secret resolved.
type Instance struct {
	// Name identifies the instance in the group (its unit of work), in
	// logs, metrics (label coupa_instance) and the default topic prefix.
	Name         string
	URL          string
	ClientID     string
	ClientSecret string // resolved from client_secret_env or client_secret_file
	// Tables are the table names (nil: the deployment's COUPA_TABLES).
	Tables      []string
	TopicPrefix string
	RateLimit   float64
}

// Host is the instance's host: cursors and transactional ids are keyed by it.
func (i Instance) Host() string {
	u, err := coupa.ParseInstanceURL(i.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// String names the instance without its secret, so an Instance can be
// logged or printed with %v.
func (i Instance) String() string { return fmt.Sprintf("%s (%s)", i.Name, i.URL) }

// GoString keeps the secret out of %#v too.
func (i Instance) GoString() string { return "instances.Instance{" + i.String() + "}" }

// LogValue keeps it out of structured logs (slog).
func (i Instance) LogValue() slog.Value { return slog.StringValue(i.String()) }

// Defaults are the deployment-wide settings an instance inherits.
type Defaults struct {
	Tables      []string
	TopicPrefix string
	RateLimit   float64
}

// fileInstance is one entry of the file as written.
type fileInstance struct {
	Name             string   `yaml:"name"`
	URL              string   `yaml:"url"`
	ClientID         string   `yaml:"client_id"`
	ClientIDEnv      string   `yaml:"client_id_env"`
	ClientSecret     *string  `yaml:"client_secret"` // refused: secrets are never inline
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Tables           []string `yaml:"tables"`
	TopicPrefix      *string  `yaml:"topic_prefix"`
	RateLimit        *float64 `yaml:"rate_limit"`
}

type file struct {
	Instances []fileInstance `yaml:"instances"`
}

// Load reads the file at path; lookupEnv resolves client_secret_env and
// client_id_env (os.LookupEnv in production). It reports every problem at
// once, each naming the instance, and never a secret's value.
func Load(path string, lookupEnv func(string) (string, bool), d Defaults) ([]Instance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("COUPA_CONFIG: %w", err)
	}
	out, err := Parse(b, lookupEnv, d)
	if err != nil {
		return nil, fmt.Errorf("COUPA_CONFIG %s: %w", path, err)
	}
	return out, nil
}

// Parse is Load on the file's content.
func Parse(b []byte, lookupEnv func(string) (string, bool), d Defaults) ([]Instance, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a valid instances file: %v", err)
	}
	if len(f.Instances) == 0 {
		return nil, errors.New("lists no instance (want instances: [{name, url, client_id, client_secret_env}, ...])")
	}
	var errs []error
	out := make([]Instance, 0, len(f.Instances))
	names, hosts, prefixes := map[string]bool{}, map[string]string{}, map[string]string{}
	for n, fi := range f.Instances {
		in, ierrs := fi.resolve(lookupEnv, d, len(f.Instances) > 1)
		label := fmt.Sprintf("instance %d", n+1)
		if fi.Name != "" {
			label = fmt.Sprintf("instance %q", fi.Name)
		}
		if names[in.Name] && in.Name != "" {
			ierrs = append(ierrs, errors.New("name is used twice"))
		}
		names[in.Name] = true
		if h := strings.ToLower(in.Host()); h != "" {
			if other, dup := hosts[h]; dup {
				ierrs = append(ierrs, fmt.Errorf("host %s is also instance %q's: cursors and transactional ids are keyed by host, so one instance is listed once", h, other))
			}
			hosts[h] = in.Name
		}
		if other, dup := prefixes[in.TopicPrefix]; dup {
			ierrs = append(ierrs, fmt.Errorf("topic_prefix %q is also instance %q's: records are keyed by Coupa id alone, so two instances in one compacted topic would overwrite (and delete) each other's records", in.TopicPrefix, other))
		}
		prefixes[in.TopicPrefix] = in.Name
		for _, e := range ierrs {
			errs = append(errs, fmt.Errorf("%s: %w", label, e))
		}
		out = append(out, in)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

var (
	validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// resolve checks one entry and fills in its defaults and secret.
func (fi fileInstance) resolve(lookupEnv func(string) (string, bool), d Defaults, several bool) (Instance, []error) {
	var errs []error
	in := Instance{Name: fi.Name, URL: fi.URL, ClientID: fi.ClientID, Tables: fi.Tables, TopicPrefix: d.TopicPrefix, RateLimit: d.RateLimit}
	if !validName.MatchString(fi.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit (it names a topic)", fi.Name))
	}
	if _, err := coupa.ParseInstanceURL(fi.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	id, err := reference("client_id", fi.ClientID, fi.ClientIDEnv, "", lookupEnv)
	if err != nil {
		errs = append(errs, err)
	}
	in.ClientID = id
	if fi.ClientSecret != nil {
		errs = append(errs, errors.New("client_secret must not be written in the file: name it with client_secret_env (an environment variable) or client_secret_file"))
	}
	secret, err := reference("client_secret", "", fi.ClientSecretEnv, fi.ClientSecretFile, lookupEnv)
	if err != nil && fi.ClientSecret == nil {
		errs = append(errs, err)
	}
	in.ClientSecret = secret
	if len(in.Tables) == 0 {
		in.Tables = d.Tables
	}
	if several {
		in.TopicPrefix = "coupa." + fi.Name + "."
	}
	if fi.TopicPrefix != nil {
		in.TopicPrefix = *fi.TopicPrefix
	}
	if fi.RateLimit != nil {
		in.RateLimit = *fi.RateLimit
	}
	if !(in.RateLimit > 0 && in.RateLimit <= 25) { // NaN too
		errs = append(errs, fmt.Errorf("rate_limit %g is outside (0, 25]: Coupa allows 25 requests per second per instance", in.RateLimit))
	}
	return in, errs
}

// reference resolves a value given inline, by environment variable or by
// file: exactly one of the three. A resolved secret is never quoted in an
// error.
func reference(key, inline, env, path string, lookupEnv func(string) (string, bool)) (string, error) {
	given := 0
	for _, s := range []string{inline, env, path} {
		if s != "" {
			given++
		}
	}
	switch {
	case given == 0 && key == "client_secret":
		return "", fmt.Errorf("%s is missing: set %s_env (an environment variable's name) or %s_file", key, key, key)
	case given == 0:
		return "", fmt.Errorf("%s is missing: set %s or %s_env", key, key, key)
	case given > 1:
		return "", fmt.Errorf("%s is given more than one way: keep one", key)
	case inline != "":
		return inline, nil
	case env != "" && !envName.MatchString(env):
		// Not quoted: a secret pasted here by mistake must not be echoed.
		return "", fmt.Errorf("%s_env must be the name of an environment variable (letters, digits and _)", key)
	case env != "":
		v, ok := lookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("%s_env names %s, which is not set", key, env)
		}
		return v, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", key, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("%s_file %s is empty", key, path)
	}
	return v, nil
}
