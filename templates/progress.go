package templates

import "fmt"

// Progress reports a long step: bootstrap, pack, import, fetch, unpack, mkfs...
type Progress struct {
	// Step names the step ("bootstrap", "pack", "unpack", "customize", "mkfs", "kernel").
	Step string `json:"step"`
	// Percent done of this step, 0..100, or -1 when unknown.
	Percent float64 `json:"percent"`
	// Bytes done and Total bytes, for byte-counted steps (0 otherwise).
	Bytes int64 `json:"bytes,omitempty"`
	Total int64 `json:"total,omitempty"`
	// Message is a short human text ("installing remaining packages").
	Message string `json:"message,omitempty"`
}

func (p Progress) String() string {
	switch {
	case p.Total > 0:
		return fmt.Sprintf("%s: %.0f%% (%d/%d MiB) %s", p.Step, p.Percent, p.Bytes>>20, p.Total>>20, p.Message)
	case p.Percent >= 0:
		return fmt.Sprintf("%s: %.0f%% %s", p.Step, p.Percent, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.Step, p.Message)
}

func newBytesProgress(step string, n, total int64) Progress {
	p := Progress{Step: step, Bytes: n, Total: total, Percent: -1}
	if total > 0 {
		p.Percent = min(100, float64(n)*100/float64(total))
	}
	return p
}

// report calls fn if it is set.
func report(fn func(Progress), p Progress) {
	if fn != nil {
		fn(p)
	}
}
