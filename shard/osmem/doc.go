// Package osmem gives memory back to the operating system after large
// buffers are dropped.
//
// Buffer owners (connections, the request reader) drop a buffer whose
// capacity is above Keep once it has been used, instead of keeping it for
// the next request, and report its size with Released. Dropping is not
// enough on its own: the heap only shrinks after a garbage collection, and
// an idle server allocates nothing that would start one, so the memory of
// a 200 MB reply would stay resident. Once enough has been released,
// Released schedules one debug.FreeOSMemory (a collection followed by
// returning every free page) on a timer, at most once per Interval and
// never on the caller's goroutine.
package osmem
