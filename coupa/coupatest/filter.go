package coupatest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// target says where a filter's value comes from: the compact state (fast,
// for id and the timestamps) or a generated attribute (the slow path).
type target uint8

const (
	tID target = iota
	tCreated
	tUpdated
	tAttr
)

var ops = map[string]bool{"": true, "gt": true, "lt": true, "gt_or_eq": true, "lt_or_eq": true, "not_eq": true,
	"in": true, "not_in": true, "contains": true, "starts_with": true, "ends_with": true, "blank": true}

type filter struct {
	attr   string // as the client wrote it, for error messages
	target target
	field  *field
	sub    *field // association's natural key, or nil for its id
	subID  bool
	op     string
	values []string
	nums   []float64 // numeric values (ids, numbers, datetimes as timeNum)
	blank  bool
	kind   valKind
}

type valKind uint8

const (
	vString valKind = iota
	vNumber
	vTime
	vBool
)

// badQuery is a 400 with Coupa's error body {"errors":{field:[msg]}}.
type badQuery struct{ field, msg string }

func (e *badQuery) Error() string { return e.field + " " + e.msg }

// timeNum is a datetime as float seconds: exact for whole seconds, and
// fine-grained enough for a client that sends fractions.
func timeNum(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// parseTimeValue accepts what Coupa documents: ISO 8601 with a zone, or a
// bare date meaning midnight UTC. A datetime without zone, or with the
// "+" of the offset turned into a space by a client that forgot to
// URL-encode it, is rejected.
func parseTimeValue(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// parseFilter builds one filter from a query key like
// "updated_at[gt_or_eq]" or "supplier[name][contains]".
func parseFilter(p *plan, key string, values []string) (*filter, error) {
	name, parts, err := splitKey(key)
	if err != nil {
		return nil, &badQuery{key, "is not a valid filter"}
	}
	attr := hyphenate(name)
	f := &filter{attr: name}
	// created_at and updated_at exist only where the definition has them:
	// filtering a table without updated-at (currencies) on it is a 400.
	switch {
	case attr == "id":
		f.target, f.kind = tID, vNumber
	case attr == "created-at" && p.byKey[attr] != nil:
		f.target, f.kind = tCreated, vTime
	case attr == "updated-at" && p.byKey[attr] != nil:
		f.target, f.kind = tUpdated, vTime
	default:
		fd, ok := p.byKey[attr]
		if !ok || !filterable(fd) {
			return nil, &badQuery{name, "is not a valid attribute for filtering"}
		}
		f.target, f.field = tAttr, fd
	}
	// An association takes a nested attribute before the operator.
	if f.field != nil && f.field.obj != nil {
		if len(parts) == 0 || ops[parts[0]] {
			return nil, &badQuery{name, "needs a nested attribute, e.g. " + name + "[id]"}
		}
		sub := hyphenate(parts[0])
		parts = parts[1:]
		if sub == "id" && !f.field.obj.noID {
			f.subID = true
		} else {
			keys := f.field.obj.keys
			if f.field.custom != nil { // every key the instance has had
				keys = f.field.custom.latest().obj.keys
			}
			for _, k := range keys {
				if k.key == sub {
					f.sub = k
				}
			}
			if f.sub == nil {
				return nil, &badQuery{name + "[" + sub + "]", "is not a valid attribute for filtering"}
			}
		}
	}
	if len(parts) > 1 || (len(parts) == 1 && !ops[parts[0]]) {
		return nil, &badQuery{key, "has an unknown operator"}
	}
	if len(parts) == 1 {
		f.op = parts[0]
	}
	if f.target == tAttr {
		f.kind = kindOf(f.field, f.sub, f.subID)
	}
	var vals []string
	for _, v := range values {
		if f.op == "in" || f.op == "not_in" {
			vals = append(vals, strings.Split(v, ",")...)
		} else {
			vals = append(vals, v)
		}
	}
	f.values = vals
	if f.op == "blank" {
		if len(vals) != 1 {
			return nil, &badQuery{name, "blank takes true or false"}
		}
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			return nil, &badQuery{name, "blank takes true or false"}
		}
		f.blank = b
		return f, nil
	}
	if f.op == "contains" || f.op == "starts_with" || f.op == "ends_with" {
		if f.target != tAttr {
			return nil, &badQuery{name, "does not support " + f.op}
		}
		return f, nil
	}
	switch f.kind {
	case vNumber:
		for _, v := range vals {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, &badQuery{name, fmt.Sprintf("%q is not a number", v)}
			}
			f.nums = append(f.nums, n)
		}
	case vTime:
		for _, v := range vals {
			t, ok := parseTimeValue(v)
			if !ok {
				return nil, &badQuery{name, fmt.Sprintf("%q is not an ISO 8601 datetime with a zone", v)}
			}
			f.nums = append(f.nums, timeNum(t))
		}
	}
	return f, nil
}

func filterable(f *field) bool {
	switch f.kind {
	case kLines, kRefArray, kEmptyArray:
		return false
	}
	return true
}

func kindOf(f, sub *field, subID bool) valKind {
	if subID {
		return vNumber
	}
	if sub != nil {
		f = sub
	}
	switch f.kind {
	case kInt, kIntString, kFloat, kFraction, kDecimal, kID, kParentID, kLineCount, kLineNum:
		return vNumber
	case kDatetime, kDate, kCreated, kUpdated:
		return vTime
	case kBool, kBoolString, kTrue:
		return vBool
	}
	return vString
}

// splitKey splits "a[b][c]" into "a" and ["b","c"].
func splitKey(key string) (string, []string, error) {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return key, nil, nil
	}
	name, rest := key[:i], key[i:]
	var parts []string
	for rest != "" {
		if rest[0] != '[' {
			return "", nil, fmt.Errorf("bad key")
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return "", nil, fmt.Errorf("bad key")
		}
		parts = append(parts, rest[1:j])
		rest = rest[j+1:]
	}
	return name, parts, nil
}

// bounds narrows [lo, hi] (unix seconds) by a timestamp or id filter so
// the scan can start at a binary-searched position. The exact comparison
// still runs per record.
func (f *filter) bounds(lo, hi int64) (int64, int64) {
	if len(f.nums) == 0 {
		return lo, hi
	}
	conv := func(x float64) (int64, int64) {
		return int64(math.Floor(x)), int64(math.Ceil(x))
	}
	switch f.op {
	case "", "in":
		mn, mx := math.Inf(1), math.Inf(-1)
		for _, n := range f.nums {
			mn, mx = math.Min(mn, n), math.Max(mx, n)
		}
		a, _ := conv(mn)
		_, b := conv(mx)
		return max(lo, a), min(hi, b)
	case "gt", "gt_or_eq":
		a, _ := conv(f.nums[0])
		return max(lo, a), hi
	case "lt", "lt_or_eq":
		_, b := conv(f.nums[0])
		return lo, min(hi, b)
	}
	return lo, hi
}

// matchFast evaluates a filter on id, created_at or updated_at.
func (f *filter) matchFast(st state) bool {
	var v float64
	switch f.target {
	case tID:
		v = float64(st.id)
	case tCreated:
		v = float64(st.created)
	case tUpdated:
		v = float64(st.updated)
	}
	if f.op == "blank" {
		return !f.blank
	}
	return compareNums(f.op, v, f.nums)
}

func compareNums(op string, v float64, nums []float64) bool {
	switch op {
	case "":
		for _, n := range nums {
			if v != n {
				return false
			}
		}
		return true
	case "gt":
		return v > nums[0]
	case "lt":
		return v < nums[0]
	case "gt_or_eq":
		return v >= nums[0]
	case "lt_or_eq":
		return v <= nums[0]
	case "not_eq":
		for _, n := range nums {
			if v == n {
				return false
			}
		}
		return true
	case "in":
		for _, n := range nums {
			if v == n {
				return true
			}
		}
		return false
	case "not_in":
		for _, n := range nums {
			if v == n {
				return false
			}
		}
		return true
	}
	return false
}

// matchValue evaluates a filter on an attribute's generated text; null is
// SQL NULL: it matches nothing but blank=true.
func (f *filter) matchValue(text string, null bool) bool {
	if f.op == "blank" {
		return (null || text == "") == f.blank
	}
	if null {
		return false
	}
	switch f.op {
	case "contains":
		return strings.Contains(strings.ToLower(text), strings.ToLower(f.values[0]))
	case "starts_with":
		return strings.HasPrefix(strings.ToLower(text), strings.ToLower(f.values[0]))
	case "ends_with":
		return strings.HasSuffix(strings.ToLower(text), strings.ToLower(f.values[0]))
	}
	switch f.kind {
	case vNumber:
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return false
		}
		return compareNums(f.op, n, f.nums)
	case vTime:
		t, ok := parseTimeValue(text)
		if !ok {
			return false
		}
		return compareNums(f.op, timeNum(t), f.nums)
	case vBool:
		b, _ := strconv.ParseBool(text)
		vals := make([]float64, 0, len(f.values))
		for _, v := range f.values {
			x, _ := strconv.ParseBool(v)
			vals = append(vals, b2f(x))
		}
		return compareNums(f.op, b2f(b), vals)
	}
	return compareStrings(f.op, text, f.values)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func compareStrings(op, v string, vals []string) bool {
	switch op {
	case "", "in":
		for _, x := range vals {
			if v == x {
				return true
			}
		}
		return false
	case "not_eq", "not_in":
		for _, x := range vals {
			if v == x {
				return false
			}
		}
		return true
	case "gt":
		return v > vals[0]
	case "lt":
		return v < vals[0]
	case "gt_or_eq":
		return v >= vals[0]
	case "lt_or_eq":
		return v <= vals[0]
	}
	return false
}
