package coupatest

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// renderer turns compact record state into Coupa-shaped JSON. It holds no
// per-record data: the body of (table, id, version) is recomputed on demand
// and is byte-identical every time.
type renderer struct {
	seed     uint64
	loc      *time.Location
	maxLines int
	lines    int // every record has this many lines, when positive
	// dropLines lets a record's new versions drop lines (Config.Deletes).
	dropLines bool
}

// rctx is what one record's rendering depends on.
type rctx struct {
	id      int64
	version uint32
	created int64
	updated int64
	parent  int64
	lineNum int
	nLines  int
	// lineVersion and lineAt are the lines' own changes (ChangeLines): on a
	// record, what its lines inherit; on a line (parent set), lineVersion
	// is hashed into its volatile values.
	lineVersion uint32
	lineAt      int64
	// seq is the custom epoch of the version (state.seq): which custom
	// fields a header renders. Lines leave it zero.
	seq uint32
}

// retMode is Coupa's return_object.
type retMode uint8

const (
	modeFull retMode = iota
	modeShallow
	modeLimited
)

const dtLayout = "2006-01-02T15:04:05-07:00"

var quarters = [3]string{".25", ".5", ".75"}

func (r *renderer) hash(f *field, c *rctx) uint64 {
	h := mix(r.seed ^ f.salt ^ mix(uint64(c.id)))
	if f.volatile {
		h = mix(h ^ uint64(c.version)*0x9e3779b97f4a7c15)
		// Only a line's values follow its own changes: its record's stay,
		// and a line never changed renders the bytes it always did.
		if c.parent != 0 && c.lineVersion != 0 {
			h = mix(h ^ uint64(c.lineVersion)*0xc2b2ae3d27d4eb4f)
		}
	}
	return h
}

func (r *renderer) lineCount(p *plan, id int64, version uint32) int {
	if p.lines == nil {
		return 0
	}
	h := mix(r.seed ^ p.lines.salt ^ mix(uint64(id)))
	// Mostly short invoices, now and then a long one.
	n := 1 + int(h%uint64(r.maxLines))
	if h>>40%4 != 0 && n > 3 {
		n = 1 + n%3
	}
	if r.lines > 0 {
		n = r.lines
	}
	if r.dropLines {
		// A quarter of the new versions drop the last line, as a user who
		// removes a line does. The count never grows back: Coupa does not
		// reuse a line id, so a removed line stays gone.
		for v := uint32(2); v <= version && n > 1; v++ {
			if mix(h^uint64(v)*0x9e3779b97f4a7c15)%4 == 0 {
				n--
			}
		}
	}
	return n
}

// record appends one record. sel restricts keys (Coupa's fields=[...]).
func (r *renderer) record(dst []byte, p *plan, c *rctx, sel *selector, mode retMode) []byte {
	if mode == modeLimited {
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendInt(dst, c.id, 10)
		return append(dst, '}')
	}
	if p.lines != nil && c.nLines == 0 {
		c.nLines = r.lineCount(p, c.id, c.version)
	}
	dst = append(dst, '{')
	first := true
	for _, f := range p.fields {
		sub := sel
		if sel != nil {
			var ok bool
			if ok, sub = sel.child(f.key); !ok {
				continue
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.prefix...)
		dst = r.value(dst, f, c, sub, mode)
	}
	return append(dst, '}')
}

func (r *renderer) value(dst []byte, f *field, c *rctx, sel *selector, mode retMode) []byte {
	switch f.kind {
	case kNull:
		return append(dst, "null"...)
	case kEmptyArray:
		return append(dst, "[]"...)
	case kID:
		return strconv.AppendInt(dst, c.id, 10)
	case kCreated:
		return r.appendTime(dst, c.created)
	case kUpdated:
		return r.appendTime(dst, c.updated)
	case kParentID:
		return strconv.AppendInt(dst, c.parent, 10)
	case kLineNum:
		if f.quoted {
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, int64(c.lineNum), 10)
			return append(dst, '"')
		}
		return strconv.AppendInt(dst, int64(c.lineNum), 10)
	case kLineCount:
		if f.quoted {
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, int64(c.nLines), 10)
			return append(dst, '"')
		}
		return strconv.AppendInt(dst, int64(c.nLines), 10)
	case kAssoc:
		id, ok := r.assocID(f, c, 0)
		if !ok {
			return append(dst, "null"...)
		}
		return r.object(dst, f.obj, id, c, sel, mode)
	case kRefArray:
		h := r.hash(f, c)
		n := 0
		if f.nullPct < 50 && h%3 == 0 {
			n = 1 + int(h>>20%2)
		}
		dst = append(dst, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			id, _ := r.assocID(f, c, i+1)
			dst = r.object(dst, f.obj, id, c, sel, mode)
		}
		return append(dst, ']')
	case kObject:
		return r.object(dst, f.customObj(c.seq), 0, c, sel, mode)
	case kLines:
		dst = append(dst, '[')
		for i := 0; i < c.nLines; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			lc := lineCtx(c, i+1)
			if mode == modeShallow && sel == nil {
				dst = append(dst, `{"id":`...)
				dst = strconv.AppendInt(dst, lc.id, 10)
				dst = append(dst, '}')
				continue
			}
			dst = r.record(dst, f.lines, &lc, sel, modeFull)
		}
		return append(dst, ']')
	}
	start := len(dst)
	if f.quoted {
		dst = append(dst, '"')
	}
	body := len(dst)
	dst, null := r.scalar(dst, f, c)
	if null {
		return append(dst[:start], "null"...)
	}
	if f.quoted {
		dst = escapeTail(dst, body)
		dst = append(dst, '"')
	}
	return dst
}

// assocID picks the id of the n-th associated object, or reports null.
func (r *renderer) assocID(f *field, c *rctx, n int) (int64, bool) {
	h := r.hash(f, c)
	if n == 0 && f.nullPct > 0 && uint8(h%100) < f.nullPct {
		return 0, false
	}
	h = mix(h ^ uint64(n))
	return f.obj.base + int64(h>>8%uint64(f.obj.count)), true
}

func (r *renderer) object(dst []byte, o *objPlan, id int64, c *rctx, sel *selector, mode retMode) []byte {
	dst = append(dst, '{')
	first := true
	if !o.noID {
		if ok, _ := sel.child("id"); ok {
			dst = append(dst, `"id":`...)
			dst = strconv.AppendInt(dst, id, 10)
			first = false
		}
	}
	kc := rctx{id: id, created: c.created}
	if o.noID {
		kc = *c
	}
	for i, k := range o.keys {
		if mode == modeShallow && !o.noID && i > 0 {
			break
		}
		if ok, _ := sel.child(k.key); !ok {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, k.prefix...)
		dst = r.value(dst, k, &kc, nil, modeFull)
	}
	return append(dst, '}')
}

func (r *renderer) appendTime(dst []byte, unix int64) []byte {
	dst = append(dst, '"')
	dst = r.appendTimeRaw(dst, unix)
	return append(dst, '"')
}

func (r *renderer) appendTimeRaw(dst []byte, unix int64) []byte {
	return time.Unix(unix, 0).In(r.loc).AppendFormat(dst, dtLayout)
}

// scalar appends a scalar value as unescaped text (no quotes), or reports
// null. It is also the slow filter path's way to read one attribute.
func (r *renderer) scalar(dst []byte, f *field, c *rctx) ([]byte, bool) {
	h := r.hash(f, c)
	if f.nullPct > 0 && uint8(h%100) < f.nullPct {
		return dst, true
	}
	h = mix(h)
	switch f.kind {
	case kInt, kIntString:
		m := f.magnitude
		if m <= 0 {
			m = 1000
		}
		return strconv.AppendInt(dst, int64(h%uint64(m)), 10), false
	case kFloat:
		v := float64(h%uint64(f.magnitude*100)) / 100
		return strconv.AppendFloat(dst, v, 'f', -1, 64), false
	case kDecimal:
		return appendDecimal(dst, h, f.magnitude, f.scale), false
	case kBool, kBoolString:
		return strconv.AppendBool(dst, h%3 == 0), false
	case kTrue:
		return append(dst, "true"...), false
	case kFraction:
		// Quarters only: exactly representable, so every reader gets the
		// same number back, and never a whole number.
		m := f.magnitude
		if m <= 0 {
			m = 100
		}
		dst = strconv.AppendUint(dst, h%uint64(m), 10)
		return append(dst, quarters[h>>32%3]...), false
	case kEnum:
		return append(dst, pick(f.enum, h)...), false
	case kDatetime:
		// Dates around the record's creation; half of them at local midnight
		// as Coupa stores plain dates.
		t := c.created + int64(h%(90*86400)) - 45*86400
		if h>>50%2 == 0 {
			lt := time.Unix(t, 0).In(r.loc)
			t = time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, r.loc).Unix()
		}
		return time.Unix(t, 0).In(r.loc).AppendFormat(dst, dtLayout), false
	case kDate:
		t := c.created + int64(h%(60*86400)) - 30*86400
		return time.Unix(t, 0).In(r.loc).AppendFormat(dst, "2006-01-02"), false
	case kString:
		start := len(dst)
		dst = r.text(dst, f, c.id, h)
		if f.maxLen > 0 && len(dst)-start > f.maxLen {
			cut := start + f.maxLen
			for cut > start && !utf8.RuneStart(dst[cut]) {
				cut--
			}
			dst = dst[:cut]
		}
		return dst, false
	}
	return dst, true
}

func (r *renderer) text(dst []byte, f *field, id int64, h uint64) []byte {
	n := h >> 16 % 1000
	switch f.str {
	case sIDNumber:
		dst = append(dst, f.numPrefix...)
		return strconv.AppendInt(dst, id, 10)
	case sCompany:
		dst = append(dst, pick(companyPool, h)...)
		dst = append(dst, ' ')
		return strconv.AppendUint(dst, n, 10)
	case sPerson:
		if f.key == "fullname" { // a user's own name matches firstname/lastname
			h = mix(uint64(id) ^ r.seed)
		}
		dst = append(dst, pick(firstPool, h)...)
		dst = append(dst, ' ')
		return append(dst, pick(lastPool, h>>8)...)
	case sFirst:
		return append(dst, pick(firstPool, mix(uint64(id)^r.seed))...)
	case sLast:
		return append(dst, pick(lastPool, mix(uint64(id)^r.seed)>>8)...)
	case sEmail:
		dst = append(dst, "user"...)
		dst = strconv.AppendInt(dst, id, 10)
		return append(dst, "@example.com"...)
	case sLogin:
		dst = append(dst, "user"...)
		return strconv.AppendInt(dst, id, 10)
	case sPrefixed:
		dst = append(dst, f.numPrefix...)
		return strconv.AppendUint(dst, 1000+h>>20%9000, 10)
	case sLookupName:
		dst = append(dst, pick(lookupNamePool, h)...)
		dst = append(dst, ' ')
		return strconv.AppendInt(dst, id, 10)
	case sCode:
		dst = append(dst, "C-"...)
		return strconv.AppendUint(dst, h>>20%100000, 10)
	case sURL:
		dst = append(dst, "https://files.example.com/"...)
		return strconv.AppendUint(dst, h>>20%1000000, 16)
	case sUUID:
		const hex = "0123456789abcdef"
		x, y := h, mix(h)
		for i := 0; i < 32; i++ {
			if i == 8 || i == 12 || i == 16 || i == 20 {
				dst = append(dst, '-')
			}
			if i < 16 {
				dst = append(dst, hex[x>>(4*i)&15])
			} else {
				dst = append(dst, hex[y>>(4*(i-16))&15])
			}
		}
		return dst
	case sPhone:
		dst = append(dst, "+1 555 "...)
		return strconv.AppendUint(dst, 1000000+h>>20%9000000, 10)
	case sStreet:
		return append(dst, pick(streetPool, h)...)
	case sCity:
		return append(dst, pick(cityPool, h)...)
	case sCurrencyCode:
		return append(dst, currencyCodes[uint64(id-1)%uint64(len(currencyCodes))]...)
	case sCurrencyISO, sCurrencyName, sCurrencySymbol:
		return appendCurrency(dst, f.str, id)
	case sCountryCode:
		return append(dst, countryCodes[uint64(id-1)%uint64(len(countryCodes))]...)
	case sCountryName:
		return append(dst, countryNames[uint64(id-1)%uint64(len(countryNames))]...)
	case sText:
		words := 4 + int(h%12)
		for i := 0; i < words; i++ {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, pick(wordPool, mix(h+uint64(i)))...)
		}
		if h>>60 == 0 {
			dst = append(dst, "\nSee \"attachment\" — ref #"...)
			dst = strconv.AppendUint(dst, n, 10)
		}
		return dst
	}
	dst = append(dst, pick(wordPool, h)...)
	if h>>62 == 0 {
		dst = append(dst, '-')
		dst = append(dst, pick(wordPool, h>>8)...)
	}
	return dst
}

// appendDecimal writes a decimal the way Coupa does: a string with the
// column's scale, e.g. "567.07" or "1.108563219".
func appendDecimal(dst []byte, h uint64, magnitude int64, scale int) []byte {
	if magnitude <= 0 {
		magnitude = 1000
	}
	pow := uint64(1)
	for i := 0; i < scale; i++ {
		pow *= 10
	}
	units := h % uint64(magnitude)
	if magnitude == 2 { // exchange rates near 1
		units = 0 + h%2
	}
	dst = strconv.AppendUint(dst, units, 10)
	if scale == 0 {
		return dst
	}
	frac := (h >> 24) % pow
	dst = append(dst, '.')
	s := strconv.FormatUint(frac, 10)
	for i := len(s); i < scale; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// escapeTail JSON-escapes dst[from:] in place when it needs it; generated
// text rarely does, so the common case is one scan and no copy.
func escapeTail(dst []byte, from int) []byte {
	need := false
	for _, b := range dst[from:] {
		if b < 0x20 || b == '"' || b == '\\' {
			need = true
			break
		}
	}
	if !need {
		return dst
	}
	raw := string(dst[from:])
	dst = dst[:from]
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		switch {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b == '\n':
			dst = append(dst, '\\', 'n')
		case b < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, "0123456789abcdef"[b>>4], "0123456789abcdef"[b&15])
		default:
			dst = append(dst, b)
		}
	}
	return dst
}
