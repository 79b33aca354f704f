package keys

import (
	"fmt"
	"strconv"
	"strings"
)

// KeyPrefix is the prefix of every drover key in etcd.
const KeyPrefix = "/drover/v1/"

// Fixed keys and prefixes. A prefix ends with "/" so that a range over it never
// matches a longer sibling ("nodes/a" vs "nodes/ab").
const (
	// ClusterKey holds the ClusterRecord.
	ClusterKey = KeyPrefix + "cluster"
	// JWTKey holds the Ed25519 token signing key (PEM); root only.
	JWTKey = KeyPrefix + "secrets/jwt"
	// ElectionPrefix is the concurrency.Election prefix of the masters.
	ElectionPrefix = KeyPrefix + "election"
	// MastersPrefix holds one lease-bound MasterRecord per running master.
	MastersPrefix = KeyPrefix + "masters/"
	// NodesPrefix holds one NodeRecord per node.
	NodesPrefix = KeyPrefix + "nodes/"
	// NodeStateRoot is the parent of every node's state prefix.
	NodeStateRoot = KeyPrefix + "nodestate/"
	// NodeCmdRoot is the parent of every node's command prefix.
	NodeCmdRoot = KeyPrefix + "nodecmd/"
	// JobsPrefix holds the api.Job records, keyed by zero-padded id.
	JobsPrefix = KeyPrefix + "jobs/"
	// JobSeqKey holds the last job id handed out (decimal).
	JobSeqKey = KeyPrefix + "jobseq"
	// ArchiveJobsPrefix holds archived api.Job records.
	ArchiveJobsPrefix = KeyPrefix + "archive/jobs/"
	// UsersPrefix holds one UserRecord per API user.
	UsersPrefix = KeyPrefix + "users/"
	// TokensPrefix holds one TokenRecord per issued token, keyed by jti.
	TokensPrefix = KeyPrefix + "tokens/"
	// ClusterTagsKey holds the cluster's tags (a JSON list; leader only).
	ClusterTagsKey = KeyPrefix + "clustertags"
)

// MasterKey is the lease-bound registration of master name.
func MasterKey(name string) string { return MastersPrefix + name }

// NodeKey is the configuration record of node name.
func NodeKey(name string) string { return NodesPrefix + name }

// NodeStatePrefix is the prefix under which node name's agent publishes
// (lease-bound); the agent's etcd role may read and write it.
func NodeStatePrefix(name string) string { return NodeStateRoot + name + "/" }

// NodeStatusKey is where node name's agent publishes its NodeStatus, bound to
// its lease: the key exists exactly as long as the agent reaches the quorum.
func NodeStatusKey(name string) string { return NodeStatePrefix(name) + "status" }

// NodeCmdPrefix is where the leader writes commands for node name's agent.
func NodeCmdPrefix(name string) string { return NodeCmdRoot + name + "/" }

// JobKey is the record of job id.
func JobKey(id uint64) string { return fmt.Sprintf("%s%020d", JobsPrefix, id) }

// ArchiveJobKey is the archived record of job id.
func ArchiveJobKey(id uint64) string { return fmt.Sprintf("%s%020d", ArchiveJobsPrefix, id) }

// UserKey is the record of API user name.
func UserKey(name string) string { return UsersPrefix + name }

// TokenKey is the record of the token with the given jti.
func TokenKey(jti string) string { return TokensPrefix + jti }

// NodeEtcdUser is the etcd user (and role) of node name's agent.
func NodeEtcdUser(name string) string { return "node." + name }

// NameFromKey returns the part of key after prefix, or "" when key is not under
// prefix or names something deeper ("nodestate/n1/status" under NodesPrefix).
func NameFromKey(prefix, key string) string {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return ""
	}
	return rest
}

// NodeFromStatusKey returns the node name of a NodeStatusKey, or "".
func NodeFromStatusKey(key string) string {
	rest, ok := strings.CutPrefix(key, NodeStateRoot)
	if !ok {
		return ""
	}
	name, tail, ok := strings.Cut(rest, "/")
	if !ok || tail != "status" || name == "" {
		return ""
	}
	return name
}

// JobIDFromKey parses the id of a JobKey or ArchiveJobKey.
func JobIDFromKey(key string) (uint64, bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(key[i+1:], 10, 64)
	return id, err == nil
}
