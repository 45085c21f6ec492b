package store

import (
	"context"
	"fmt"
	"testing"
)

// A built-in dataset recorded by an older version (at 64 px) takes the
// largest side this version gives it, keeping its id (runs point at it).
func TestEnsureBuiltinTakesNewLargestSide(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	old, err := s.EnsureBuiltin(ctx, "shapes", 64, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now, err := s.EnsureBuiltin(ctx, "shapes", 128, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if now.ID != old.ID || now.Res != 128 || now.MaxRes() != 128 {
		t.Errorf("recorded again as %d at %d px, want id %d at 128", now.ID, now.Res, old.ID)
	}
	if list, _ := s.Datasets(ctx); len(list) != 1 {
		t.Errorf("%d datasets, want the one built-in", len(list))
	}
}

func TestDatasetResolutions(t *testing.T) {
	for _, c := range []struct {
		res  int
		want string
	}{{32, "[32]"}, {64, "[32 64]"}, {128, "[32 64 128]"}, {256, "[32 64 128 256]"}} {
		d := &Dataset{Res: c.res}
		if got := fmt.Sprint(d.Resolutions()); got != c.want {
			t.Errorf("kept at %d: serves %s, want %s", c.res, got, c.want)
		}
	}
}
