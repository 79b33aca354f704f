package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
)

// ownerFile, in an instance's storage directory, names the instance (by
// UUID) whose files these are. A domain carries the instance's UUID as its
// own. Domains and files whose UUID is not the one of a command's instance
// record are not that instance's: commands leave them alone, and a create
// of the same name refuses to adopt them (they are orphans, which
// `drover cluster repair` removes).
const ownerFile = "drover-instance.json"

// owner is the content of ownerFile.
type owner struct {
	UUID      string    `json:"uuid"`
	Name      string    `json:"name"`
	Command   string    `json:"command,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// presence is what of an instance name exists on this node.
type presence struct {
	Domain     bool
	DomainUUID string
	State      hv.DomainState
	Files      bool
	FilesUUID  string // "" when the files carry no owner
}

// sameOwner reports whether something with UUID have belongs to an instance
// with UUID want. A command without a UUID (records made before UUIDs were
// checked) matches by name.
func sameOwner(have, want string) bool { return want == "" || have == want }

// ownsDomain and ownsFiles say whether inst owns what p found.
func (p presence) ownsDomain(uuid string) bool { return p.Domain && sameOwner(p.DomainUUID, uuid) }

func (p presence) ownsFiles(uuid string) bool {
	if !p.Files {
		return false
	}
	// Unmarked files under the instance's own domain are its files.
	return sameOwner(p.FilesUUID, uuid) || p.FilesUUID == "" && p.ownsDomain(uuid)
}

// look finds the domain and the files of name.
func (x *Executor) look(ctx context.Context, name string) (presence, error) {
	var p presence
	doms, err := x.drv.List(ctx)
	if err != nil {
		return p, err
	}
	for _, d := range doms {
		if d.Name == name {
			p.Domain, p.DomainUUID, p.State = true, d.UUID, d.State
		}
	}
	p.Files = x.store.Exists(name)
	if p.Files {
		p.FilesUUID = readOwner(x.store.InstanceDir(name)).UUID
	}
	return p, nil
}

// readOwner reads the owner file of an instance directory (zero if none).
func readOwner(dir string) owner {
	var o owner
	if b, err := os.ReadFile(filepath.Join(dir, ownerFile)); err == nil {
		_ = json.Unmarshal(b, &o)
	}
	return o
}

// writeOwner marks the instance directory of name as inst's.
func (x *Executor) writeOwner(name string, inst keys.InstanceRecord, cmdID string) error {
	b, err := json.Marshal(owner{UUID: inst.UUID, Name: inst.Name, Command: cmdID, CreatedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	p := filepath.Join(x.store.InstanceDir(name), ownerFile)
	if err := os.WriteFile(p+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("write owner of %s: %w", name, err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("write owner of %s: %w", name, err)
	}
	return nil
}

// errOrphan is the error of a command that finds name taken on this node by
// a domain or files of another instance.
func errOrphan(name, what, uuid string) error {
	if uuid == "" {
		uuid = "unknown"
	}
	return api.Errorf(api.CodeAlreadyExists,
		"%s %s on this node belongs to no instance of this record (uuid %s): an orphan; `drover cluster verify` lists it and `drover cluster repair` removes it",
		what, name, uuid)
}

// checkOwner refuses a command on inst when the domain of that name is
// another instance's.
func (x *Executor) checkOwner(ctx context.Context, inst keys.InstanceRecord) error {
	p, err := x.look(ctx, inst.Name)
	if err != nil {
		return err
	}
	if p.Domain && !p.ownsDomain(inst.UUID) {
		return errOrphan(inst.Name, "domain", p.DomainUUID)
	}
	return nil
}

// UndoCreate removes what a create of inst left on this node (its domain and
// files, only where they carry inst's UUID): the agent calls it when the job
// of a create it ran, or had started, has given up on it.
func (x *Executor) UndoCreate(ctx context.Context, inst keys.InstanceRecord) error {
	if inst.UUID == "" {
		return errors.New("undo create: instance without uuid")
	}
	unlock := x.lock(inst.Name)
	defer unlock()
	return x.remove(ctx, inst, 0, func(string) {})
}
