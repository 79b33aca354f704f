package rapi

import (
	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

type tagKind string

const (
	tagCluster  tagKind = api.TagKindCluster
	tagNode     tagKind = api.TagKindNode
	tagInstance tagKind = api.TagKindInstance
)

// getTags answers GET .../tags.
func (h *Mount) getTags(k tagKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var tags []string
		switch k {
		case tagCluster:
			t, err := h.b.ClusterTags(ctx)
			if err != nil {
				h.fail(c, err)
				return
			}
			tags = t
		case tagNode:
			n, err := h.b.GetNode(ctx, c.Param("name"))
			if err != nil {
				h.fail(c, err)
				return
			}
			tags = n.Tags
		case tagInstance:
			in, err := h.b.GetInstance(ctx, c.Param("name"))
			if err != nil {
				h.fail(c, err)
				return
			}
			tags = in.Tags
		}
		if tags == nil {
			tags = []string{}
		}
		ok(c, tags)
	}
}

// addTags answers PUT .../tags?tag=a&tag=b (a job).
func (h *Mount) addTags(k tagKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		h.submit(c, op(api.OpTagsModify, api.TagsModify{Kind: string(k), Name: c.Param("name"), Add: c.QueryArray("tag")}))
	}
}

// deleteTags answers DELETE .../tags?tag=a (a job).
func (h *Mount) deleteTags(k tagKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		h.submit(c, op(api.OpTagsModify, api.TagsModify{Kind: string(k), Name: c.Param("name"), Remove: c.QueryArray("tag")}))
	}
}
