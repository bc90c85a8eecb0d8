package coupa

import (
	"net/url"
	"strconv"
)

// MaxLimit is the most records Coupa returns in one response.
const MaxLimit = 50

// Op is a Coupa filter operator, written as attr[op]=value.
type Op string

// The filter operators Coupa documents. Eq is written as a bare attr=value.
const (
	Eq       Op = ""
	Gt       Op = "gt"
	Lt       Op = "lt"
	GtOrEq   Op = "gt_or_eq"
	LtOrEq   Op = "lt_or_eq"
	NotEq    Op = "not_eq"
	In       Op = "in"
	NotIn    Op = "not_in"
	Contains Op = "contains"
)

// Filter is one condition; all filters of a query are ANDed.
type Filter struct {
	Attr  string // underscored attribute name, e.g. "updated_at"
	Op    Op
	Value string // datetimes via FormatTime
}

// Query is one list call.
type Query struct {
	Filters []Filter
	// OrderBy is the attribute to sort by ("updated_at", "id"); Desc flips it.
	OrderBy string
	Desc    bool
	// Limit is capped at MaxLimit; zero means MaxLimit.
	Limit  int
	Offset int
	// Fields restricts the payload (Coupa's fields=[...] JSON); optional.
	Fields string
	// ReturnObject is "", "limited" or "shallow".
	ReturnObject string
}

// PageSize is the number of records a full answer to q holds.
func (q Query) PageSize() int {
	if q.Limit <= 0 || q.Limit > MaxLimit {
		return MaxLimit
	}
	return q.Limit
}

// Values encodes q as URL query parameters.
func (q Query) Values() url.Values {
	v := url.Values{}
	for _, f := range q.Filters {
		key := f.Attr
		if f.Op != Eq {
			key += "[" + string(f.Op) + "]"
		}
		v.Add(key, f.Value)
	}
	if q.OrderBy != "" {
		v.Set("order_by", q.OrderBy)
		if q.Desc {
			v.Set("dir", "desc")
		} else {
			v.Set("dir", "asc")
		}
	}
	v.Set("limit", strconv.Itoa(q.PageSize()))
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Fields != "" {
		v.Set("fields", q.Fields)
	}
	if q.ReturnObject != "" {
		v.Set("return_object", q.ReturnObject)
	}
	return v
}
