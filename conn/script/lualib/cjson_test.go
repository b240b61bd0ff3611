package lualib

import "testing"

func TestCjsonNumberFormat(t *testing.T) {
	for f, want := range map[float64]string{1e14: "1e+14", 1e-5: "1e-05", 0.1: "0.1", 1.0 / 3: "0.33333333333333", 12345678901234: "12345678901234", -0.5: "-0.5"} {
		if got := string(cjsonAppendNumber(nil, f)); got != want {
			t.Errorf("%v: got %s want %s", f, got, want)
		}
	}
}

func TestStrtod(t *testing.T) {
	for _, c := range []struct {
		s string
		f float64
		n int
	}{{"1.5x", 1.5, 3}, {"0x10", 16, 4}, {"1e", 1, 1}, {"-", 0, 0}, {"1.", 1, 2}, {"+2e2,", 200, 4}, {"0x", 0, 1}} {
		f, n := strtod(c.s)
		if f != c.f || n != c.n {
			t.Errorf("strtod(%q) = %v, %d; want %v, %d", c.s, f, n, c.f, c.n)
		}
	}
}
