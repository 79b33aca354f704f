package master

import (
	"bytes"
	"encoding/json"
	"net"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// registerOps registers the opcode kinds of this version.
func (m *Master) registerOps() error {
	kinds := []jobs.Kind{m.opNodeAdd(), m.opNodeRemove(), m.opNodeModify(), opDebugDelay(),
		m.opInstanceAdd(), m.opInstanceBatchCreate(), m.opInstanceRemove(), m.opInstanceStartup(), m.opInstanceShutdown(),
		m.opInstanceReboot(), m.opInstanceReinstall(), m.opInstanceRename(), m.opInstanceGrowDisk(),
		m.opInstanceModify(), m.opInstanceMigrate(), m.opNodePower(), m.opTemplateBuild(), m.opTemplateRemove(), m.opTagsModify(), m.opClusterRepair(),
		m.opInstanceFailover(), m.opInstanceCleanup(), m.opInstanceActivateDisks(), m.opInstanceDeactivateDisks(),
		m.opInstanceReplaceDisks(), m.opInstanceRecoverSplitBrain(), m.opClusterVerifyDisks(),
		m.opNodeEvacuate(), m.opNodeMigrate(), m.opNodeFailover(), m.opClusterBalance(), m.opClusterModify()}
	for _, k := range append(kinds, m.cfg.ExtraOps...) {
		if err := m.reg.Register(m.withNodeLocks(k)); err != nil {
			return err
		}
	}
	return nil
}

// decodeParams decodes an opcode's parameters strictly (unknown fields and
// duplicate keys refused; see api.DecodeStrict).
func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	if err := api.DecodeStrict(bytes.NewReader(raw), v); err != nil {
		return api.Errorf(api.CodeWrongInput, "bad parameters: %s", api.AsError(err).Message)
	}
	return nil
}

// validIP accepts "" or an IP address.
func validIP(what, ip string) error {
	if ip != "" && net.ParseIP(ip) == nil {
		return api.Errorf(api.CodeWrongInput, "%s %q is not an IP address", what, ip)
	}
	return nil
}
