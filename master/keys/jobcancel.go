package keys

import "fmt"

// JobCancelPrefix holds the cancel requests of running jobs: the key exists
// from `job cancel` until the job ends. It is apart from the job's record so
// that a request does not race with the executor's checkpoints of it.
const JobCancelPrefix = KeyPrefix + "jobcancel/"

// JobCancelKey is the cancel request of job id.
func JobCancelKey(id uint64) string { return fmt.Sprintf("%s%020d", JobCancelPrefix, id) }
