package inflate

const (
	maxCodeBits = 15
	fastBits    = 9
	numLit      = 288 // 286 used; the fixed code gives lengths to all 288
	numDist     = 32  // 30 used; likewise
)

// huffman decodes one canonical prefix code (RFC 1951 3.2.2). Codes up to
// fastBits long are found with one look-up in fast (symbol<<4 | length,
// indexed by the next fastBits input bits); longer ones, and bits that
// are no code at all (fast entry 0), are decoded a bit at a time from the
// count of codes of each length and the symbols in code order.
type huffman struct {
	fast  [1 << fastBits]uint16
	count [maxCodeBits + 1]uint16
	sym   [numLit]uint16
}

// build sets h up for the code lengths of each symbol (0 = unused). A
// code may not be over-subscribed, nor incomplete unless it is a single
// code of one bit (RFC 1951 3.2.7) or empty (a block of literals only
// has no distance codes).
func (h *huffman) build(lengths []uint8) (ok bool) {
	h.count = [maxCodeBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left, longest := 1, 0
	for l := 1; l <= maxCodeBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false
		}
		if h.count[l] > 0 {
			longest = l
		}
	}
	if left > 0 && longest > 1 {
		return false
	}
	var next [maxCodeBits + 2]uint16
	for l := 1; l <= maxCodeBits; l++ {
		next[l+1] = next[l] + h.count[l]
	}
	for s, l := range lengths {
		if l != 0 {
			h.sym[next[l]] = uint16(s)
			next[l]++
		}
	}
	h.fast = [1 << fastBits]uint16{}
	code, i := 0, 0
	for l := 1; l <= fastBits; l++ {
		for range h.count[l] {
			e := h.sym[i]<<4 | uint16(l)
			for j := reverse(code, l); j < 1<<fastBits; j += 1 << l {
				h.fast[j] = e
			}
			code++
			i++
		}
		code <<= 1
	}
	return true
}

// reverse gives the n low bits of c in reverse order: Huffman codes are
// packed starting with their most significant bit (RFC 1951 3.1.1).
func reverse(c, n int) int {
	r := 0
	for range n {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// decode reads one symbol from the n available bits of b, giving the
// symbol and its length; length 0 means b holds too few bits, and -1 that
// b starts with no code of h.
func (h *huffman) decode(b uint64, n uint) (sym int, length int) {
	if e := h.fast[b&(1<<fastBits-1)]; e != 0 {
		if uint(e&15) > n {
			return 0, 0
		}
		return int(e >> 4), int(e & 15)
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= maxCodeBits; l++ {
		if uint(l) > n {
			return 0, 0
		}
		code |= int(b>>(l-1)) & 1
		count := int(h.count[l])
		if code-first < count {
			return int(h.sym[index+code-first]), l
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, -1
}
