package schemas

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"unsafe"
)

// Scalar parsers. Each returns ok=false when the JSON value does not fit
// the declared type exactly; the caller then keeps the value in extra.
// Nothing here rounds, truncates or guesses.

// parseInt parses a JSON integer token that fits an int64.
func parseInt(v []byte) (int64, bool) {
	neg := false
	if len(v) > 0 && v[0] == '-' {
		neg = true
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false // fraction or exponent: not an integer
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow a uint64
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// appendDecimal appends the Avro bytes of a plain decimal string ("-12.50")
// at the given scale: the unscaled value's minimal big-endian two's
// complement, as Java's BigInteger.toByteArray writes it. The string must be
// `-?digits(.digits)?`; exponents, '+', spaces and empty parts do not fit.
// Fraction digits beyond the scale must be zeros (dropping them keeps the
// exact value); a non-zero one, or more integer digits than precision-scale
// allow, does not fit.
func appendDecimal(dst, s []byte, precision, scale int) ([]byte, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		s = s[1:]
	}
	intPart, frac := s, []byte(nil)
	for i, c := range s {
		if c == '.' {
			intPart, frac = s[:i], s[i+1:]
			if len(frac) == 0 {
				return dst, false
			}
			break
		}
	}
	if len(intPart) == 0 {
		return dst, false
	}
	var hi, lo uint64
	digits := 0 // significant digits accumulated so far
	add := func(c byte) bool {
		if c < '0' || c > '9' {
			return false
		}
		if digits == 0 && c == '0' {
			return true
		}
		digits++
		if digits > precision {
			return false
		}
		// (hi,lo) = (hi,lo)*10 + d; precision <= 38 keeps it below 2^127.
		h, l := bits.Mul64(lo, 10)
		var carry uint64
		lo, carry = bits.Add64(l, uint64(c-'0'), 0)
		hi = hi*10 + h + carry
		return true
	}
	for _, c := range intPart {
		if !add(c) {
			return dst, false
		}
	}
	for i, c := range frac {
		if i >= scale {
			if c != '0' {
				return dst, false
			}
			continue
		}
		if !add(c) {
			return dst, false
		}
	}
	for i := len(frac); i < scale; i++ {
		if !add('0') {
			return dst, false
		}
	}
	if neg {
		// 128-bit two's complement negation.
		lo, hi = ^lo, ^hi
		var c uint64
		lo, c = bits.Add64(lo, 1, 0)
		hi += c
	}
	var be [16]byte
	for i := 0; i < 8; i++ {
		be[i] = byte(hi >> (56 - 8*i))
		be[8+i] = byte(lo >> (56 - 8*i))
	}
	// Minimal form: drop leading bytes that only repeat the sign.
	n := 0
	for n < 15 && (be[n] == 0 && be[n+1]&0x80 == 0 || be[n] == 0xff && be[n+1]&0x80 != 0) {
		n++
	}
	return appendBytes(dst, be[n:]), true
}

// parseDatetime parses RFC 3339 with a mandatory zone,
// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)", into Unix milliseconds. A
// fraction finer than a millisecond must be zeros (Coupa sends whole
// seconds); anything else (no zone, lowercase 't'/'z', leap second, Feb 30)
// does not fit.
func parseDatetime(s []byte) (int64, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	rest := s[19:]
	var ms int64
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			d := int64(rest[i] - '0')
			switch {
			case i <= 3:
				ms = ms*10 + d
			case d != 0:
				return 0, false // sub-millisecond precision would be lost
			}
			i++
		}
		if i == 1 || i > 10 {
			return 0, false
		}
		for k := i; k <= 3; k++ {
			ms *= 10
		}
		rest = rest[i:]
	}
	var offMin int64
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		offMin = oh*60 + om
		if rest[0] == '-' {
			offMin = -offMin
		}
	default:
		return 0, false
	}
	days := daysFromCivil(year, month, day)
	secs := days*86400 + hour*3600 + minute*60 + sec - offMin*60
	// The UTC instant must itself be writable in RFC 3339 (years 0000 to
	// 9999): "0000-01-01T00:00:00+01:00" is in year -1 in UTC.
	if secs < minRFC3339 || secs >= maxRFC3339 {
		return 0, false
	}
	return secs*1000 + ms, true
}

// Unix seconds of 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
var (
	minRFC3339 = daysFromCivil(0, 1, 1) * 86400
	maxRFC3339 = daysFromCivil(10000, 1, 1) * 86400
)

func num(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func daysIn(month, year int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's days_from_civil: days since 1970-01-01
// in the proleptic Gregorian calendar.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= -1 here, and -1/400 == 0 is what the formula wants for 0000
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// parseDouble parses a JSON number for a double field. It fits only when
// the double's shortest decimal form has exactly the value of the text, so
// that ToJSON gives the same number back: any text with at most 15
// significant digits does (IEEE 754 double guarantees 15), longer ones are
// compared exactly. Overflow, underflow and subnormals do not fit.
func parseDouble(v []byte) (float64, bool) {
	if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return 0, false // not a JSON number
	}
	// v is a validated JSON number and is not retained: ParseFloat's error,
	// which would hold the string, is discarded.
	f, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
	if err != nil {
		return 0, false
	}
	sig, nonZero := significantDigits(v)
	if a := math.Abs(f); nonZero && (a == 0 || a < 0x1p-1022) {
		return 0, false
	}
	if sig <= 15 {
		return f, true
	}
	want, ok1 := new(big.Rat).SetString(string(v))
	got, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return f, ok1 && ok2 && want.Cmp(got) == 0
}

// significantDigits counts the mantissa digits of a JSON number from the
// first to the last non-zero one.
func significantDigits(v []byte) (n int, nonZero bool) {
	first, last, pos := -1, -1, 0
	for _, c := range v {
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' {
			continue
		}
		if c != '0' {
			if first < 0 {
				first = pos
			}
			last = pos
		}
		pos++
	}
	if first < 0 {
		return 0, false
	}
	return last - first + 1, true
}
