package schemas

// Avro binary primitives, appended to a []byte. See the Avro specification,
// "Binary Encoding": longs are zigzag varints, strings and bytes are a long
// length followed by the bytes, a union is the branch index then the value.

func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendBytes(dst, b []byte) []byte {
	return append(appendLong(dst, int64(len(b))), b...)
}

func appendString(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

// Union branches of ["null", T].
const (
	unionNull  = 0x00 // zigzag(0)
	unionValue = 0x02 // zigzag(1)
)
