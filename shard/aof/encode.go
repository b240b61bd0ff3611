package aof

import "strconv"

// AppendCommand appends args in the AOF (RESP multibulk) form Redis writes,
// "*<n>\r\n" then "$<len>\r\n<arg>\r\n" per argument
// (catAppendOnlyGenericCommand).
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendCommandString is AppendCommand for string arguments.
func AppendCommandString(dst []byte, args ...string) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for _, a := range args {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, a...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendSelect appends the SELECT Redis writes before a command for
// another database than the previous one (feedAppendOnlyFile).
func AppendSelect(dst []byte, db int) []byte {
	var num [20]byte
	n := strconv.AppendInt(num[:0], int64(db), 10)
	dst = append(dst, "*2\r\n$6\r\nSELECT\r\n$"...)
	dst = strconv.AppendInt(dst, int64(len(n)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, n...)
	return append(dst, '\r', '\n')
}

// AppendTimestamp appends the "#TS:<unix seconds>\r\n" annotation Redis
// writes with aof-timestamp-enabled yes (before a command, when the second
// changed, and at the start of a rewritten base without RDB preamble).
func AppendTimestamp(dst []byte, unix int64) []byte {
	dst = append(dst, "#TS:"...)
	dst = strconv.AppendInt(dst, unix, 10)
	return append(dst, '\r', '\n')
}
