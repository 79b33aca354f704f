package allocator

import "fmt"

// MoveKind names a move as hbal does.
type MoveKind string

// Move kinds. The composite ones chain failovers and secondary replacements.
const (
	MoveAllocate          MoveKind = "allocate"
	MoveFailover          MoveKind = "f"
	MoveReplaceSecondary  MoveKind = "r"
	MoveFailoverReplace   MoveKind = "f r"
	MoveReplaceFailover   MoveKind = "r f"
	MoveFailReplaceFail   MoveKind = "f r f"
	MoveReplacePrimaryAll MoveKind = "replace"
)

// Move is one step of a plan: instance goes from (FromPrimary, FromSecondary)
// to (Primary, Secondary); Score is the cluster score after it.
type Move struct {
	Instance      string   `json:"instance"`
	Kind          MoveKind `json:"kind"`
	FromPrimary   string   `json:"from_primary,omitempty"`
	FromSecondary string   `json:"from_secondary,omitempty"`
	Primary       string   `json:"primary"`
	Secondary     string   `json:"secondary,omitempty"`
	Score         float64  `json:"score"`
	Note          string   `json:"note,omitempty"`
}

// Short renders the move as hbal prints it: "f", "r:N", "f r:N", "r:N f", "f r:N f".
func (m Move) Short() string {
	switch m.Kind {
	case MoveFailover:
		return "f"
	case MoveReplaceSecondary:
		return "r:" + m.Secondary
	case MoveFailoverReplace:
		return "f r:" + m.Secondary
	case MoveReplaceFailover:
		return "r:" + m.Primary + " f"
	case MoveFailReplaceFail:
		return "f r:" + m.Primary + " f"
	}
	return string(m.Kind)
}

// Commands returns the gnt-instance commands that carry the move out.
func (m Move) Commands() []string {
	mig := "gnt-instance migrate -f " + m.Instance
	rep := func(n string) string { return fmt.Sprintf("gnt-instance replace-disks -n %s %s", n, m.Instance) }
	switch m.Kind {
	case MoveFailover:
		return []string{mig}
	case MoveReplaceSecondary:
		return []string{rep(m.Secondary)}
	case MoveFailoverReplace:
		return []string{mig, rep(m.Secondary)}
	case MoveReplaceFailover:
		return []string{rep(m.Primary), mig}
	case MoveFailReplaceFail:
		return []string{mig, rep(m.Primary), mig}
	}
	return nil
}

// Plan is an ordered list of moves and the scores around them.
type Plan struct {
	Moves        []Move  `json:"moves"`
	InitialScore float64 `json:"initial_score"`
	FinalScore   float64 `json:"final_score"`
	// Cluster is the snapshot after every move.
	Cluster *Cluster `json:"-"`
}

// moveKind classifies (op, os) -> (p, s) as one hbal move; ok is false when the
// change is not a single move (both nodes new).
func moveKind(op, os, p, s int) (MoveKind, bool) {
	switch {
	case p == os && s == op:
		return MoveFailover, true
	case p == op && s != os:
		return MoveReplaceSecondary, true
	case p == os:
		return MoveFailoverReplace, true
	case s == op:
		return MoveReplaceFailover, true
	case s == os:
		return MoveFailReplaceFail, true
	}
	return "", false
}

// recountEvery is how many commits the running score sums are trusted.
const recountEvery = 64

// commit applies the move of instance i to (p, s) for good and records it.
func (st *state) commit(i, p, s int, note string) Move {
	op, os := st.ipri[i], st.isec[i]
	kind, ok := moveKind(op, os, p, s)
	if !ok {
		kind = MoveReplacePrimaryAll
	}
	st.apply(i, p, s)
	// apply refreshed the touched nodes; a full recount now and then
	// keeps floating-point drift out of the running sums
	if st.commits++; st.commits%recountEvery == 0 {
		st.recomputeStats()
	}
	m := Move{Instance: st.inst[i].Name, Kind: kind, Primary: st.name[p], Score: st.score(), Note: note}
	if op >= 0 {
		m.FromPrimary = st.name[op]
	}
	if os >= 0 {
		m.FromSecondary = st.name[os]
	}
	if s >= 0 {
		m.Secondary = st.name[s]
	}
	return m
}
