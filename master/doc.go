// Package master is drover's brain: it runs an etcd member (or joins external
// etcd), campaigns for leadership, runs the job executor and watchers while it
// leads, and implements api.Backend for the HTTPS API that every master serves.
package master
