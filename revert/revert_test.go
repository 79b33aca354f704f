package revert

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestReverter(t *testing.T) {
	var ran []int
	step := func(i int, err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Errorf("undo %d got a done context", i)
			}
			ran = append(ran, i)
			return err
		}
	}
	boom := errors.New("boom")
	r := New(nil)
	r.Add(step(1, nil))
	r.Add(step(2, boom))
	r.Add(step(3, nil))
	if err := r.Fail(); !errors.Is(err, boom) {
		t.Fatalf("Fail = %v, want the failed undo's error", err)
	}
	if !slices.Equal(ran, []int{3, 2, 1}) {
		t.Fatalf("undos ran %v, want last first, all of them", ran)
	}
	if err := r.Fail(); err != nil || len(ran) != 3 {
		t.Fatalf("second Fail ran again: %v %v", err, ran)
	}
	ran = nil
	ok := New(nil)
	ok.Add(step(1, nil))
	ok.Success()
	if err := ok.Fail(); err != nil || ran != nil {
		t.Fatalf("Fail after Success: %v, ran %v", err, ran)
	}
}
