package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// WriterOptions configure the instance process.
type WriterOptions struct {
	// Device is the disk the records go to.
	Device string
	// AckFile receives the last acknowledged record (JSON, replaced
	// atomically) every AckEvery.
	AckFile string
	// Interval between records (default 20 ms); AckEvery how often acks
	// are reported (default 200 ms).
	Interval time.Duration
	AckEvery time.Duration
	// Console receives the progress lines ("ack N").
	Console io.Writer
	// Ring marks this instance's records (RingID of its UUID; 0: records
	// of any ring count as its own).
	Ring uint64
}

// Acks is what the ack file holds.
type Acks struct {
	// First is the first seq this process wrote, Acked the last one whose
	// write returned.
	First  uint64    `json:"first"`
	Acked  uint64    `json:"acked"`
	Direct bool      `json:"direct"`
	At     time.Time `json:"at"`
}

// alignedBlock is a BlockSize buffer aligned for O_DIRECT.
func alignedBlock() []byte {
	b := make([]byte, 2*BlockSize)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (BlockSize - 1))
	if off != 0 {
		off = BlockSize - off
	}
	return b[off : off+BlockSize]
}

// Write runs the workload until ctx ends: it continues the numbering after
// the highest record on the device, writes each record with
// O_DIRECT|O_DSYNC (O_DSYNC alone where the file system refuses O_DIRECT,
// said on the console) and counts it acknowledged when the write returned.
func Write(ctx context.Context, o WriterOptions) error {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.AckEvery <= 0 {
		o.AckEvery = 200 * time.Millisecond
	}
	if o.Console == nil {
		o.Console = io.Discard
	}
	ring, err := Scan(o.Device, o.Ring)
	if err != nil {
		return err
	}
	n := uint64(len(ring))
	seq := Highest(ring) + 1
	// What a previous writer (here or on the peer before a failover)
	// acknowledged must still be there: say so before continuing.
	if err := Verify(o.Device, seq-1, o.Ring); err != nil {
		fmt.Fprintf(o.Console, "workload: %v\n", err)
	} else if seq > 1 {
		fmt.Fprintf(o.Console, "workload: records up to %d intact\n", seq-1)
	}
	direct := true
	f, err := os.OpenFile(o.Device, os.O_WRONLY|syscall.O_DIRECT|syscall.O_DSYNC, 0)
	if errors.Is(err, syscall.EINVAL) {
		direct = false
		f, err = os.OpenFile(o.Device, os.O_WRONLY|syscall.O_DSYNC, 0)
	}
	if err != nil {
		return fmt.Errorf("workload: open %s: %w", o.Device, err)
	}
	defer f.Close()
	fmt.Fprintf(o.Console, "workload: writing records to %s from %d (ring %d, direct %v)\n", o.Device, seq, n, direct)
	acks := Acks{First: seq, Direct: direct}
	buf := alignedBlock()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	lastReport := time.Time{}
	report := func() {
		acks.At = time.Now().UTC()
		fmt.Fprintf(o.Console, "ack %d\n", acks.Acked)
		if o.AckFile != "" {
			b, _ := json.Marshal(acks)
			tmp := o.AckFile + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil {
				_ = os.Rename(tmp, o.AckFile)
			}
		}
		lastReport = time.Now()
	}
	defer report()
	for {
		encode(buf, seq, time.Now().UnixNano(), o.Ring)
		if _, err := f.WriteAt(buf, int64(seq%n)*BlockSize); err != nil {
			fmt.Fprintf(o.Console, "workload: write of record %d failed: %v\n", seq, err)
			return fmt.Errorf("workload: write record %d: %w", seq, err)
		}
		acks.Acked = seq
		seq++
		if time.Since(lastReport) >= o.AckEvery {
			report()
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(o.Console, "workload: stopped after record %d\n", acks.Acked)
			return nil
		case <-tick.C:
		}
	}
}

// ReadAcks reads an ack file.
func ReadAcks(path string) (Acks, error) {
	var a Acks
	b, err := os.ReadFile(path)
	if err != nil {
		return a, fmt.Errorf("workload: %w", err)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("workload: ack file %s: %w", path, err)
	}
	return a, nil
}
