package coupa

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseInstanceURL validates a Coupa instance URL and returns its canonical
// form "https://host[:port]". A bare host ("myorg.coupahost.com") means HTTPS.
// Anything that could send credentials somewhere unintended is refused: plain
// HTTP, user info, and a path, query or fragment (the API lives at /api of
// the instance root; a path usually means a copied browser URL).
func ParseInstanceURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("coupa instance URL is empty: set COUPA_INSTANCE_URL to https://<org>.coupahost.com")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("coupa instance URL %q is not a URL: %v", s, err)
	}
	switch {
	case u.Scheme == "http":
		return nil, fmt.Errorf("coupa instance URL %q uses http: only https is allowed (credentials would travel in clear text)", s)
	case u.Scheme != "https":
		return nil, fmt.Errorf("coupa instance URL %q: scheme %q is not https", s, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("coupa instance URL %q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("coupa instance URL must not carry user info; use COUPA_CLIENT_ID and COUPA_CLIENT_SECRET")
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("coupa instance URL %q has a path (%s): give only the instance root, e.g. https://%s", s, u.Path, u.Host)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("coupa instance URL %q has a query or fragment: give only the instance root, e.g. https://%s", s, u.Host)
	}
	return &url.URL{Scheme: "https", Host: strings.ToLower(u.Host)}, nil
}
