package templates

import (
	"strconv"
	"strings"
)

// mmdebstrapParser turns `mmdebstrap --verbose` output into progress. mmdebstrap
// draws progress bars only on a tty, so the percentage is estimated from its
// phases ("I: ..." lines) and, while packages are set up, from the count of
// dpkg's "Setting up" lines against apt's "N newly installed".
type mmdebstrapParser struct {
	total, done int
	pct         float64
	phase       string
}

var mmdebstrapPhases = []struct {
	prefix string
	pct    float64
}{
	{"I: running apt-get update", 2},
	{"I: downloading packages", 5},
	{"I: extracting archives", 15},
	{"I: installing essential packages", 20},
	{"I: installing remaining packages", -1},
	{"I: cleaning package lists", 97},
	{"I: success", 100},
}

func (p *mmdebstrapParser) line(line string) (Progress, bool) {
	switch {
	case strings.HasPrefix(line, "I: "):
		for _, ph := range mmdebstrapPhases {
			if strings.HasPrefix(line, ph.prefix) {
				if ph.pct >= 0 {
					p.pct = max(p.pct, ph.pct)
				}
				p.phase = strings.TrimSuffix(strings.TrimPrefix(line, "I: "), "...")
				return Progress{Step: "bootstrap", Percent: p.pct, Message: p.phase}, true
			}
		}
		return Progress{}, false
	case strings.Contains(line, " newly installed, "):
		// "0 upgraded, 69 newly installed, 0 to remove and 0 not upgraded."
		f := strings.Fields(line)
		if len(f) > 2 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				p.total, p.done = n, 0
			}
		}
		return Progress{}, false
	case strings.HasPrefix(line, "Setting up "):
		p.done++
		// The essential set is set up first, then the rest (--include), each
		// announced by its own "newly installed" line.
		lo, hi := 20.0, 55.0
		if strings.Contains(p.phase, "remaining") {
			lo, hi = 55, 96
		}
		if p.total > 0 {
			p.pct = max(p.pct, min(hi, lo+(hi-lo)*float64(p.done)/float64(p.total)))
		}
		return Progress{Step: "bootstrap", Percent: p.pct, Message: strings.TrimSuffix(line, " ...")}, true
	}
	return Progress{}, false
}

// debootstrapParser reads the machine-readable output of `debootstrap
// --debian-installer` (fd 3): "P: now end PHASE" progress lines, and
// "I: NAME" / "IA: arg" / "IF: format" info messages.
type debootstrapParser struct {
	args []string
	pct  float64
	msg  string
}

// Overall percentage bands of debootstrap's phases.
var debootstrapBands = map[string][2]float64{
	"DOWNREL": {0, 1}, "DOWNRELSIG": {1, 2}, "DOWNPKGS": {2, 3}, "DOWNMAINPKGS": {2, 3},
	"SIZEDEBS": {3, 5}, "DOWNDEBS": {5, 45}, "EXTRACTPKGS": {45, 55},
	"INSTCORE": {55, 99}, "UNPACKREQ": {55, 99}, "CONFREQ": {55, 99},
	"UNPACKBASE": {55, 99}, "CONFBASE": {55, 99},
}

func (p *debootstrapParser) line(line string) (Progress, bool) {
	tag, rest, _ := strings.Cut(line, ": ")
	switch tag {
	case "P":
		f := strings.Fields(rest)
		if len(f) < 3 {
			return Progress{}, false
		}
		now, err1 := strconv.ParseFloat(f[0], 64)
		end, err2 := strconv.ParseFloat(f[1], 64)
		band, ok := debootstrapBands[f[2]]
		if err1 != nil || err2 != nil || !ok || end <= 0 {
			return Progress{}, false
		}
		p.pct = max(p.pct, band[0]+(band[1]-band[0])*min(1, now/end))
		return Progress{Step: "bootstrap", Percent: p.pct, Message: p.msg}, true
	case "I", "W", "E":
		p.args = p.args[:0]
	case "IA", "WA", "EA", "PA":
		p.args = append(p.args, rest)
	case "IF", "WF", "EF":
		msg := rest
		for _, a := range p.args {
			msg = strings.Replace(msg, "%s", a, 1)
		}
		p.args = p.args[:0]
		p.msg = msg
		return Progress{Step: "bootstrap", Percent: p.pct, Message: msg}, true
	}
	return Progress{}, false
}
