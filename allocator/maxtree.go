package allocator

import "math"

// maxTree finds the instance with the largest candidate gain in O(1) and
// takes an update in O(log n); ties go to the lowest index, as a scan would.
type maxTree struct {
	size int
	key  []float64 // per leaf; -Inf when the instance has no move
	win  []int32   // per tree node: the winning leaf of its subtree
}

func newMaxTree(n int) *maxTree {
	size := 1
	for size < n {
		size *= 2
	}
	t := &maxTree{size: size, key: make([]float64, size), win: make([]int32, 2*size)}
	for i := range t.key {
		t.key[i] = math.Inf(-1)
		t.win[size+i] = int32(i)
	}
	for v := size - 1; v >= 1; v-- {
		t.win[v] = t.better(t.win[2*v], t.win[2*v+1])
	}
	return t
}

func (t *maxTree) better(a, b int32) int32 {
	if t.key[b] > t.key[a] || (t.key[b] == t.key[a] && b < a) {
		return b
	}
	return a
}

// set changes leaf i's key.
func (t *maxTree) set(i int, k float64) {
	t.key[i] = k
	for v := (t.size + i) / 2; v >= 1; v /= 2 {
		t.win[v] = t.better(t.win[2*v], t.win[2*v+1])
	}
}

// top returns the leaf with the largest key.
func (t *maxTree) top() int { return int(t.win[1]) }
