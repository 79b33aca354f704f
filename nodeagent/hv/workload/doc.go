// Package workload is the hypervisor driver of node guests, where no
// hypervisor runs: each instance is a process that writes numbered,
// checksummed records to its disk with O_DIRECT|O_DSYNC and counts a record as
// acknowledged only once its write returned. Acknowledgements go to the
// instance's console log and an ack file, so a test can check that no
// acknowledged record is ever lost (Verify).
package workload
