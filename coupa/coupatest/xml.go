package coupatest

import (
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// xmlName turns a definition name into Coupa's XML element name
// ("InvoiceHeader" -> "invoice-header").
func xmlName(def string) string {
	var b strings.Builder
	for i, r := range def {
		if unicode.IsUpper(r) {
			if i > 0 {
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
		b = append(b, "</id>\n    <created-at type=\"dateTime\">"...)
		b = r.appendTimeRaw(b, st.created)
		b = append(b, "</created-at>\n    <updated-at type=\"dateTime\">"...)
		b = r.appendTimeRaw(b, st.updated)
		b = append(b, "</updated-at>\n  </"+el+">\n"...)
	}
	b = append(b, "</"+el+"s>\n"...)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
