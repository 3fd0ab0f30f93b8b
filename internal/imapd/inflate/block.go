package inflate

// Length and distance symbols: base value and extra bits (RFC 1951 3.2.5).
var (
	lenBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clOrder is the order of the code length code's lengths (3.2.7).
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// header decodes a block header (3.2.3) as one unit: with a stored
// block's LEN and NLEN, or with a dynamic block's code tables.
func (r *Reader) header() error {
	m := r.mark()
	if !r.need(3) {
		return errShort
	}
	h := r.take(3)
	r.final = h&1 == 1
	var err error
	switch h >> 1 {
	case 0:
		err = r.storedHeader()
	case 1:
		r.fixedCodes()
	case 2:
		err = r.dynamicHeader()
	default:
		err = r.errorf("reserved block type")
	}
	if err == errShort {
		r.rollback(m)
	}
	return err
}

// storedHeader reads LEN and NLEN after skipping to a byte boundary
// (3.2.4).
func (r *Reader) storedHeader() error {
	r.take(r.nbits % 8)
	if !r.need(32) {
		return errShort
	}
	n, nn := r.take(16), r.take(16)
	if n != ^nn&0xffff {
		return r.errorf("stored block length %d does not match its complement", n)
	}
	r.unload()
	r.stored = int(n)
	r.st = stStored
	return nil
}

// copyStored copies what is buffered of a stored block to the window.
func (r *Reader) copyStored() error {
	for r.stored > 0 {
		n := min(r.stored, r.end-r.pos, windowSize-r.unread, windowSize-r.wpos)
		if n == 0 {
			if r.unread == windowSize {
				return nil
			}
			return errShort
		}
		copy(r.win[r.wpos:], r.in[r.pos:r.pos+n])
		r.pos += n
		r.stored -= n
		r.wpos = (r.wpos + n) & windowMask
		r.unread += n
		r.total += int64(n)
	}
	r.endBlock()
	return nil
}

// fixedCodes sets up the fixed Huffman codes (3.2.6).
func (r *Reader) fixedCodes() {
	r.st = stHuffman
	if r.fixed {
		return
	}
	var l [numLit]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	r.lit.build(l[:])
	var d [numDist]uint8
	for i := range d {
		d[i] = 5
	}
	r.dist.build(d[:])
	r.fixed = true
}

// dynamicHeader reads the code length code, then with it the literal/
// length and distance code lengths, and builds both codes (3.2.7).
func (r *Reader) dynamicHeader() error {
	if !r.need(14) {
		return errShort
	}
	nlit := int(r.take(5)) + 257
	ndist := int(r.take(5)) + 1
	nclen := int(r.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return r.errorf("%d literal/length or %d distance codes", nlit, ndist)
	}
	var lengths [numLit + numDist]uint8
	for i := range nclen {
		if !r.need(3) {
			return errShort
		}
		lengths[clOrder[i]] = uint8(r.take(3))
	}
	r.fixed = false
	cl := &r.dist // free until the distance code is built
	if !cl.build(lengths[:19]) {
		return r.errorf("bad code length code")
	}
	if err := r.codeLengths(cl, lengths[:nlit+ndist]); err != nil {
		return err
	}
	if lengths[256] == 0 {
		return r.errorf("no end-of-block code")
	}
	if !r.lit.build(lengths[:nlit]) {
		return r.errorf("bad literal/length code lengths")
	}
	if !r.dist.build(lengths[nlit : nlit+ndist]) {
		return r.errorf("bad distance code lengths")
	}
	r.st = stHuffman
	return nil
}

// codeLengths decodes len(lengths) code lengths with the code cl,
// including the repeat codes 16, 17 and 18.
func (r *Reader) codeLengths(cl *huffman, lengths []uint8) error {
	for i := 0; i < len(lengths); {
		r.refill()
		sym, l := cl.decode(r.bits, r.nbits)
		if l == 0 {
			return errShort
		}
		if l < 0 {
			return r.errorf("bad code length symbol")
		}
		r.take(uint(l))
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return r.errorf("repeat of no previous code length")
			}
			if !r.need(2) {
				return errShort
			}
			rep, v = 3+int(r.take(2)), lengths[i-1]
		case 17:
			if !r.need(3) {
				return errShort
			}
			rep = 3 + int(r.take(3))
		default:
			if !r.need(7) {
				return errShort
			}
			rep = 11 + int(r.take(7))
		}
		if i+rep > len(lengths) {
			return r.errorf("code length repeat past the end")
		}
		for range rep {
			lengths[i] = v
			i++
		}
	}
	return nil
}

// huffmanBlock decodes a compressed block's symbols (3.2.5), each
// literal or length and distance pair as one unit: the accumulator is
// only updated once a unit is complete.
func (r *Reader) huffmanBlock() error {
	for r.unread <= windowSize-maxMatch {
		r.refill()
		b, n := r.bits, r.nbits
		sym, l := r.lit.decode(b, n)
		if l <= 0 {
			return r.short(l, "bad literal/length code")
		}
		b, n = b>>l, n-uint(l)
		if sym < 256 {
			r.bits, r.nbits = b, n
			r.win[r.wpos] = byte(sym)
			r.wpos = (r.wpos + 1) & windowMask
			r.unread++
			r.total++
			continue
		}
		if sym == 256 {
			r.bits, r.nbits = b, n
			r.endBlock()
			return nil
		}
		if sym -= 257; sym >= len(lenBase) {
			return r.errorf("bad length symbol %d", sym+257)
		}
		e := uint(lenExtra[sym])
		if n < e {
			return errShort
		}
		length := int(lenBase[sym]) + int(b&(1<<e-1))
		b, n = b>>e, n-e
		dsym, dl := r.dist.decode(b, n)
		if dl <= 0 {
			return r.short(dl, "bad distance code")
		}
		b, n = b>>dl, n-uint(dl)
		if dsym >= len(distBase) {
			return r.errorf("bad distance symbol %d", dsym)
		}
		e = uint(distExtra[dsym])
		if n < e {
			return errShort
		}
		dist := int(distBase[dsym]) + int(b&(1<<e-1))
		if int64(dist) > r.total {
			return r.errorf("distance %d before the start of the output", dist)
		}
		r.bits, r.nbits = b>>e, n-e
		r.copyMatch(dist, length)
	}
	return nil
}

// short turns a decode length of 0 (too few bits) or -1 (no such code)
// into an error.
func (r *Reader) short(l int, reason string) error {
	if l == 0 {
		return errShort
	}
	return r.errorf("%s", reason)
}

// copyMatch appends length bytes copied from dist bytes back.
func (r *Reader) copyMatch(dist, length int) {
	w := r.wpos
	if w >= dist && w+length <= windowSize {
		// No wrap: copy from [w-dist, w), which grows as it is copied
		// when the match overlaps its own output.
		for done := 0; done < length; {
			done += copy(r.win[w+done:w+length], r.win[w-dist:w+done])
		}
	} else {
		s := (w - dist) & windowMask
		for range length {
			r.win[w] = r.win[s]
			w = (w + 1) & windowMask
			s = (s + 1) & windowMask
		}
	}
	r.wpos = (r.wpos + length) & windowMask
	r.unread += length
	r.total += int64(length)
}
