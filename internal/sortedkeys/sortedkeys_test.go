package sortedkeys

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    map[string]int
		want []string
	}{
		{"nil", nil, nil},
		{"empty", map[string]int{}, nil},
		{"one", map[string]int{"a": 1}, []string{"a"}},
		{"ordered bytewise", map[string]int{"b": 1, "a": 2, "B": 3, "aa": 4, "": 5}, []string{"", "B", "a", "aa", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Of(tc.m)); diff != "" {
				t.Errorf("Of (-want +got):\n%s", diff)
			}
			// The library's spelling agrees on every non-empty map.
			if len(tc.m) > 0 {
				if diff := cmp.Diff(slices.Sorted(maps.Keys(tc.m)), Of(tc.m)); diff != "" {
					t.Errorf("against slices.Sorted (-lib +Of):\n%s", diff)
				}
			}
		})
	}
}

// BenchmarkOf compares Of with slices.Sorted(maps.Keys(m)) on the maps an
// update carries: none (the common case) and a few.
func BenchmarkOf(b *testing.B) {
	for _, n := range []int{0, 3} {
		m := map[string]int{}
		for i := range n {
			m["k"+strconv.Itoa(i)] = i
		}
		b.Run("Of/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Of(m)
			}
		})
		b.Run("slices.Sorted/"+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = slices.Sorted(maps.Keys(m))
			}
		})
	}
}
