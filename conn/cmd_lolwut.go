package conn

import (
	"math"
	"math/rand/v2"

	"github.com/valkyrie-kv/valkyrie/shard"
	"github.com/valkyrie-kv/valkyrie/wire"
)

// LOLWUT [VERSION v] [args...] draws the computer art of a Redis version:
// 5 gives Georg Nees's "Schotter" in Braille dots, 6 a city skyline in
// terminal grays, anything else the version line alone (what 7.0 shows).
// Both drawings are random, as in Redis.

func init() {
	registerLocal(&localCommand{Spec: shard.Spec{Name: "lolwut", Arity: -1, Flags: shard.ReadOnly | Fast,
		Group: "server", Since: "5.0.0", Summary: "Display some computer art and the Redis version",
		Complexity: "", Syntax: "[VERSION version]"}, run: cmdLolwut})
}

func cmdLolwut(c *client, args [][]byte) {
	version := int64(7)
	if len(args) >= 3 && equalFold(args[1], "version") {
		v, ok := wire.ParseInt(args[2])
		if !ok {
			c.replyError(shard.ErrNotInt)
			return
		}
		// Redis prints the version as an unsigned 32-bit number and looks
		// at its first digits: only 5 and 6 have art.
		version = int64(uint32(v))
		args = args[2:]
	}
	var text []byte
	switch version {
	case 5:
		size, ok := lolwutArgs(c, args, []int64{66, 8, 12}, []int64{1000, 200, 200})
		if !ok {
			return
		}
		text = schotter(int(size[0]), int(size[1]), int(size[2])).braille()
		text = append(text, "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. "...)
	case 6:
		size, ok := lolwutArgs(c, args, []int64{80, 20}, []int64{1000, 1000})
		if !ok {
			return
		}
		cv := newCanvas(int(size[0]), int(size[1]), 3)
		cv.skyline()
		text = cv.grays()
		text = append(text, "\nDedicated to the 8 bit game developers of past and present.\n"+
			"Original 8 bit image from Plaguemon by hikikomori. Redis ver. "...)
	default:
		text = append(text, "Redis ver. "...)
	}
	text = append(text, RedisVersion...)
	text = append(text, '\n')
	c.local = wire.AppendVerbatim(c.local, "txt", text, c.proto)
}

// lolwutArgs reads the numeric arguments after the command name, each
// defaulting to dflt and clamped to 1..max.
func lolwutArgs(c *client, args [][]byte, dflt, max []int64) ([]int64, bool) {
	out := append([]int64(nil), dflt...)
	for i := range out {
		if 1+i < len(args) {
			v, ok := wire.ParseInt(args[1+i])
			if !ok {
				c.replyError(shard.ErrNotInt)
				return nil, false
			}
			out[i] = v
		}
		out[i] = min(maxInt(out[i], 1), max[i])
	}
	return out, true
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// canvas is a grid of pixels with a color each (0..3).
type canvas struct {
	w, h int
	px   []byte
}

func newCanvas(w, h int, bg byte) *canvas {
	cv := &canvas{w: w, h: h, px: make([]byte, w*h)}
	for i := range cv.px {
		cv.px[i] = bg
	}
	return cv
}

// set colors a pixel; one outside the canvas is ignored.
func (cv *canvas) set(x, y int, color byte) {
	if x >= 0 && x < cv.w && y >= 0 && y < cv.h {
		cv.px[x+y*cv.w] = color
	}
}

// at reads a pixel; outside the canvas it is 0.
func (cv *canvas) at(x, y int) byte {
	if x < 0 || x >= cv.w || y < 0 || y >= cv.h {
		return 0
	}
	return cv.px[x+y*cv.w]
}

// line draws from (x0,y0) to (x1,y1) by Bresenham's method.
func (cv *canvas) line(x0, y0, x1, y1 int, color byte) {
	dx, dy := absInt(x1-x0), absInt(y1-y0)
	sx, sy := -1, -1
	if x0 < x1 {
		sx = 1
	}
	if y0 < y1 {
		sy = 1
	}
	e := dx - dy
	for {
		cv.set(x0, y0, color)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 > -dy {
			e -= dy
			x0 += sx
		}
		if e2 < dx {
			e += dx
			y0 += sy
		}
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// square draws a square of the given side centred on (x,y), turned by
// angle radians: its corners lie on a circle, a quarter turn apart.
func (cv *canvas) square(x, y int, side, angle float32, color byte) {
	r := float32(math.Round(float64(side / 1.4142135623)))
	var px, py [4]int
	k := float32(math.Pi/4) + angle
	for j := range 4 {
		px[j] = int(math.Round(math.Sin(float64(k))*float64(r) + float64(x)))
		py[j] = int(math.Round(math.Cos(float64(k))*float64(r) + float64(y)))
		k += float32(math.Pi / 2)
	}
	for j := range 4 {
		cv.line(px[j], py[j], px[(j+1)%4], py[(j+1)%4], color)
	}
}

// schotterMaxPixels bounds the canvas of schotter: 4 MB, a 1.5 MB reply.
const schotterMaxPixels = 1 << 22

// schotter draws rows of squares that fall into disorder row by row, for
// a terminal cols characters wide (two pixels each).
func schotter(cols, perRow, perCol int) *canvas {
	w := cols * 2
	pad := 0
	if w > 4 {
		pad = 2
	}
	side := float32(w-2*pad) / float32(perRow)
	// Redis would draw LOLWUT VERSION 5 1000 1 200 on 800 MB of canvas
	// and reply 300 MB; here the bottom is cut off past schotterMaxPixels.
	h := min(int(side*float32(perCol)+float32(2*pad)), schotterMaxPixels/w)
	cv := newCanvas(w, h, 0)
	for y := range perCol {
		for x := range perRow {
			sx := int(float32(x)*side + side/2 + float32(pad))
			sy := int(float32(y)*side + side/2 + float32(pad))
			var angle float32
			if y > 1 {
				jitter := func() float32 { return rand.Float32() / float32(perCol) * float32(y) }
				r1, r2, r3 := jitter(), jitter(), jitter()
				for _, r := range []*float32{&r1, &r2, &r3} {
					if rand.IntN(2) == 1 {
						*r = -*r
					}
				}
				angle = r1
				sx = int(float32(sx) + r2*side/3)
				sy = int(float32(sy) + r3*side/3)
			}
			cv.square(sx, sy, side, angle, 1)
		}
	}
	return cv
}

// braille renders the canvas two by four pixels per character, as the
// Unicode Braille patterns number their dots.
func (cv *canvas) braille() []byte {
	var out []byte
	dots := [8]struct{ dx, dy int }{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {0, 3}, {1, 3}}
	for y := 0; y < cv.h; y += 4 {
		for x := 0; x < cv.w; x += 2 {
			var bits rune
			for i, d := range dots {
				if cv.at(x+d.dx, y+d.dy) != 0 {
					bits |= 1 << i
				}
			}
			out = append(out, string(0x2800+bits)...)
		}
		if y != cv.h-1 {
			out = append(out, '\n')
		}
	}
	return out
}

// grays renders one terminal cell per pixel in the four grays of a
// color terminal, foreground and background alike.
func (cv *canvas) grays() []byte {
	colors := [4]string{"0;30;40m", "0;90;100m", "0;37;47m", "0;97;107m"}
	var out []byte
	for y := range cv.h {
		for x := range cv.w {
			out = append(out, "\x1b["...)
			out = append(out, colors[cv.at(x, y)&3]...)
			out = append(out, " \x1b[0m"...)
		}
		if y != cv.h-1 {
			out = append(out, '\n')
		}
	}
	return out
}

// building is one skyscraper of the skyline.
type building struct {
	x, w, h int
	color   byte
	windows bool
}

// draw stands b on the canvas's bottom row. Its roof is two pixels
// narrower on each side; lit windows, two pixels wide, take the grays
// other than the building's.
func (cv *canvas) draw(b building) {
	bottom := cv.h - 1
	top := bottom - b.h + 1
	for y := bottom; y >= top; y-- {
		for x := b.x; x < b.x+b.w; x++ {
			if y == top && (x <= b.x+1 || x >= b.x+b.w-2) {
				continue
			}
			color := b.color
			if b.windows && x > b.x+1 && x < b.x+b.w-2 && y > top+1 && y < bottom-1 {
				rx, ry := x-(b.x+1), y-(top+1)
				if rx/2%2 != 0 && ry%2 != 0 {
					for color == b.color {
						color = byte(1 + rand.IntN(2))
					}
					if rx%2 != 0 {
						color = cv.at(x-1, y)
					}
				}
			}
			cv.set(x, y, color)
		}
	}
}

// skyline draws two rows of plain buildings, the lighter behind, then a
// row of dark ones with windows in front.
func (cv *canvas) skyline() {
	for color := byte(2); color >= 1; color-- {
		for x := -10; x < cv.w; {
			x += rand.IntN(8)
			b := building{x: x, w: 10 + rand.IntN(9), color: color}
			if color == 2 {
				b.h = cv.h/2 + rand.IntN(cv.h)/2
				x += b.w / 2
			} else {
				b.h = cv.h/2 + rand.IntN(cv.h)/3
				x += b.w + 1
			}
			cv.draw(b)
		}
	}
	for x := -10; x < cv.w; {
		x += rand.IntN(8)
		b := building{x: x, w: 5 + rand.IntN(14), windows: true}
		if b.w%4 != 0 {
			b.w += b.w % 3
		}
		b.h = cv.h/3 + rand.IntN(cv.h)/2
		cv.draw(b)
		x += b.w + 5
	}
}
