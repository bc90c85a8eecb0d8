package faultproxy

import (
	"bufio"
	"errors"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var errMalformed = errors.New("faultproxy: malformed request")

// prefix reads the start of a request body while keeping every byte read,
// so that the relay can look into a request and still forward it whole.
type prefix struct {
	r    *bufio.Reader
	b    []byte // every byte of the frame read so far, size included
	left int64  // bytes of the frame not read yet
}

func (x *prefix) take(n int) ([]byte, error) {
	if n < 0 || int64(n) > x.left {
		return nil, errMalformed
	}
	at := len(x.b)
	x.b = append(x.b, make([]byte, n)...)
	if _, err := io.ReadFull(x.r, x.b[at:]); err != nil {
		return nil, err
	}
	x.left -= int64(n)
	return x.b[at:], nil
}

func (x *prefix) int16() (int16, error) {
	b, err := x.take(2)
	if err != nil {
		return 0, err
	}
	return int16(b[0])<<8 | int16(b[1]), nil
}

func (x *prefix) uvarint() (int, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		b, err := x.take(1)
		if err != nil {
			return 0, err
		}
		v |= uint64(b[0]&0x7f) << shift
		if b[0] < 0x80 {
			if v > 1<<31-1 {
				return 0, errMalformed
			}
			return int(v), nil
		}
	}
	return 0, errMalformed
}

// nullableString skips an int16-length string (-1 is null).
func (x *prefix) nullableString() error {
	n, err := x.int16()
	if err == nil && n > 0 {
		_, err = x.take(int(n))
	}
	return err
}

// compactString skips a compact nullable string: uvarint length+1, 0 null.
func (x *prefix) compactString() error {
	n, err := x.uvarint()
	if err == nil && n > 1 {
		_, err = x.take(n - 1)
	}
	return err
}

// produceAcks reads a Produce request up to its acks field. Past the fixed
// header: the client id (always an int16 string, even in the flexible v2
// header), the header's tagged fields if flexible (Produce v9+), the
// transactional id (v3+, compact if flexible), then acks.
func (x *prefix) produceAcks(version int16) (int16, error) {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	flexible := req.IsFlexible()
	if err := x.nullableString(); err != nil {
		return 0, err
	}
	if flexible {
		n, err := x.uvarint()
		for i := 0; err == nil && i < n; i++ {
			if _, err = x.uvarint(); err != nil { // tag
				break
			}
			var size int
			if size, err = x.uvarint(); err == nil {
				_, err = x.take(size)
			}
		}
		if err != nil {
			return 0, err
		}
	}
	if version >= 3 {
		var err error
		if flexible {
			err = x.compactString()
		} else {
			err = x.nullableString()
		}
		if err != nil {
			return 0, err
		}
	}
	return x.int16()
}
