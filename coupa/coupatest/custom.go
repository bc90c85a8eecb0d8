package coupatest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Custom fields. Coupa admins add fields of their own to documents and
// lines; the API renders them in a "custom-fields" object whose keys, and
// the kinds of their values, differ per customer instance. Each table's
// headers carry at least one field of every kind, its lines (where it has
// any) text, boolean, number and lookup fields; which names a simulated
// instance uses is chosen by its seed.

// CustomFieldKind is the kind of a custom field's value, as Coupa renders
// it in JSON.
type CustomFieldKind uint8

const (
	CustomText     CustomFieldKind = iota // "CC-1042"
	CustomBool                            // true
	CustomInteger                         // 42
	CustomNumber                          // 7.25 (a JSON number, always with a fraction of .25, .5 or .75)
	CustomDate                            // "2025-03-14"
	CustomDatetime                        // "2016-10-07T06:59:46-07:00" (the instance's offset)
	CustomLookup                          // {"id":1204,"name":"Marketing 1204","external-ref-num":"GS-1204","active":true}
	CustomUser                            // {"id":9001,"login":"user9001","email":"user9001@example.com","firstname":"Ana","lastname":"Smith","employee-number":"C-123"}
	numCustomKinds
)

var customKindNames = [numCustomKinds]string{"text", "boolean", "integer", "number", "date", "datetime", "lookup", "user"}

func (k CustomFieldKind) String() string {
	if k < numCustomKinds {
		return customKindNames[k]
	}
	return "CustomFieldKind(" + strconv.Itoa(int(k)) + ")"
}

// CustomFieldKinds returns every kind, in declaration order.
func CustomFieldKinds() []CustomFieldKind {
	out := make([]CustomFieldKind, numCustomKinds)
	for i := range out {
		out[i] = CustomFieldKind(i)
	}
	return out
}

// CustomField is one key of a custom-fields object and its kind.
type CustomField struct {
	Key  string
	Kind CustomFieldKind
}

// headerCustomPool and lineCustomPool name the fields of each kind an
// instance may have; the seed picks one name per kind (and a few extras).
// The pools are disjoint, so a name has one kind per instance.
var headerCustomPool = [numCustomKinds][]string{
	CustomText:     {"cost-center", "project-code", "business-unit", "po-reference", "legacy-id", "region-code"},
	CustomBool:     {"approved-by-finance", "tax-exempt", "intercompany", "capex", "requires-legal-review"},
	CustomInteger:  {"headcount", "seats", "priority-rank", "budget-period"},
	CustomNumber:   {"hours-estimate", "discount-percent", "allocation-pct", "fx-buffer"},
	CustomDate:     {"service-start-date", "service-end-date", "renewal-date", "accrual-date"},
	CustomDatetime: {"contract-signed-at", "finance-reviewed-at", "last-synced-at"},
	CustomLookup:   {"gl-segment", "spend-category", "legal-entity", "commodity-code"},
	CustomUser:     {"budget-owner", "cost-center-approver", "finance-contact", "requester-manager"},
}

var lineCustomPool = [numCustomKinds][]string{
	CustomText:    {"cost-center", "project-code", "wbs-element"},
	CustomBool:    {"billable", "capitalize", "rebill-to-client"},
	CustomNumber:  {"allocation-pct", "hours", "unit-weight-kg"},
	CustomLookup:  {"gl-segment", "commodity-code", "cost-object"},
	CustomInteger: {"asset-count"},
	CustomDate:    {"delivery-window-start"},
}

// churnCustomPool names the fields Churn adds, one per kind: names no
// instance starts with, so the addition is a new key, never a kind change.
var churnCustomPool = [numCustomKinds]string{
	CustomText:     "sourcing-event-ref",
	CustomBool:     "esg-reviewed",
	CustomInteger:  "approval-round",
	CustomNumber:   "carbon-kg",
	CustomDate:     "warranty-end-date",
	CustomDatetime: "compliance-checked-at",
	CustomLookup:   "sustainability-tier",
	CustomUser:     "category-manager",
}

// lookupNamePool gives lookup values their names ("Marketing 1204").
var lookupNamePool = []string{
	"Marketing", "Operations", "Research & Development", "Sales", "Finance", "IT",
	"Human Resources", "Facilities", "Legal", "Logistics", "Procurement", "Customer Support",
}

// customSet is a header's custom-fields object over time: epoch e applies
// to versions written while the table's custom epoch was e (state.seq), so
// a field added by AddCustomField shows on the versions written after the
// call only. epochs only grows (under its table's write lock); renders load
// it without locking.
type customSet struct {
	epochs atomic.Pointer[[]*customEpoch]
}

type customEpoch struct {
	obj   *objPlan
	kinds []CustomFieldKind // of obj.keys
}

func newCustomSet(e *customEpoch) *customSet {
	cs := &customSet{}
	cs.epochs.Store(&[]*customEpoch{e})
	return cs
}

// at returns the epoch versions stamped seq render.
func (cs *customSet) at(seq uint32) *customEpoch {
	es := *cs.epochs.Load()
	if int(seq) < len(es) {
		return es[seq]
	}
	return es[len(es)-1]
}

func (cs *customSet) latest() *customEpoch {
	es := *cs.epochs.Load()
	return es[len(es)-1]
}

// customObj returns the custom-fields object a version renders: the epoch
// of its seq for a header, the only one for lines.
func (f *field) customObj(seq uint32) *objPlan {
	if f.custom == nil {
		return f.obj
	}
	return f.custom.at(seq).obj
}

// customFields builds the per-instance "custom-fields" object of ns (a
// definition name): for a header one field of every kind plus up to two
// more, for lines text, boolean, number and lookup plus at most one more.
// Names, order and extras are chosen by the seed.
func (b *builder) customFields(ns string, line bool) *field {
	pool := &headerCustomPool
	kinds := CustomFieldKinds()
	extras := int(mix(b.seed^saltOf(ns+"/custom")) % 3)
	if line {
		pool = &lineCustomPool
		kinds = []CustomFieldKind{CustomText, CustomBool, CustomNumber, CustomLookup}
		extras = int(mix(b.seed^saltOf(ns+"/custom")) % 2)
	}
	// A rotation of the kinds, so instances differ in order too.
	rot := int(mix(b.seed^saltOf(ns+"/custom/order")) % uint64(len(kinds)))
	kinds = append(slices.Clone(kinds[rot:]), kinds[:rot]...)
	e := &customEpoch{obj: &objPlan{def: ns + "/custom-fields", noID: true}}
	used := map[string]bool{}
	add := func(k CustomFieldKind, name string) {
		used[name] = true
		h := mix(b.seed ^ saltOf(ns+"/custom-fields/"+name))
		nullPct := uint8(5 + h%4*8) // 5, 13, 21 or 29 percent nulls
		e.obj.keys = append(e.obj.keys, b.customField(ns, name, k, nullPct))
		e.kinds = append(e.kinds, k)
	}
	for _, k := range kinds {
		names := pool[k]
		add(k, names[mix(b.seed^saltOf(ns+"/custom/"+k.String()))%uint64(len(names))])
	}
	for i := 0; i < extras; i++ {
		h := mix(b.seed ^ saltOf(ns+"/custom/extra") ^ uint64(i+1))
		k := CustomFieldKind(h % uint64(numCustomKinds))
		for try := 0; len(pool[k]) == 0 && try < int(numCustomKinds); try++ {
			k = (k + 1) % numCustomKinds
		}
		for j := range pool[k] {
			if name := pool[k][(int(h>>8)+j)%len(pool[k])]; !used[name] {
				add(k, name)
				break
			}
		}
	}
	return &field{key: "custom-fields", prefix: `"custom-fields":`, kind: kObject, obj: e.obj, custom: newCustomSet(e)}
}

// customField is one custom field of kind k in ns's custom-fields object.
// Its values depend on (seed, ns, key, kind, record id) and, where the
// kind's values are edited (booleans, numbers, datetimes), the version.
func (b *builder) customField(ns, key string, k CustomFieldKind, nullPct uint8) *field {
	f := &field{key: key, prefix: strconv.Quote(key) + ":", salt: saltOf(ns + "/custom-fields/" + key + "/" + k.String()), nullPct: nullPct}
	switch k {
	case CustomText:
		f.kind, f.quoted, f.str, f.numPrefix = kString, true, sPrefixed, initials(key)+"-"
	case CustomBool:
		f.kind, f.volatile = kBool, true
	case CustomInteger:
		f.kind, f.magnitude, f.volatile = kInt, 200, true
	case CustomNumber:
		f.kind, f.magnitude, f.volatile = kFraction, 100, true
	case CustomDate:
		f.kind, f.quoted = kDate, true
	case CustomDatetime:
		f.kind, f.quoted, f.volatile = kDatetime, true, true
	case CustomLookup:
		f.kind, f.obj = kAssoc, b.lookupObj(key)
	case CustomUser:
		f.kind, f.obj = kAssoc, b.customUserObj()
	}
	return f
}

// initials abbreviates a key for its values' prefix ("cost-center" -> "CC").
func initials(key string) string {
	var out []byte
	for _, w := range strings.Split(key, "-") {
		if w != "" && w[0] >= 'a' && w[0] <= 'z' {
			out = append(out, w[0]-'a'+'A')
		}
	}
	return string(out)
}

// lookupObj is the lookup behind a lookup custom field: 30 values with ids
// of their own, whose name and external-ref-num follow the id, so a value
// reads the same wherever it is used (headers and lines alike).
func (b *builder) lookupObj(key string) *objPlan {
	ck := "custom#lookup/" + key
	if o, ok := b.objs[ck]; ok {
		return o
	}
	s := saltOf("lookup/" + key)
	o := &objPlan{def: "LookupValue", base: 1000 + int64(s%500)*40, count: 30}
	o.keys = []*field{
		{key: "name", prefix: `"name":`, kind: kString, quoted: true, str: sLookupName, salt: saltOf("lookup/" + key + "/name")},
		{key: "external-ref-num", prefix: `"external-ref-num":`, kind: kString, quoted: true, str: sIDNumber, numPrefix: initials(key) + "-"},
		{key: "active", prefix: `"active":`, kind: kTrue},
	}
	b.objs[ck] = o
	return o
}

// customUserObj is a user custom field's object: a user of the users table
// (its first ids; 1..500 when it has none), with the login, email and names
// the users table renders for that id.
func (b *builder) customUserObj() *objPlan {
	const ck = "custom#user"
	if o, ok := b.objs[ck]; ok {
		return o
	}
	o := &objPlan{def: "UserSimple", base: 1, count: 500}
	if n := b.counts["users"]; n > 0 {
		o.base, o.count = b.bases["users"], int64(n)
	}
	for _, k := range []struct {
		key string
		str strKind
	}{{"login", sLogin}, {"email", sEmail}, {"firstname", sFirst}, {"lastname", sLast}, {"employee-number", sCode}} {
		o.keys = append(o.keys, &field{key: k.key, prefix: strconv.Quote(k.key) + ":", kind: kString, quoted: true, str: k.str, salt: saltOf("User/" + k.key)})
	}
	b.objs[ck] = o
	return o
}

// headerCustom returns table's header custom-fields step, or an error.
func (s *Server) headerCustom(table string) (*table, *field, error) {
	t, ok := s.tables[table]
	if !ok {
		return nil, nil, fmt.Errorf("coupatest: unknown table %q", table)
	}
	f := t.plan.byKey["custom-fields"]
	if f == nil || f.custom == nil {
		return nil, nil, fmt.Errorf("coupatest: %s has no custom fields", table)
	}
	return t, f, nil
}

// AddCustomField adds custom field key of kind to table's headers, as an
// admin does on a live instance: versions written from now on (updates,
// inserts, bulk edits, late writes and pending writes committed after the
// call) render the key, mostly with values and now and then null; versions
// written before render no such key, whenever they are read. Adding a key
// the table already has with another kind changes its kind for later
// versions (an admin re-created the field, or an integration writes an
// object where text was): earlier versions keep the old kind. Adding it
// again with the same kind changes nothing. Lines' custom fields stay as
// they are. Safe while requests are served; an unknown table, an empty key
// or an unknown kind is an error.
//
// The gate is a per-table custom epoch, not a clock: each version stores
// the epoch it was written in, so the same (id, version) renders the same
// body forever and Truth, Record and the API agree.
func (s *Server) AddCustomField(table, key string, kind CustomFieldKind) error {
	if kind >= numCustomKinds {
		return fmt.Errorf("coupatest: unknown custom field kind %d", kind)
	}
	if key == "" {
		return fmt.Errorf("coupatest: empty custom field key")
	}
	t, cf, err := s.headerCustom(table)
	if err != nil {
		return err
	}
	s.customMu.Lock() // the builder's caches
	defer s.customMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := cf.custom.latest()
	i := slices.IndexFunc(cur.obj.keys, func(f *field) bool { return f.key == key })
	if i >= 0 && cur.kinds[i] == kind {
		return nil
	}
	nf := s.builder.customField(t.plan.def, key, kind, 10)
	next := &customEpoch{
		obj:   &objPlan{def: cur.obj.def, noID: true, keys: slices.Clone(cur.obj.keys)},
		kinds: slices.Clone(cur.kinds),
	}
	if i >= 0 {
		next.obj.keys[i], next.kinds[i] = nf, kind
	} else {
		next.obj.keys = append(next.obj.keys, nf)
		next.kinds = append(next.kinds, kind)
	}
	es := append(slices.Clone(*cf.custom.epochs.Load()), next)
	// Publish the epoch before any write can be stamped with it.
	cf.custom.epochs.Store(&es)
	t.epoch = uint32(len(es) - 1)
	return nil
}

// CustomFields returns the custom fields table's headers render in versions
// written now, in the order they appear: the instance's own and those
// AddCustomField added.
func (s *Server) CustomFields(table string) ([]CustomField, error) {
	t, cf, err := s.headerCustom(table)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return customList(cf.custom.latest()), nil
}

// LineCustomFields returns the custom fields of table's lines (an error
// for a table without lines).
func (s *Server) LineCustomFields(table string) ([]CustomField, error) {
	t, ok := s.tables[table]
	if !ok {
		return nil, fmt.Errorf("coupatest: unknown table %q", table)
	}
	if t.plan.lines == nil {
		return nil, fmt.Errorf("coupatest: %s has no lines", table)
	}
	cf := t.plan.lines.lines.byKey["custom-fields"]
	return customList(cf.custom.latest()), nil
}

func customList(e *customEpoch) []CustomField {
	out := make([]CustomField, len(e.kinds))
	for i, k := range e.kinds {
		out[i] = CustomField{Key: e.obj.keys[i].key, Kind: k}
	}
	return out
}

// churnCustomField adds the n-th custom field of a churn to one of tables:
// a name of churnCustomPool (numbered after the first round), of a kind
// cycling through the kinds from one the seed picks.
func (s *Server) churnCustomField(tables []string, n int) {
	h := mix(uint64(s.cfg.Seed) ^ saltOf("churn/custom"))
	table := tables[(h>>8+uint64(n))%uint64(len(tables))]
	kind := CustomFieldKind((h + uint64(n)) % uint64(numCustomKinds))
	key := churnCustomPool[kind]
	if round := n / int(numCustomKinds); round > 0 {
		key += "-" + strconv.Itoa(round+1)
	}
	_ = s.AddCustomField(table, key, kind)
}
