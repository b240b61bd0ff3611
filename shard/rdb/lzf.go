package rdb

// LZF, the compression RDB uses for strings. A compressed stream is a
// sequence of chunks, each led by a control byte c:
//
//	c < 32        a literal run: the next c+1 bytes are copied as they are
//	c >> 5 = 1..6 a back reference of (c>>5)+2 bytes
//	c >> 5 = 7    a back reference of 7+next+2 bytes
//
// A back reference is followed by one more byte o; it copies from
// ((c&31)<<8 | o) + 1 bytes behind the current output position, and may
// overlap the bytes it produces.

const (
	lzfMaxLit = 32
	lzfMaxOff = 1 << 13
	lzfMaxRef = 7 + 255 + 2
	// lzfMaxRatio bounds the expansion: three input bytes yield at most
	// lzfMaxRef output bytes.
	lzfMaxRatio = lzfMaxRef/3 + 1
)

// lzfDecompress expands in into out and reports whether in was a valid
// stream producing exactly len(out) bytes.
func lzfDecompress(in, out []byte) bool {
	ip, op := 0, 0
	for ip < len(in) {
		ctrl := int(in[ip])
		ip++
		if ctrl < 32 {
			n := ctrl + 1
			if n > len(in)-ip || n > len(out)-op {
				return false
			}
			copy(out[op:], in[ip:ip+n])
			ip += n
			op += n
			continue
		}
		n := ctrl >> 5
		if n == 7 {
			if ip >= len(in) {
				return false
			}
			n += int(in[ip])
			ip++
		}
		n += 2
		if ip >= len(in) {
			return false
		}
		ref := op - (ctrl&31)<<8 - int(in[ip]) - 1
		ip++
		if ref < 0 || n > len(out)-op {
			return false
		}
		for i := range n { // byte by byte: the source may overlap the target
			out[op+i] = out[ref+i]
		}
		op += n
	}
	return op == len(out)
}

// lzfCompress compresses in and returns the stream, or nil when it would
// be longer than limit bytes. It is a greedy matcher over a hash of the
// next three bytes.
func lzfCompress[T string | []byte](in T, limit int) []byte {
	if len(in) < 4 || limit <= 0 {
		return nil
	}
	hashBits := 8
	for hashBits < 14 && 1<<hashBits < len(in) {
		hashBits++
	}
	table := make([]int32, 1<<hashBits) // last position+1 of each hash
	hash := func(i int) uint32 {
		v := uint32(in[i])<<16 | uint32(in[i+1])<<8 | uint32(in[i+2])
		return v * 2654435761 >> (32 - hashBits)
	}
	out := make([]byte, 0, limit+lzfMaxLit)
	lit := 0 // start of the pending literal run
	i := 0
	for i+3 <= len(in) {
		h := hash(i)
		ref := int(table[h]) - 1
		table[h] = int32(i + 1)
		if ref < 0 || i-ref > lzfMaxOff || in[ref] != in[i] || in[ref+1] != in[i+1] || in[ref+2] != in[i+2] {
			i++
			continue
		}
		n := 3
		for maxN := min(len(in)-i, lzfMaxRef); n < maxN && in[ref+n] == in[i+n]; n++ {
		}
		out = lzfLiterals(out, in[lit:i])
		off := i - ref - 1
		if l := n - 2; l < 7 {
			out = append(out, byte(l<<5|off>>8))
		} else {
			out = append(out, byte(7<<5|off>>8), byte(l-7))
		}
		out = append(out, byte(off))
		if len(out) > limit {
			return nil
		}
		for j := i + 1; j < i+n && j+3 <= len(in); j++ {
			table[hash(j)] = int32(j + 1)
		}
		i += n
		lit = i
	}
	out = lzfLiterals(out, in[lit:])
	if len(out) > limit {
		return nil
	}
	return out
}

// lzfLiterals appends lits as literal runs.
func lzfLiterals[T string | []byte](out []byte, lits T) []byte {
	for len(lits) > 0 {
		n := min(len(lits), lzfMaxLit)
		out = append(out, byte(n-1))
		out = append(out, lits[:n]...)
		lits = lits[n:]
	}
	return out
}
