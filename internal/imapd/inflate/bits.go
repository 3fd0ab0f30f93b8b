package inflate

import "encoding/binary"

// Bits are taken least significant first (RFC 1951 3.1.1). The
// accumulator may hold, above its nbits counted bits, some bits of the
// bytes at pos: they are the stream's own next bits, so loading them
// again changes nothing.

// refill tops the accumulator up to at least 56 bits, or with all the
// buffered input.
func (r *Reader) refill() {
	if r.nbits >= 56 {
		return
	}
	if r.pos+8 <= r.end {
		r.bits |= binary.LittleEndian.Uint64(r.in[r.pos:]) << r.nbits
		r.pos += int(63-r.nbits) >> 3
		r.nbits |= 56
		return
	}
	for r.nbits <= 56 && r.pos < r.end {
		r.bits |= uint64(r.in[r.pos]) << r.nbits
		r.pos++
		r.nbits += 8
	}
}

// unload gives the accumulator's whole bytes back to the input buffer,
// so that stored data can be copied from it and the buffer compacted.
func (r *Reader) unload() {
	k := r.nbits / 8
	r.pos -= int(k)
	r.nbits -= 8 * k
	r.bits &= 1<<r.nbits - 1
}

// mark is where a unit started, to roll back to when it runs short.
type mark struct {
	pos   int
	bits  uint64
	nbits uint
}

func (r *Reader) mark() mark { return mark{r.pos, r.bits, r.nbits} }

func (r *Reader) rollback(m mark) { r.pos, r.bits, r.nbits = m.pos, m.bits, m.nbits }

// need says whether n (<= 56) bits are available.
func (r *Reader) need(n uint) bool {
	if r.nbits < n {
		r.refill()
	}
	return r.nbits >= n
}

// take consumes n bits that need said are there.
func (r *Reader) take(n uint) uint32 {
	v := uint32(r.bits & (1<<n - 1))
	r.bits >>= n
	r.nbits -= n
	return v
}
