package datasets

import (
	"bytes"
	"testing"
)

func TestSheetRoundTrip(t *testing.T) {
	d := Shapes(37, 32, 5)
	for _, cols := range []int{8, 64} {
		var b bytes.Buffer
		if err := d.WriteSheet(&b, cols); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSheet("x", &b, 32, d.Len())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Pix, d.Pix) {
			t.Errorf("%d columns: the images read back differ from those written", cols)
		}
	}
	if _, err := ReadSheet("x", bytes.NewReader([]byte("not a png")), 32, 1); err == nil {
		t.Error("a broken sheet was read")
	}
}
