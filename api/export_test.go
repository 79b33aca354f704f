package api

// DuplicateKey exposes duplicateKey to the fuzz tests of package api_test.
var DuplicateKey = duplicateKey
