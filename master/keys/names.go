package keys

import "strings"

// NamesPrefix holds the case-insensitive name index of instances and nodes:
// NameKey(InstancesPrefix, "Web1") = ".../names/instances/web1" holds the
// name as written ("Web1"). It is written and deleted in the same
// transaction as the record it indexes, with a compare that it is absent on
// create, so that "Web1" and "web1" cannot both be created, even by two jobs
// at once, and a name check reads one key instead of every record.
const NamesPrefix = KeyPrefix + "names/"

// NameKey is the index key of name among the records under prefix
// (InstancesPrefix or NodesPrefix).
func NameKey(prefix, name string) string {
	return NamesPrefix + strings.TrimPrefix(prefix, KeyPrefix) + strings.ToLower(name)
}
