package coupatest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/coupa-kafka/coupa-kafka/coupa"
	"github.com/coupa-kafka/coupa-kafka/internal/openapi"
)

// A plan is built once per table from its R39 definition, so rendering a
// record is a loop over precomputed fields with no reflection and no map
// lookups.

type kind uint8

const (
	kNull       kind = iota // always null: self references the Swagger carries by mistake
	kID                     // the object's own id
	kCreated                // created-at
	kUpdated                // updated-at
	kParentID               // a line's pointer to its header ("order-header-id")
	kLineNum                // a line's 1-based position
	kLineCount              // header's number of lines
	kInt                    // JSON number
	kIntString              // an integer Coupa sends as a string ("line-count": "3")
	kFloat                  // JSON number with a fraction (format "float")
	kDecimal                // decimal as a JSON string ("567.07")
	kBool                   // JSON true/false
	kBoolString             // "true"/"false" as a string (format "true")
	kDatetime               // instance-offset datetime, second precision
	kDate                   // "2024-01-02"
	kString                 // text from a generator
	kEnum                   // one of enum (quoted unless numeric on an integer)
	kAssoc                  // nested object: id + natural keys
	kRefArray               // array of nested objects (often empty)
	kEmptyArray             // array Coupa leaves empty here
	kLines                  // array of fully rendered line objects
	kObject                 // keyed object without id: custom-fields, new-release objects
	kFraction               // JSON number with a fraction of .25, .5 or .75 (custom number fields)
	kTrue                   // always true (a lookup value's "active")
)

type strKind uint8

const (
	sWord strKind = iota
	sText
	sCompany
	sPerson
	sFirst
	sLast
	sEmail
	sLogin
	sCode
	sIDNumber
	sURL
	sUUID
	sPhone
	sStreet
	sCity
	sCurrencyCode   // a currency code as an attribute of a record
	sCurrencyISO    // a Currency's own code (currencies, associations)
	sCurrencyName   // a Currency's own name
	sCurrencySymbol // a Currency's own symbol
	sCountryCode
	sCountryName
	sPrefixed   // numPrefix and a number from the hash ("CC-1042")
	sLookupName // a lookup value's name ("Marketing 1204"), from its id
)

type field struct {
	key       string
	prefix    string // `"key":`
	kind      kind
	salt      uint64
	nullPct   uint8 // chance in percent of a null value
	volatile  bool  // the value changes with the record's version
	quoted    bool  // the value is a JSON string
	scale     int   // fraction digits of a decimal
	maxLen    int   // bytes, from string(N)
	magnitude int64
	enum      []string
	str       strKind
	numPrefix string
	obj       *objPlan   // kAssoc, kRefArray, kObject
	lines     *plan      // kLines
	custom    *customSet // custom-fields: its keys per custom epoch (custom.go)
}

// objPlan describes a nested association: where its ids come from and which
// natural keys it carries (never the whole associated object).
type objPlan struct {
	def   string
	base  int64 // first id
	count int64 // ids are base..base+count-1
	keys  []*field
	noID  bool // custom-fields and other keyed objects
}

type plan struct {
	table  string
	def    string
	fields []*field
	byKey  map[string]*field
	lines  *field // the lines array, if any
}

type builder struct {
	seed     uint64
	counts   map[string]int
	bases    map[string]int64
	maxLines int
	objs     map[string]*objPlan
}

var sizeRe = regexp.MustCompile(`^(?:string|decimal)\((\d+)(?:,(\d+))?\)$`)

// important keys are always present and never null: the ones every consumer
// reads, so a sample of records looks like a real, busy instance.
var important = map[string]bool{
	"id": true, "created-at": true, "updated-at": true, "status": true, "name": true,
	"number": true, "invoice-number": true, "po-number": true, "login": true, "email": true,
	"total": true, "gross-total": true, "currency": true, "supplier": true, "title": true,
	"line-num": true, "description": true, "price": true, "quantity": true, "amount": true,
	"fullname": true, "firstname": true, "lastname": true, "invoice-date": true, "active": true,
	"display-name": true, "version": true, "exported": true, "created-by": true, "updated-by": true,
	"requested-by": true, "requester": true, "approvable-id": true, "approvable-type": true,
	"type": true, "line-count": true, "paid": true, "req-title": true, "start-date": true,
	"end-date": true, "approved-by": true, "approver": true, "line-number": true,
	"payment-term": true, "ship-to-address": true, "expensed-by": true, "reimbursable-total-amount": true,
}

var parentIDKey = map[string]string{"OrderLine": "order-header-id", "ExpenseLine": "expense-report-id"}

func (b *builder) tablePlan(t coupa.Table) (*plan, error) {
	doc, def, err := openapi.LoadDefinition(t.OpenAPIFile, t.Definition)
	if err != nil {
		return nil, err
	}
	p, err := b.planFor(doc, def, t.Name, t.Lines)
	if err != nil {
		return nil, err
	}
	b.addExtras(p, t.Name)
	return p, nil
}

func (b *builder) planFor(doc *openapi.Doc, def *openapi.Definition, table, lines string) (*plan, error) {
	p := &plan{table: table, def: def.Name, byKey: map[string]*field{}}
	var head, rest []*field
	for _, prop := range def.Properties {
		f, err := b.field(doc, def, prop, lines)
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		switch f.key {
		case "id", "created-at", "updated-at":
			head = append(head, f)
		default:
			rest = append(rest, f)
		}
		if f.kind == kLines {
			p.lines = f
		}
	}
	// Coupa leads with id and timestamps; the rest keeps the definition order.
	order := map[string]int{"id": 0, "created-at": 1, "updated-at": 2}
	for i := 1; i < len(head); i++ {
		for j := i; j > 0 && order[head[j].key] < order[head[j-1].key]; j-- {
			head[j], head[j-1] = head[j-1], head[j]
		}
	}
	p.fields = append(head, rest...)
	for _, f := range p.fields {
		p.byKey[f.key] = f
	}
	return p, nil
}

// field turns one OpenAPI property into a rendering step, or nil when this
// instance does not expose the property at all.
func (b *builder) field(doc *openapi.Doc, def *openapi.Definition, prop openapi.Property, lines string) (*field, error) {
	ns := namespace(def.Name)
	f := &field{key: prop.Name, prefix: strconv.Quote(prop.Name) + ":", salt: saltOf(ns + "/" + prop.Name)}
	decision := mix(b.seed^f.salt) % 100
	imp := important[prop.Name]
	switch {
	case prop.Name == "id":
		f.kind = kID
		return f, nil
	case prop.Name == "created-at":
		f.kind, f.quoted = kCreated, true
		return f, nil
	case prop.Name == "updated-at":
		f.kind, f.quoted = kUpdated, true
		return f, nil
	case prop.Name == parentIDKey[def.Name]:
		f.kind = kParentID
		return f, nil
	case prop.Name == "line-num" || prop.Name == "line-number":
		f.kind = kLineNum
		if prop.Type == "string" {
			f.quoted = true
		}
		return f, nil
	case prop.Name == "line-count" && lines != "":
		f.kind = kLineCount
		f.quoted = prop.Type == "string"
		return f, nil
	case prop.IsArrayOfObjects():
		switch {
		case prop.Name == lines:
			ld, err := doc.Definition(prop.Items.Ref)
			if err != nil {
				return nil, err
			}
			lp, err := b.planFor(doc, ld, "", "")
			if err != nil {
				return nil, err
			}
			lp.fields = append(lp.fields, b.customFields(ld.Name, true))
			lp.byKey["custom-fields"] = lp.fields[len(lp.fields)-1]
			f.kind, f.lines = kLines, lp
		case prop.Items.Ref == def.Name:
			f.kind = kEmptyArray
		default:
			o, err := b.obj(doc, prop.Items.Ref)
			if err != nil || o == nil {
				f.kind = kEmptyArray
			} else {
				f.kind, f.obj = kRefArray, o
			}
		}
		return f, nil
	case prop.Type == "array":
		f.kind = kEmptyArray
		return f, nil
	case prop.Ref != "" || (prop.Type == "" && prop.Format == ""):
		ref := prop.Ref
		if ref == "" {
			ref = "UserSimple" // polymorphic approver/delegate: a user in practice
		}
		if ref == def.Name {
			f.kind = kNull
			return f, nil
		}
		o, err := b.obj(doc, ref)
		if err != nil || o == nil {
			f.kind = kNull
			return f, nil
		}
		f.kind, f.obj = kAssoc, o
		f.volatile = prop.Name == "updated-by" || prop.Name == "current-approval"
		f.nullPct = b.nullPct(imp, decision)
		if f.nullPct > 100 {
			return nil, nil
		}
		return f, nil
	}
	b.scalar(f, ns, prop)
	f.nullPct = b.nullPct(imp, decision)
	if f.nullPct > 100 {
		return nil, nil
	}
	return f, nil
}

// nullPct spreads the instance's fields over "almost always set", "often
// null", "always null" and "not exposed" (returned as 101), decided per seed.
func (b *builder) nullPct(imp bool, decision uint64) uint8 {
	switch {
	case imp:
		return 0
	case decision < 55:
		return 5
	case decision < 80:
		return 50
	case decision < 96:
		return 100
	default:
		return 101
	}
}

func (b *builder) scalar(f *field, ns string, prop openapi.Property) {
	key := prop.Name
	if m := sizeRe.FindStringSubmatch(prop.Format); m != nil {
		if strings.HasPrefix(prop.Format, "string") {
			f.maxLen, _ = strconv.Atoi(m[1])
		} else if m[2] != "" {
			f.scale, _ = strconv.Atoi(m[2])
		}
	}
	switch {
	case len(prop.Enum) > 0 && prop.Type != "boolean": // a boolean's enum is just true, false
		f.kind, f.enum, f.volatile = kEnum, prop.Enum, true
		_, err := strconv.Atoi(prop.Enum[0])
		f.quoted = prop.Type != "integer" || err != nil
		return
	case key == "status":
		pool := statusPools[ns]
		if pool == nil {
			pool = defaultStatus
		}
		f.kind, f.enum, f.volatile, f.quoted = kEnum, pool, true, true
		return
	case prop.Type == "boolean":
		f.kind, f.volatile = kBool, true
		return
	case prop.Type == "integer":
		f.kind = kInt
		switch {
		case strings.HasSuffix(key, "-id"):
			f.magnitude = 100000
		case key == "version" || key == "internal-revision" || key == "position" || key == "sub-line-num":
			f.magnitude, f.volatile = 6, true
		case key == "decimals": // a currency's minor unit digits
			f.magnitude = 4
		default:
			f.magnitude = 1000
		}
		return
	case prop.Type == "number":
		if prop.Format == "float" {
			f.kind, f.volatile, f.magnitude = kFloat, true, 100
			return
		}
		f.kind, f.volatile, f.quoted = kDecimal, true, true
		if !strings.Contains(prop.Format, ",") {
			f.scale = 2
		}
		switch {
		case strings.Contains(key, "exchange-rate"):
			f.magnitude = 2
		case strings.Contains(key, "rate") || strings.Contains(key, "pct") || strings.Contains(key, "percent"):
			f.magnitude = 30
		case strings.Contains(key, "quantity") || strings.Contains(key, "weight"):
			f.magnitude = 200
		default:
			f.magnitude = 50000
		}
		// Money with many fraction digits is sent with two or three;
		// rates keep their full scale ("1.108563219").
		if f.scale > 3 && f.magnitude != 2 {
			f.scale = 2 + int(mix(b.seed^f.salt^1)%2)
		}
		return
	}
	f.quoted = true
	if prop.Format == "" && (strings.Contains(key, "amount") || strings.Contains(key, "total") || strings.HasSuffix(key, "rate") || strings.Contains(key, "rate-")) {
		// Untyped amounts on lines are decimals in practice.
		f.kind, f.volatile, f.scale, f.magnitude = kDecimal, true, 2, 5000
		return
	}
	switch prop.Format {
	case "datetime":
		f.kind = kDatetime
		f.volatile = strings.Contains(key, "exported") || strings.Contains(key, "submitted") || strings.Contains(key, "payment") || strings.Contains(key, "approval")
		return
	case "date":
		f.kind = kDate
		return
	case "int":
		f.kind, f.magnitude = kIntString, 1000
		return
	case "true":
		f.kind, f.volatile = kBoolString, true
		return
	case "USD":
		f.kind, f.str = kString, sCurrencyCode
		return
	}
	f.kind = kString
	f.str = strKindFor(ns, key, prop.Format)
	if pre, ok := idPrefix[ns+"/"+key]; ok {
		f.str, f.numPrefix = sIDNumber, pre
	}
	f.volatile = strings.Contains(key, "note") || strings.Contains(key, "comment") || strings.Contains(key, "reason")
}

func strKindFor(ns, key, format string) strKind {
	switch {
	case ns == "Currency" && key == "code":
		return sCurrencyISO
	case ns == "Currency" && key == "name":
		return sCurrencyName
	case ns == "Currency" && key == "symbol":
		return sCurrencySymbol
	case ns == "Country" && key == "code":
		return sCountryCode
	case ns == "Country" && key == "name":
		return sCountryName
	case strings.Contains(key, "email"):
		return sEmail
	case key == "login" || strings.HasSuffix(key, "-login") || strings.HasSuffix(key, "username"):
		return sLogin
	case key == "firstname":
		return sFirst
	case key == "lastname" || key == "middlename":
		return sLast
	case key == "fullname" || strings.HasSuffix(key, "representative-name") || strings.HasPrefix(key, "requester") || strings.HasSuffix(key, "issuer-name") || strings.HasSuffix(key, "reviewer-name") || strings.HasSuffix(key, "collector-name"):
		return sPerson
	case key == "name" || key == "display-name" || strings.HasSuffix(key, "-name"):
		return sCompany
	case strings.Contains(key, "url"):
		return sURL
	case strings.Contains(key, "uuid"):
		return sUUID
	case strings.Contains(key, "phone"):
		return sPhone
	case strings.HasPrefix(key, "street"):
		return sStreet
	case key == "city":
		return sCity
	case key == "currency":
		return sCurrencyCode
	case strings.Contains(key, "number") || strings.Contains(key, "num") || strings.Contains(key, "reference") ||
		strings.Contains(key, "code") || strings.Contains(key, "identifier") || strings.HasSuffix(key, "-id") ||
		key == "duns" || strings.Contains(key, "serial"):
		return sCode
	case format == "text" || strings.Contains(key, "note") || strings.Contains(key, "comment") || strings.Contains(key, "description") ||
		strings.Contains(key, "justification") || strings.Contains(key, "reason") || strings.Contains(key, "terms") || strings.Contains(key, "message"):
		return sText
	}
	return sWord
}

var naturalKeys = []string{"name", "display-name", "number", "login", "email", "fullname", "code", "title", "invoice-number", "po-number", "street1", "city"}

// obj returns (cached) the association plan for a referenced definition.
func (b *builder) obj(doc *openapi.Doc, ref string) (*objPlan, error) {
	ck := doc.File + "#" + ref
	if o, ok := b.objs[ck]; ok {
		return o, nil
	}
	d, err := doc.Definition(ref)
	if err != nil {
		b.objs[ck] = nil
		return nil, err
	}
	ns := namespace(ref)
	o := &objPlan{def: ref, base: 1, count: 500}
	small, isSmall := smallRefCounts[ns]
	if isSmall {
		o.count = int64(small)
	}
	if t, ok := tableDefs[ref]; ok && b.counts[t] > 0 {
		// The target table's initial ids, the first few of reference data.
		o.base, o.count = b.bases[t], int64(b.counts[t])
		if isSmall {
			o.count = min(o.count, int64(small))
		}
	}
	for _, k := range naturalKeys {
		if len(o.keys) == 3 {
			break
		}
		prop, ok := d.Property(k)
		if !ok || prop.Ref != "" || prop.Type == "array" {
			continue
		}
		f := &field{key: k, prefix: strconv.Quote(k) + ":", salt: saltOf(ns + "/" + k)}
		b.scalar(f, ns, prop)
		f.volatile = false
		f.nullPct = b.nullPct(important[k], mix(b.seed^f.salt)%100)
		if f.nullPct > 100 {
			f.nullPct = 100
		}
		o.keys = append(o.keys, f)
	}
	b.objs[ck] = o
	return o, nil
}

// newReleaseKeys are keys a later Coupa release adds: not in R39's
// definitions, so consumers must keep them rather than drop or choke.
var newReleaseKeys = []struct {
	key  string
	kind kind
}{
	{"ai-risk-score", kDecimal}, {"esg-category", kString}, {"r40-preview-enabled", kBool},
	{"sustainability-metadata", kObject}, {"source-system-revision", kInt}, {"last-ai-review-at", kDatetime},
}

func (b *builder) addExtras(p *plan, table string) {
	p.fields = append(p.fields, b.customFields(p.def, false))
	start := mix(b.seed^saltOf(table+"/new")) % uint64(len(newReleaseKeys))
	added := 0
	for i := 0; i < len(newReleaseKeys) && added < 2; i++ {
		nk := newReleaseKeys[(start+uint64(i))%uint64(len(newReleaseKeys))]
		if _, dup := p.byKey[nk.key]; dup {
			continue
		}
		f := &field{key: nk.key, prefix: strconv.Quote(nk.key) + ":", kind: nk.kind, salt: saltOf(p.def + "/" + nk.key), nullPct: 20, volatile: true}
		switch nk.kind {
		case kDecimal:
			f.quoted, f.scale, f.magnitude = true, 2, 1
		case kString:
			f.quoted, f.str = true, sWord
		case kInt:
			f.magnitude = 50
		case kDatetime:
			f.quoted = true
		case kObject:
			o := &objPlan{def: f.key, noID: true}
			for _, k := range []string{"source", "batch"} {
				sf := &field{key: k, prefix: strconv.Quote(k) + ":", salt: saltOf(f.key + "/" + k)}
				if k == "source" {
					sf.kind, sf.quoted, sf.str = kString, true, sWord
				} else {
					sf.kind, sf.magnitude = kInt, 9999
				}
				o.keys = append(o.keys, sf)
			}
			f.obj = o
		}
		p.fields = append(p.fields, f)
		added++
	}
	for _, f := range p.fields {
		p.byKey[f.key] = f
	}
}

func (p *plan) String() string { return fmt.Sprintf("plan(%s, %d fields)", p.def, len(p.fields)) }
