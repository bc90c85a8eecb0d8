package schemas

import (
	"encoding/binary"
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
//
// Extra maps hash as the set of their entries that are not null: a key the
// schema lacks waits in extra, null included (a null teaches no type), so
// the same JSON converted before a later version learned that key from
// another record has {"key": "null"} in extra where the later version has
// a learned field that is null; and a value that does not fit a learned
// field joins extra after the keys the schema lacks, where an older
// version kept it in the JSON's order.
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
			if err := h.extra(start); err != nil {
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

// extra walks an extra map (["null", map of strings]) that starts at
// start and hashes it as the set of its entries that are not JSON null
// (see ContentHash): how many, and the sum of the entries' own hashes.
func (h *hasher) extra(start int) error {
	var n, sum uint64
	err := h.union(func() error {
		return h.blocks(func() error {
			key, err := h.str()
			if err != nil {
				return err
			}
			val, err := h.str()
			if err != nil || string(val) == "null" {
				return err
			}
			n++
			sum += entryHash(key, val)
			return nil
		})
	})
	if err != nil || h.quiet > 0 {
		return err
	}
	h.skip(start)
	var b [binary.MaxVarintLen64 + 8]byte
	out := binary.AppendUvarint(b[:0], n)
	if n > 0 {
		out = binary.LittleEndian.AppendUint64(out, sum)
	}
	_, _ = h.d.Write(out)
	return nil
}

// str reads an Avro string (or bytes) and returns its content.
func (h *hasher) str() ([]byte, error) {
	n, err := h.long()
	if err != nil {
		return nil, err
	}
	from := h.i
	if err := h.advance(n); err != nil {
		return nil, err
	}
	return h.b[from:h.i], nil
}

// entryHash hashes one map entry, the key's length first.
func entryHash(key, val []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [binary.MaxVarintLen64]byte
	_, _ = d.Write(binary.AppendUvarint(b[:0], uint64(len(key))))
	_, _ = d.Write(key)
	_, _ = d.Write(val)
	return d.Sum64()
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
