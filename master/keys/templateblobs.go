package keys

// TemplateBlobsPrefix holds, per master, one key per template blob its store
// holds, bound to the master's lease: TemplateBlobKey(master, digest). A
// master that is down holds nothing as far as agents and verify can tell.
const TemplateBlobsPrefix = KeyPrefix + "templateblobs/"

// TemplateBlobKey says that master's store holds the blob with digest.
func TemplateBlobKey(master, digest string) string {
	return TemplateBlobsPrefix + master + "/" + digest
}
