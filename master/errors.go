package master

import "errors"

var (
	// ErrClusterDir is returned when a cluster directory is missing or invalid.
	ErrClusterDir = errors.New("master: invalid cluster directory")
	// ErrUnknownMaster is returned when the master name is not in cluster.json.
	ErrUnknownMaster = errors.New("master: unknown master name")
	// ErrEtcdNotReady is returned when the embedded etcd member does not become
	// ready before its deadline.
	ErrEtcdNotReady = errors.New("master: embedded etcd not ready")
	// ErrExists is returned by InitClusterDir when the directory already holds a
	// cluster.
	ErrExists = errors.New("master: cluster directory already initialised")
	// ErrConfig is returned by New for settings that cannot work together.
	ErrConfig = errors.New("master: invalid configuration")
)
