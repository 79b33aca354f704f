// Package store holds the small etcd helpers every part of the master shares:
// the leader's fence (epoch compare), JSON get/put and per-call deadlines.
package store
