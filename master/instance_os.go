package master

import (
	"slices"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// Instances may name a Ganeti OS definition (NAME+VARIANT) instead of a
// template (docs/templates.md, "Ganeti OS definitions as providers"). OS
// definitions live on the nodes, as in Ganeti: the master keeps no
// artifact for them and checks the ref and parameters against what the
// node's agent publishes (NodeStatus.OSDefinitions). Such an instance's
// record has OS = the ref, OSVersion 0 and no OSDigest.

// osDefinitionRecord is the template record standing for a Ganeti OS
// definition, or false when ref names a template. A "@version" suffix
// (as in "NAME+VARIANT@0", how instance records are looked up) is dropped.
func osDefinitionRecord(ref string) (*keys.TemplateRecord, bool) {
	if !strings.Contains(ref, "+") {
		return nil, false
	}
	if i := strings.LastIndexByte(ref, '@'); i > strings.IndexByte(ref, '+') {
		ref = ref[:i]
	}
	return &keys.TemplateRecord{Name: ref}, true
}

// checkNodeOS checks that node publishes the OS definition ref with the
// variant asked and knows every parameter.
func checkNodeOS(node, ref string, params map[string]string, st *keys.NodeStatus) error {
	name, variant, _ := strings.Cut(ref, "+")
	var have []string
	for _, o := range st.OSDefinitions {
		if o.Error == "" {
			for _, v := range o.Variants {
				have = append(have, o.Name+"+"+v)
			}
		}
		if o.Name != name {
			continue
		}
		if o.Error != "" {
			return api.Errorf(api.CodeWrongState, "os %s on node %s (%s) is not usable: %s", name, node, o.Dir, o.Error)
		}
		if !slices.Contains(o.Variants, variant) {
			return api.Errorf(api.CodeUnknownEntity, "os %s on node %s has no variant %q (variants: %s)", name, node, variant, orNone(o.Variants))
		}
		for k := range params {
			if _, ok := o.Parameters[k]; !ok {
				known := make([]string, 0, len(o.Parameters))
				for p := range o.Parameters {
					known = append(known, p)
				}
				slices.Sort(known)
				return api.Errorf(api.CodeWrongInput, "os %s has no parameter %q (parameters: %s)", name, k, orNone(known))
			}
		}
		return nil
	}
	return api.Errorf(api.CodeUnknownEntity, "os %s is not installed on node %s (its OS definitions: %s)", ref, node, orNone(have))
}

// checkAddOS checks the OS part of an add: parameters go with OS
// definitions only, and the node must have the definition.
func checkAddOS(p api.InstanceAdd, t *keys.TemplateRecord, st *keys.NodeStatus) error {
	if t.Digest != "" {
		if len(p.OSParams) > 0 {
			return api.Errorf(api.CodeWrongInput, "os parameters (-O) are for Ganeti OS definitions; %s is a template", p.OS)
		}
		return nil
	}
	return checkNodeOS(p.Node, t.Name, p.OSParams, st)
}
