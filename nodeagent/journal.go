package nodeagent

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/drover-project/drover/master/keys"
)

// journal keeps, on the node, what happened to commands across agent
// restarts (results in etcd are bound to the lease and vanish with it):
//
//	DIR/<id>.json     the final result of a command run here
//	DIR/<id>.started  a command that began and has not finished
//
// A finished command's result is republished from here instead of the
// command being run again; a started one whose command the leader has since
// deleted (its job gave up) is undone when it was a create. dir "" keeps
// nothing.
type journal struct {
	dir string
	log *slog.Logger
}

func (j journal) path(id, ext string) string {
	// IDs are "<job>-<op>-<step>-<uuid>"; keep the file name safe whatever they are.
	return filepath.Join(j.dir, url.PathEscape(id)+ext)
}

func (j journal) write(id, ext string, v any) {
	if j.dir == "" {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		tmp := j.path(id, ext) + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, j.path(id, ext))
		}
	}
	if err != nil {
		j.log.Warn("command_journal_not_written", "cmd", id, "what", ext, "err", err)
	}
}

// saveDone records a final result and forgets that the command started.
func (j journal) saveDone(res keys.NodeCommandResult) {
	j.write(res.ID, ".json", res)
	j.forgetStarted(res.ID)
}

func (j journal) loadDone(id string) (keys.NodeCommandResult, bool) {
	var res keys.NodeCommandResult
	if j.dir == "" {
		return res, false
	}
	b, err := os.ReadFile(j.path(id, ".json"))
	if err != nil || json.Unmarshal(b, &res) != nil || res.ID != id || !res.Done {
		return res, false
	}
	return res, true
}

// saveStarted records that c is about to run.
func (j journal) saveStarted(c keys.NodeCommand) { j.write(c.ID, ".started", c) }

func (j journal) forgetStarted(id string) {
	if j.dir != "" {
		_ = os.Remove(j.path(id, ".started"))
	}
}

// started lists the commands that began and did not finish.
func (j journal) started() []keys.NodeCommand {
	if j.dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(j.dir, "*.started"))
	var out []keys.NodeCommand
	for _, f := range files {
		var c keys.NodeCommand
		if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &c) == nil && c.ID != "" {
			out = append(out, c)
			continue
		}
		_ = os.Remove(f)
	}
	return out
}

// prune forgets the results of commands the leader has deleted (the leader
// deletes a command once it has read its result).
func (j journal) prune(pending map[string]bool) {
	if j.dir == "" {
		return
	}
	ents, _ := os.ReadDir(j.dir)
	for _, e := range ents {
		n := e.Name()
		id, ok := strings.CutSuffix(n, ".json")
		if !ok {
			continue
		}
		if id, err := url.PathUnescape(id); err == nil && pending[id] {
			continue
		}
		_ = os.Remove(filepath.Join(j.dir, n))
	}
}
