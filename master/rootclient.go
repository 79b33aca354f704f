package master

import clientv3 "go.etcd.io/etcd/client/v3"

// RootClient connects to the cluster's etcd as root with a fresh client
// certificate from the cluster CA (for tools and tests that act as the
// leader would, e.g. the DRBD end-to-end test).
func RootClient(d *ClusterDir) (*clientv3.Client, error) {
	pw, err := d.RootPassword()
	if err != nil {
		return nil, err
	}
	return newClient(d, d.ClientURLs(), pw, true)
}
