package main

import (
	"slices"
	"testing"

	"github.com/drover-project/drover/api"
)

// TestInstanceColumnFields: every column of instance list names the API
// fields it shows, and GET /instances?fields= accepts them, so that the
// list asks the masters only for what it prints.
func TestInstanceColumnFields(t *testing.T) {
	known := api.InstanceFieldNames()
	for _, f := range instanceFields.fields {
		af, ok := instanceColumnFields[f.name]
		if !ok || len(af) == 0 {
			t.Errorf("column %s has no API fields", f.name)
		}
		for _, a := range af {
			if !slices.Contains(known, a) {
				t.Errorf("column %s: API field %s is not one of %v", f.name, a, known)
			}
		}
	}
}
