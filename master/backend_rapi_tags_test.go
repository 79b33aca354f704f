package master

import (
	"slices"
	"testing"

	"github.com/drover-project/drover/api"
)

func TestApplyTags(t *testing.T) {
	p := api.TagsModify{Kind: api.TagKindNode, Name: "n1", Add: []string{"b", "a", "b"}, Remove: []string{"c"}}
	got, err := applyTags(p, []string{"c", "d"})
	if err != nil || !slices.Equal(got, []string{"a", "b", "d"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := applyTags(api.TagsModify{Kind: api.TagKindNode, Name: "n1", Remove: []string{"x"}}, []string{"a"}); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("removing an absent tag: %v", err)
	}
	many := make([]string, api.MaxTags+1)
	for i := range many {
		many[i] = string(rune('A' + i))
	}
	if _, err := applyTags(api.TagsModify{Kind: api.TagKindCluster, Add: many}, nil); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("too many tags: %v", err)
	}
}
