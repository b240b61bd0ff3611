package conn

// splitArgs splits a line into arguments the way Redis's sdssplitargs
// does (script and library shebang lines, and later config files):
// arguments are separated by spaces; "double quotes" take the escapes
// \n \r \t \b \a \\ \" and \xHH; 'single quotes' take \'. A closing quote
// must be followed by a space or the end of the line. ok is false for
// unbalanced quotes.
func splitArgs(line string) (args []string, ok bool) {
	i := 0
	for {
		for i < len(line) && isSplitSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, true
		}
		var cur []byte
		inDouble, inSingle := false, false
		for done := false; !done; {
			if i == len(line) {
				if inDouble || inSingle {
					return nil, false
				}
				break
			}
			ch := line[i]
			switch {
			case inDouble:
				switch {
				case ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 3
				case ch == '\\' && i+1 < len(line):
					i++
					cur = append(cur, unescape(line[i]))
				case ch == '"':
					if i+1 < len(line) && !isSplitSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, ch)
				}
			case inSingle:
				switch {
				case ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case ch == '\'':
					if i+1 < len(line) && !isSplitSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, ch)
				}
			default:
				switch {
				case isSplitSpace(ch):
					done = true
				case ch == '"':
					inDouble = true
				case ch == '\'':
					inSingle = true
				default:
					cur = append(cur, ch)
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, string(cur))
	}
}

func isSplitSpace(ch byte) bool {
	return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == 0
}

func isHex(ch byte) bool {
	return ('0' <= ch && ch <= '9') || ('a' <= ch && ch <= 'f') || ('A' <= ch && ch <= 'F')
}

func hexVal(ch byte) byte {
	switch {
	case '0' <= ch && ch <= '9':
		return ch - '0'
	case 'a' <= ch && ch <= 'f':
		return ch - 'a' + 10
	}
	return ch - 'A' + 10
}

func unescape(ch byte) byte {
	switch ch {
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
	return ch
}
