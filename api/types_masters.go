package api

// MasterAdd is the body of POST /cluster/masters: a new master, whose etcd
// member is added to the cluster (as a learner, promoted once it caught up).
type MasterAdd struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	APIPort    int    `json:"api_port"`
	ClientPort int    `json:"etcd_client_port"`
	PeerPort   int    `json:"etcd_peer_port"`
}

// EtcdMember is one member of the masters' etcd cluster (GET /cluster/members).
type EtcdMember struct {
	// ID is etcd's member id (hex).
	ID string `json:"id"`
	// Name is the master's name ("" for a member added but not started).
	Name     string   `json:"name"`
	PeerURLs []string `json:"peer_urls"`
	// Learner: a member that receives the log but does not vote yet.
	Learner bool `json:"learner"`
	// Started is false for a member added that never connected.
	Started bool `json:"started"`
}
