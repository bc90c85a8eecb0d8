package coupatest

import (
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// xmlName turns a definition name into Coupa's XML element name
// ("InvoiceHeader" -> "invoice-header", "Asn-Header" -> "asn-header").
func xmlName(def string) string {
	var b strings.Builder
	for i, r := range def {
		if unicode.IsUpper(r) {
			if i > 0 && def[i-1] != '-' {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeXML answers as Coupa does for a client that did not ask for JSON: an
// XML document (404 when nothing matched). It carries only ids and
// timestamps: enough for a client to notice it is not JSON, never to use.
func writeXML(w http.ResponseWriter, t *table, page []state, r *renderer) {
	el := xmlName(t.plan.def)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if len(page) == 0 {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<errors>\n  <error>No " + el + "s found</error>\n</errors>\n"))
		return
	}
	b := []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + el + "s type=\"array\">\n")
	for _, st := range page {
		b = append(b, "  <"+el+">\n    <id type=\"integer\">"...)
		b = strconv.AppendInt(b, st.id, 10)
		b = append(b, "</id>\n"...)
		// Only the timestamps the definition has (currencies have none).
		for _, ts := range [...]struct {
			key string
			at  int64
		}{{"created-at", st.created}, {"updated-at", st.updated}} {
			if t.plan.byKey[ts.key] != nil {
				b = append(b, "    <"+ts.key+" type=\"dateTime\">"...)
				b = r.appendTimeRaw(b, ts.at)
				b = append(b, "</"+ts.key+">\n"...)
			}
		}
		b = append(b, "  </"+el+">\n"...)
	}
	b = append(b, "</"+el+"s>\n"...)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
