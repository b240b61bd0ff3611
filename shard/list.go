package shard

// List is a Redis list: a double-ended queue of strings in a ring buffer,
// so pushes and pops at either end are O(1) and indexing is O(1).
type List struct {
	buf  []string // capacity is zero or a power of two
	head int      // index of the first element in buf
	n    int

	born int64 // arrival time of the command that created it (arrival.go)
}

func (*List) typeName() string { return "list" }

// Len reports the number of elements.
func (l *List) Len() int { return l.n }

// At returns element i, 0 <= i < Len.
func (l *List) At(i int) string { return l.buf[(l.head+i)&(len(l.buf)-1)] }

// SetAt replaces element i, 0 <= i < Len.
func (l *List) SetAt(i int, s string) { l.buf[(l.head+i)&(len(l.buf)-1)] = s }

func (l *List) grow() {
	if l.n < len(l.buf) {
		return
	}
	nb := make([]string, max(4, 2*len(l.buf)))
	for i := 0; i < l.n; i++ {
		nb[i] = l.At(i)
	}
	l.buf, l.head = nb, 0
}

// PushFront adds s at the head.
func (l *List) PushFront(s string) {
	l.grow()
	l.head = (l.head - 1) & (len(l.buf) - 1)
	l.buf[l.head] = s
	l.n++
}

// PushBack adds s at the tail.
func (l *List) PushBack(s string) {
	l.grow()
	l.buf[(l.head+l.n)&(len(l.buf)-1)] = s
	l.n++
}

// PopFront removes and returns the head; the list must not be empty.
func (l *List) PopFront() string {
	s := l.buf[l.head]
	l.buf[l.head] = ""
	l.head = (l.head + 1) & (len(l.buf) - 1)
	l.n--
	l.shrink()
	return s
}

// PopBack removes and returns the tail; the list must not be empty.
func (l *List) PopBack() string {
	i := (l.head + l.n - 1) & (len(l.buf) - 1)
	s := l.buf[i]
	l.buf[i] = ""
	l.n--
	l.shrink()
	return s
}

// shrink halves the buffer when it is mostly empty, so a drained list does
// not keep its peak memory.
func (l *List) shrink() {
	if len(l.buf) > 64 && l.n < len(l.buf)/4 {
		nb := make([]string, len(l.buf)/2)
		for i := 0; i < l.n; i++ {
			nb[i] = l.At(i)
		}
		l.buf, l.head = nb, 0
	}
}

// Slice returns the elements start..stop (inclusive, already clamped to
// valid indexes) as a new slice.
func (l *List) Slice(start, stop int) []string {
	out := make([]string, 0, stop-start+1)
	for i := start; i <= stop; i++ {
		out = append(out, l.At(i))
	}
	return out
}

// Insert puts s before position i (0 <= i <= Len), shifting the tail.
func (l *List) Insert(i int, s string) {
	l.PushBack("")
	for j := l.n - 1; j > i; j-- {
		l.SetAt(j, l.At(j-1))
	}
	l.SetAt(i, s)
}

// RemoveAt deletes element i, shifting the tail.
func (l *List) RemoveAt(i int) {
	for j := i; j < l.n-1; j++ {
		l.SetAt(j, l.At(j+1))
	}
	l.PopBack()
}

// Keep trims the list to the elements start..stop (inclusive, clamped);
// start > stop empties it.
func (l *List) Keep(start, stop int) {
	if start > stop {
		*l = List{}
		return
	}
	nb := make([]string, max(4, ceilPow2(stop-start+1)))
	for i := start; i <= stop; i++ {
		nb[i-start] = l.At(i)
	}
	l.buf, l.head, l.n = nb, 0, stop-start+1
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
