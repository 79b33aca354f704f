package domxml

import (
	"encoding/xml"
	"fmt"
)

// Parsed holds what drivers read back from a defined domain's XML.
type Parsed struct {
	Name       string
	UUID       string
	Type       string
	VCPUs      int
	MemoryMiB  int64
	ConsoleLog string // path of a file-backed serial or console, if any
	// MetaConsoleLog is the console log drover recorded in the metadata
	// (for containers, the file the driver copies the pty console to).
	MetaConsoleLog string
}

// Parse reads the fields of Parsed from libvirt domain XML.
func Parse(data []byte) (Parsed, error) {
	var d Domain
	if err := xml.Unmarshal(data, &d); err != nil {
		return Parsed{}, fmt.Errorf("domxml: parse: %w", err)
	}
	p := Parsed{Name: d.Name, UUID: d.UUID, Type: d.Type, VCPUs: d.VCPU, MemoryMiB: toMiB(d.Memory)}
	for _, c := range append(append([]Chardev(nil), d.Devices.Serials...), d.Devices.Consoles...) {
		if c.Type == "file" && c.Source != nil && c.Source.Path != "" {
			p.ConsoleLog = c.Source.Path
			break
		}
	}
	if d.Metadata != nil && d.Metadata.Drover != nil {
		p.MetaConsoleLog = d.Metadata.Drover.ConsoleLog
	}
	return p, nil
}

func toMiB(m Memory) int64 {
	switch m.Unit {
	case "b", "bytes":
		return m.Value >> 20
	case "KB":
		return m.Value * 1000 >> 20
	case "", "k", "KiB":
		return m.Value >> 10
	case "MB":
		return m.Value * 1000 * 1000 >> 20
	case "M", "MiB":
		return m.Value
	case "GB":
		return m.Value * 1000 * 1000 * 1000 >> 20
	case "G", "GiB":
		return m.Value << 10
	}
	return m.Value >> 10
}
