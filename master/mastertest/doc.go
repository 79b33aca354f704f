// Package mastertest starts in-process drover clusters of one or three masters,
// each with its own embedded etcd member on free loopback ports, for tests and
// benchmarks of the master and of its API.
package mastertest
