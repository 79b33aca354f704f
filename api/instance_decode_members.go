package api

// The members of an instance that decodeInstanceList reads itself (by their
// JSON names in Instance; any other member makes it use json.Unmarshal).
const (
	mName = iota
	mUUID
	mPrimaryNode
	mSecondaryNodes
	mOS
	mOSVersion
	mHypervisor
	mDiskTemplate
	mDisks
	mNICs
	mVCPUs
	mMemoryMiB
	mAdminState
	mStatus
	mOperState
	mObservedAt
	mRestarts
	mGaveUp
	mCreatedAt
	mTags
	mServiceIP
	mDRBD
	mDisksActive
	mRedundancy
	mHAPriority
	mMigrationThreshold
	mFailback
	mLocation
	mHA
)

var instanceMembers = map[string]int{
	"name": mName, "uuid": mUUID, "primary_node": mPrimaryNode, "secondary_nodes": mSecondaryNodes,
	"os": mOS, "os_version": mOSVersion, "hypervisor": mHypervisor, "disk_template": mDiskTemplate,
	"disks": mDisks, "nics": mNICs, "vcpus": mVCPUs, "memory_mib": mMemoryMiB,
	"admin_state": mAdminState, "status": mStatus, "oper_state": mOperState, "observed_at": mObservedAt,
	"restarts": mRestarts, "gave_up": mGaveUp, "created_at": mCreatedAt, "tags": mTags,
	"service_ip": mServiceIP, "drbd": mDRBD, "disks_active": mDisksActive, "redundancy": mRedundancy,
	"ha_priority": mHAPriority, "migration_threshold": mMigrationThreshold, "failback": mFailback,
	"location": mLocation, "ha": mHA,
}

// instance reads one instance object into the zero *in (false: give it to
// json.Unmarshal).
func (s *listScan) instance(in *Instance) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	var seen uint64
	for {
		k, ok := s.plain()
		if !ok || !s.eat(':') {
			return false
		}
		m, ok := instanceMembers[string(k)]
		if !ok || seen&(1<<m) != 0 {
			return false
		}
		seen |= 1 << m
		if !s.member(in, m) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// member reads the value of member m.
func (s *listScan) member(in *Instance, m int) bool {
	switch m {
	case mName:
		return s.str(&in.Name, false)
	case mUUID:
		return s.str(&in.UUID, false)
	case mPrimaryNode:
		return s.str(&in.PrimaryNode, true)
	case mOS:
		return s.str(&in.OS, true)
	case mHypervisor:
		return s.str(&in.Hypervisor, true)
	case mDiskTemplate:
		return s.str(&in.DiskTemplate, true)
	case mAdminState:
		return s.str(&in.AdminState, true)
	case mStatus:
		return s.str(&in.Status, true)
	case mOperState:
		return s.str(&in.OperState, true)
	case mServiceIP:
		return s.str(&in.ServiceIP, false)
	case mRedundancy:
		return s.str(&in.Redundancy, true)
	case mOSVersion, mVCPUs, mRestarts, mHAPriority, mMigrationThreshold, mMemoryMiB:
		return s.intMember(in, m)
	case mGaveUp:
		return s.boolean(&in.GaveUp)
	case mFailback:
		return s.boolean(&in.Failback)
	case mCreatedAt:
		if s.next() == 'n' {
			return s.literal("null")
		}
		return s.timeStr(&in.CreatedAt)
	case mObservedAt:
		if s.next() == 'n' {
			return s.literal("null")
		}
		in.ObservedAt = s.newTime()
		return s.timeStr(in.ObservedAt)
	case mDisksActive:
		if s.next() == 'n' {
			return s.literal("null")
		}
		in.DisksActive = new(bool)
		return s.next() != 'n' && s.boolean(in.DisksActive)
	case mSecondaryNodes:
		return s.strings(&in.SecondaryNodes)
	case mTags:
		return s.strings(&in.Tags)
	case mNICs:
		return s.nics(&in.NICs)
	case mDisks:
		return s.raw(&in.Disks)
	case mDRBD:
		return s.raw(&in.DRBD)
	case mLocation:
		return s.raw(&in.Location)
	case mHA:
		return s.raw(&in.HA)
	}
	return false
}

// intMember reads an int member (int64 for memory_mib; every int here is
// 64 bits wide, as on the platforms drover runs on).
func (s *listScan) intMember(in *Instance, m int) bool {
	n, ok := s.integer()
	if !ok {
		return false
	}
	switch m {
	case mOSVersion:
		in.OSVersion = int(n)
	case mVCPUs:
		in.VCPUs = int(n)
	case mRestarts:
		in.Restarts = int(n)
	case mHAPriority:
		in.HAPriority = int(n)
	case mMigrationThreshold:
		in.MigrationThreshold = int(n)
	case mMemoryMiB:
		in.MemoryMiB = n
	}
	return true
}

// strings reads an array of plain strings (shared) or null.
func (s *listScan) strings(dst *[]string) bool {
	if s.next() == 'n' {
		return s.literal("null")
	}
	if !s.eat('[') {
		return false
	}
	out := []string{}
	if !s.eat(']') {
		for {
			var v string
			if s.next() == 'n' || !s.str(&v, true) {
				return false
			}
			out = append(out, v)
			if s.eat(']') {
				break
			}
			if !s.eat(',') {
				return false
			}
		}
	}
	*dst = out
	return true
}

// nics reads an array of NIC objects (mac, link) or null.
func (s *listScan) nics(dst *[]InstanceNIC) bool {
	if s.next() == 'n' {
		return s.literal("null")
	}
	if !s.eat('[') {
		return false
	}
	out := []InstanceNIC{}
	for !s.eat(']') {
		if len(out) > 0 && !s.eat(',') {
			return false
		}
		var n InstanceNIC
		if !s.eat('{') {
			return false
		}
		var seen [2]bool
		for !s.eat('}') {
			if (seen[0] || seen[1]) && !s.eat(',') {
				return false
			}
			k, ok := s.plain()
			if !ok || !s.eat(':') {
				return false
			}
			switch string(k) {
			case "mac":
				ok = !seen[0] && s.str(&n.MAC, false)
				seen[0] = true
			case "link":
				ok = !seen[1] && s.str(&n.Link, true)
				seen[1] = true
			default:
				ok = false
			}
			if !ok {
				return false
			}
		}
		out = append(out, n)
	}
	*dst = out
	return true
}
