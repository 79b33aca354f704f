package workload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"
)

// Record layout: one 4 KiB block per record, in a ring of Slots blocks from
// the start of the device. Block s%slots holds record s:
//
//	0  magic "DROVERWL"
//	8  seq (uint64, little endian), from 1
//	16 unix nanoseconds of the write
//	24 ring: the instance's RingID (its UUID's hash)
//	32 payload derived from seq
//	4092 crc32c of bytes 0..4091
//
// The ring names whose records they are: a new disk can hold the records of
// an instance removed before (an LV made on the same extents is not wiped),
// which are not this instance's history.
const (
	BlockSize = 4096
	// MaxSlots bounds the ring (16 MiB of records), so a start scans at
	// most that much.
	MaxSlots = 4096
	magic    = "DROVERWL"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrLost: an acknowledged record is missing or damaged.
var ErrLost = errors.New("workload: acknowledged record lost")

// RingID is the ring of the instance with uuid (never 0).
func RingID(uuid string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(uuid))
	return max(1, h.Sum64())
}

func encode(buf []byte, seq uint64, nanos int64, ring uint64) {
	copy(buf, magic)
	binary.LittleEndian.PutUint64(buf[8:], seq)
	binary.LittleEndian.PutUint64(buf[16:], uint64(nanos))
	binary.LittleEndian.PutUint64(buf[24:], ring)
	x := seq*0x9e3779b97f4a7c15 + 1
	for i := 32; i < BlockSize-4; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(buf[i:], x)
	}
	binary.LittleEndian.PutUint32(buf[BlockSize-4:], crc32.Checksum(buf[:BlockSize-4], castagnoli))
}

// decode returns the seq of a valid record block of ring (any ring when
// ring is 0), 0 for anything else.
func decode(buf []byte, ring uint64) uint64 {
	if len(buf) < BlockSize || !bytes.Equal(buf[:8], []byte(magic)) {
		return 0
	}
	if crc32.Checksum(buf[:BlockSize-4], castagnoli) != binary.LittleEndian.Uint32(buf[BlockSize-4:]) {
		return 0
	}
	if ring != 0 && binary.LittleEndian.Uint64(buf[24:]) != ring {
		return 0
	}
	return binary.LittleEndian.Uint64(buf[8:])
}

// slots is the ring size for a device of size bytes.
func slots(size int64) int64 { return max(1, min(MaxSlots, size/BlockSize)) }

// Scan reads the ring of dev and returns, per slot, the seq it holds (0: no
// valid record).
func Scan(dev string, ring uint64) ([]uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("workload: size of %s: %w", dev, err)
	}
	if size < BlockSize {
		return nil, fmt.Errorf("workload: %s holds %d bytes, less than one record", dev, size)
	}
	n := slots(size)
	buf := make([]byte, n*BlockSize)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("workload: read %s: %w", dev, err)
	}
	out := make([]uint64, n)
	for i := range n {
		out[i] = decode(buf[i*BlockSize:(i+1)*BlockSize], ring)
	}
	return out, nil
}

// Highest is the largest seq in a scan.
func Highest(ring []uint64) uint64 {
	var m uint64
	for _, s := range ring {
		m = max(m, s)
	}
	return m
}

// Verify checks that dev still holds every record up to acked that the ring
// can hold (the last len(ring) of them): record s must be in slot s%len
// unless a later record s+k*len overwrote it.
func Verify(dev string, acked, ringID uint64) error {
	ring, err := Scan(dev, ringID)
	if err != nil {
		return err
	}
	n := uint64(len(ring))
	var lost []uint64
	for s := max(1, acked+1-min(acked, n)); s <= acked; s++ {
		got := ring[s%n]
		if got < s || (got-s)%n != 0 {
			lost = append(lost, s)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("%w: %d of the last %d acknowledged records (first %d, highest on disk %d)", ErrLost, len(lost), min(acked, n), lost[0], Highest(ring))
	}
	return nil
}
