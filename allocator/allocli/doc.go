// Package allocli is the command line of the allocator on htools text files
// (`drover alloc` and the small `drover-alloc` binary, which starts in a
// fraction of the time: docs/allocator.md).
package allocli
