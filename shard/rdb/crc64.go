package rdb

import (
	"encoding/binary"
	"math/bits"
)

// Redis's CRC-64 (crc64.c): the Jones polynomial, reflected input and
// output, initial value 0 and no final XOR. Its check value, the CRC of
// "123456789", is 0xe9c6d914c4b8d9ca.
const jonesPoly = 0xad93d23594c935a9

// crcTable[k][b] is the CRC of byte b followed by k zero bytes, for
// slicing-by-8.
var crcTable = makeCRCTable()

func makeCRCTable() *[8][256]uint64 {
	rev := bits.Reverse64(jonesPoly)
	t := new([8][256]uint64)
	for i := range 256 {
		c := uint64(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ rev
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}

// CRC64 returns crc updated with p; start with 0.
func CRC64(crc uint64, p []byte) uint64 {
	t := crcTable
	for len(p) >= 8 {
		crc ^= binary.LittleEndian.Uint64(p)
		crc = t[7][crc&0xff] ^ t[6][crc>>8&0xff] ^ t[5][crc>>16&0xff] ^ t[4][crc>>24&0xff] ^
			t[3][crc>>32&0xff] ^ t[2][crc>>40&0xff] ^ t[1][crc>>48&0xff] ^ t[0][crc>>56]
		p = p[8:]
	}
	for _, b := range p {
		crc = t[0][byte(crc)^b] ^ crc>>8
	}
	return crc
}
