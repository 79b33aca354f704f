package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// unitsFlag is gnt-*'s --units: how list sizes are shown.
func unitsFlag() cli.Flag {
	return &cli.StringFlag{Name: "units", Usage: "sizes in h (human: 512M, 2.0G), m (MiB), g (GiB) or t (TiB)"}
}

// checkUnits accepts "" (each field's default) and h, m, g, t.
func checkUnits(u string) error {
	switch strings.ToLower(u) {
	case "", "h", "m", "g", "t":
		return nil
	}
	return usagef("--units %q: want h, m, g or t", u)
}

// fmtUnits prints a size in MiB in unit u as Ganeti's FormatUnit does:
// m as an integer, g and t with one decimal, h with a suffix (M, G, T).
func fmtUnits(mib int64, u string) string {
	switch strings.ToLower(u) {
	case "m":
		return fmt.Sprintf("%d", mib)
	case "g":
		return fmt.Sprintf("%.1f", float64(mib)/1024)
	case "t":
		return fmt.Sprintf("%.1f", float64(mib)/(1024*1024))
	}
	if mib >= 1<<20 {
		return fmt.Sprintf("%.1fT", float64(mib)/(1024*1024))
	}
	return fmtMiB(mib)
}
