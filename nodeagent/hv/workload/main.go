package workload

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
)

// Main is the instance process: `drover workload-run --device DEV --acks
// FILE [--interval D]`. It writes until SIGTERM or SIGINT.
func Main(args []string) error {
	fs := flag.NewFlagSet("workload-run", flag.ContinueOnError)
	var o WriterOptions
	fs.StringVar(&o.Device, "device", "", "disk the records go to")
	fs.StringVar(&o.AckFile, "acks", "", "file the last acknowledged record is written to")
	fs.DurationVar(&o.Interval, "interval", 0, "time between records")
	uuid := fs.String("instance-uuid", "", "the instance's UUID: its records carry its ring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *uuid != "" {
		o.Ring = RingID(*uuid)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	o.Console = os.Stdout
	return Write(ctx, o)
}
