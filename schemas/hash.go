package schemas

import (
	"errors"

	"github.com/cespare/xxhash/v2"
)

// ContentHash hashes the Avro binary of a value written with t, leaving out
// what schema evolution adds to the same JSON: the custom view (a typed
// copy of custom_fields, which is hashed) and learned fields that are
// null. So the same Coupa JSON hashes alike under every version of a
// subject that learned from records before the JSON was converted, which
// is how a version published already is told from new content across an
// evolution and a restart. (A learned integer widened to double is the
// exception: its values hash anew once.)
func (t *Table) ContentHash(avroBinary []byte) (uint64, error) {
	h := hasher{b: avroBinary, d: xxhash.New()}
	if err := h.record(t.root); err != nil {
		return 0, err
	}
	if h.i != len(h.b) {
		return 0, errTrailing
	}
	_, _ = h.d.Write(h.b[h.from:])
	return h.d.Sum64(), nil
}

var (
	errShort    = errors.New("schemas: Avro binary ends early")
	errTrailing = errors.New("schemas: Avro binary has bytes after the record")
)

// hasher walks Avro binary by a plan, hashing every byte but skipped
// spans; from is where the bytes not hashed yet start.
type hasher struct {
	b       []byte
	i, from int
	d       *xxhash.Digest
	quiet   int // > 0 inside a span that is skipped whole
}

// skip leaves b[start:h.i] out of the hash.
func (h *hasher) skip(start int) {
	if h.quiet > 0 {
		return
	}
	_, _ = h.d.Write(h.b[h.from:start])
	h.from = h.i
}

func (h *hasher) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if h.i >= len(h.b) {
			return 0, errShort
		}
		c := h.b[h.i]
		h.i++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("schemas: varint overflows")
}

func (h *hasher) advance(n int64) error {
	if n < 0 || int64(len(h.b)-h.i) < n {
		return errShort
	}
	h.i += int(n)
	return nil
}

func (h *hasher) record(rp *recordPlan) error {
	for fi := range rp.fields {
		f := &rp.fields[fi]
		start := h.i
		if fi == rp.extra {
			if err := h.union(func() error { return h.mapOfStrings() }); err != nil {
				return err
			}
			continue
		}
		var err error
		if f.kind == kView {
			h.quiet++
		}
		if f.nullable {
			err = h.union(func() error { return h.value(&f.valuePlan) })
		} else {
			err = h.value(&f.valuePlan)
		}
		if f.kind == kView {
			h.quiet--
		}
		if err != nil {
			return err
		}
		if f.kind == kView || f.learned && h.i == start+1 && h.b[start] == unionNull {
			h.skip(start)
		}
	}
	return nil
}

func (h *hasher) union(value func() error) error {
	branch, err := h.long()
	if err != nil || branch == 0 {
		return err
	}
	return value()
}

func (h *hasher) value(vp *valuePlan) error {
	switch vp.kind {
	case kLong, kDatetime, kDate:
		_, err := h.long()
		return err
	case kBool:
		return h.advance(1)
	case kDouble:
		return h.advance(8)
	case kString, kJSON, kDecimal:
		n, err := h.long()
		if err != nil {
			return err
		}
		return h.advance(n)
	case kJSONMap:
		return h.mapOfStrings()
	case kRecord, kView:
		return h.record(vp.rec)
	case kArray:
		return h.blocks(func() error { return h.value(vp.items) })
	}
	return errors.New("schemas: internal: no walker for a kind")
}

func (h *hasher) mapOfStrings() error {
	str := func() error {
		n, err := h.long()
		if err != nil {
			return err
		}
		return h.advance(n)
	}
	return h.blocks(func() error {
		if err := str(); err != nil {
			return err
		}
		return str()
	})
}

// blocks walks an array's or a map's blocks of items.
func (h *hasher) blocks(item func() error) error {
	for {
		n, err := h.long()
		if err != nil || n == 0 {
			return err
		}
		if n < 0 { // a block with its size in bytes
			n = -n
			if _, err := h.long(); err != nil {
				return err
			}
		}
		for ; n > 0; n-- {
			if err := item(); err != nil {
				return err
			}
		}
	}
}
