package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// palette is colour-blind safe (Okabe–Ito).
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, {0xD5, 0x5E, 0x00, 0xff}, {0x00, 0x9E, 0x73, 0xff},
	{0xCC, 0x79, 0xA7, 0xff}, {0xE6, 0x9F, 0x00, 0xff}, {0x56, 0xB4, 0xE9, 0xff},
}

// series is one line of points with optional confidence intervals.
type series struct {
	name   string
	x, y   []float64
	lo, hi []float64 // nil: no error bars
	dashed bool
}

// errXY is plotter.XYs with asymmetric Y errors.
type errXY struct {
	plotter.XYs
	plotter.YErrors
}

// svgOf renders p as an SVG document of w×h.
func svgOf(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	// Inline in HTML: drop the XML declaration before <svg.
	b := buf.Bytes()
	if i := bytes.Index(b, []byte("<svg")); i > 0 {
		b = b[i:]
	}
	return b, nil
}

// logLogChart draws series on log–log axes.
func logLogChart(title, xLabel, yLabel string, ss []series) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	plotted := 0
	for i, s := range ss {
		pts := plotter.XYs{}
		var errs plotter.YErrors
		for k := range s.x {
			if s.x[k] <= 0 || s.y[k] <= 0 || math.IsNaN(s.y[k]) {
				continue
			}
			pts = append(pts, plotter.XY{X: s.x[k], Y: s.y[k]})
			if s.lo != nil {
				lo := math.Max(s.y[k]-s.lo[k], 0)
				if s.lo[k] <= 0 {
					lo = 0
				}
				errs = append(errs, struct{ Low, High float64 }{lo, s.hi[k] - s.y[k]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		col := palette[i%len(palette)]
		l.Color, sc.Color = col, col
		l.Width = vg.Points(1.5)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		sc.GlyphStyle.Radius = vg.Points(2.5)
		p.Add(l, sc)
		if s.lo != nil && len(errs) == len(pts) {
			eb, err := plotter.NewYErrorBars(errXY{pts, errs})
			if err != nil {
				return nil, err
			}
			eb.Color = col
			p.Add(eb)
		}
		p.Legend.Add(s.name, l, sc)
		plotted++
	}
	if plotted == 0 {
		return nil, fmt.Errorf("chart %q: nothing to plot", title)
	}
	return svgOf(p, 7*vg.Inch, 4.2*vg.Inch)
}

// bar is one bar with a confidence interval.
type bar struct {
	label     string
	v, lo, hi float64
	group     int // colour
}

// refLine is a horizontal reference line.
type refLine struct {
	name string
	y    float64
}

// barChart draws bars with error bars and reference lines.
func barChart(title, yLabel string, groups []string, bars []bar, refs []refLine) ([]byte, error) {
	if len(bars) == 0 {
		return nil, fmt.Errorf("chart %q: nothing to plot", title)
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	w := vg.Points(18)
	names := make([]string, len(bars))
	ymax := 0.0
	for gi, g := range groups {
		var vals plotter.Values
		var pts plotter.XYs
		var errs plotter.YErrors
		for i, b := range bars {
			if b.group != gi {
				vals = append(vals, 0)
				continue
			}
			vals = append(vals, b.v)
			pts = append(pts, plotter.XY{X: float64(i), Y: b.v})
			errs = append(errs, struct{ Low, High float64 }{b.v - b.lo, b.hi - b.v})
			ymax = math.Max(ymax, b.hi)
		}
		if len(pts) == 0 {
			continue
		}
		bc, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bc.Color = palette[gi%len(palette)]
		bc.LineStyle.Width = 0
		p.Add(bc)
		p.Legend.Add(g, bc)
		eb, err := plotter.NewYErrorBars(errXY{pts, errs})
		if err != nil {
			return nil, err
		}
		p.Add(eb)
	}
	for i, b := range bars {
		names[i] = b.label
	}
	p.NominalX(names...)
	for i, r := range refs {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: r.y}, {X: float64(len(bars)) - 0.5, Y: r.y}})
		if err != nil {
			return nil, err
		}
		l.Color = color.RGBA{0x55, 0x55, 0x55, 0xff}
		l.Dashes = []vg.Length{vg.Points(2 + 2*float64(i)), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(r.name, l)
		ymax = math.Max(ymax, r.y)
	}
	p.Y.Min, p.Y.Max = 0, ymax*1.15
	p.Legend.Top = true
	return svgOf(p, 7*vg.Inch, 4*vg.Inch)
}
