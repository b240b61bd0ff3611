package wire

// splitArgs splits an inline request line into arguments with the quoting
// rules of redis-cli and Redis's inline protocol: double quotes understand
// \n \r \t \b \a \\ \" and \xHH; single quotes understand only \'; a closing
// quote must be followed by a space or the end of the line. A NUL byte ends
// the line, as it does in Redis's C string handling.
//
// Unescaped bytes are appended to arena, which is returned grown. Slices
// already handed out stay valid because a full arena is replaced, not moved.
// ok is false on unbalanced quotes.
func splitArgs(line []byte, argv [][]byte, arena []byte) (_ [][]byte, _ []byte, ok bool) {
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) || line[p] == 0 {
			return argv, arena, true
		}
		if cap(arena)-len(arena) < len(line)-p {
			// Doubling lets an arena reused across Fills settle at the
			// size one buffer of inline requests needs.
			arena = make([]byte, 0, max(2*cap(arena), len(line), 256))
		}
		start := len(arena)
		inDouble, inSingle := false, false
	token:
		for {
			var c byte
			if p < len(line) {
				c = line[p]
			}
			switch {
			case inDouble:
				switch {
				case c == '\\' && p+3 < len(line) && line[p+1] == 'x' && isHex(line[p+2]) && isHex(line[p+3]):
					arena = append(arena, unhex(line[p+2])<<4|unhex(line[p+3]))
					p += 3
				case c == '\\' && p+1 < len(line) && line[p+1] != 0:
					p++
					arena = append(arena, unescape(line[p]))
				case c == '"':
					if p+1 < len(line) && line[p+1] != 0 && !isSpace(line[p+1]) {
						return argv, arena, false
					}
					p++
					break token
				case c == 0:
					return argv, arena, false
				default:
					arena = append(arena, c)
				}
			case inSingle:
				switch {
				case c == '\\' && p+1 < len(line) && line[p+1] == '\'':
					p++
					arena = append(arena, '\'')
				case c == '\'':
					if p+1 < len(line) && line[p+1] != 0 && !isSpace(line[p+1]) {
						return argv, arena, false
					}
					p++
					break token
				case c == 0:
					return argv, arena, false
				default:
					arena = append(arena, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					break token
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					arena = append(arena, c)
				}
			}
			p++
		}
		argv = append(argv, arena[start:len(arena):len(arena)])
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}

// SplitArgs splits line into arguments as Redis's sdssplitargs does (see
// splitArgs); ok is false on unbalanced quotes.
func SplitArgs(line []byte) (args [][]byte, ok bool) {
	args, _, ok = splitArgs(line, nil, nil)
	return args, ok
}
