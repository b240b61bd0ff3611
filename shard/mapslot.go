package shard

import "unsafe"

// A read updates the access metadata of the key it finds (access.go). Go's
// maps have no way to change a value in place, and writing the entry back
// with m[string(key)] = e would not do: the assignment hashes the key a
// second time, and it stores the key string it is given in the slot
// (string keys are replaced on update), so that string must be a fresh
// heap copy, an allocation on every read whose metadata changed. The
// runtime's own lookup, which m[string(key)] compiles to, returns a pointer
// to the value in its slot; calling it directly lets a read change the
// metadata word in place, with one lookup, no allocation and no write
// barrier (the word holds no pointer). The pointer is used at once, before
// anything can change the map, and only when the key was found (a miss
// points at a shared zero value).
//
// runtime.mapaccess2_faststr is one of the runtime functions that the Go
// team keeps callable by linkname, with its signature unchanged, because
// widely used packages call it (see its comment in runtime/map_faststr.go).
// TestMapSlot pins the behaviour this file relies on.

//go:linkname mapaccess2_faststr runtime.mapaccess2_faststr
//go:noescape
func mapaccess2_faststr(typ, m unsafe.Pointer, key string) (unsafe.Pointer, bool)

// typeWord returns the type descriptor of the map in m, the *abi.MapType
// that the runtime's map functions take.
func typeWord(m any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(&m))[0] }

var (
	strsType = typeWord(map[string]strEntry(nil))
	objsType = typeWord(map[string]objEntry(nil))
)

// keyString views key as a string for a lookup that does not keep it.
func keyString(key []byte) string { return unsafe.String(unsafe.SliceData(key), len(key)) }

// strSlot returns a pointer to key's entry in db.strs, or nil. It is valid
// until the next change to the map.
func (db *DB) strSlot(key []byte) *strEntry {
	p, ok := mapaccess2_faststr(strsType, *(*unsafe.Pointer)(unsafe.Pointer(&db.strs)), keyString(key))
	if !ok {
		return nil
	}
	return (*strEntry)(p)
}

// objSlot returns a pointer to key's entry in db.objs, or nil. It is valid
// until the next change to the map.
func (db *DB) objSlot(key []byte) *objEntry {
	p, ok := mapaccess2_faststr(objsType, *(*unsafe.Pointer)(unsafe.Pointer(&db.objs)), keyString(key))
	if !ok {
		return nil
	}
	return (*objEntry)(p)
}
