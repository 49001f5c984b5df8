package reports

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"codeberg.org/go-fonts/liberation/liberationsansregular"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
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

// Chart text is set in Liberation Sans, and the page that shows charts
// embeds that font (chartFontCSS): gonum lays text out with the font's
// metrics, so a browser that drew it in a wider fallback font would
// overflow legends and labels.
var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// chartFontCSS declares the embedded font under the family name the SVG
// charts ask for.
var chartFontCSS = `@font-face{font-family:"Liberation Sans";font-style:normal;font-weight:normal;src:url(data:font/ttf;base64,` +
	base64.StdEncoding.EncodeToString(liberationsansregular.TTF) + `) format("truetype")}`

// Chart geometry.
const (
	chartMargin = vg.Length(6)  // around everything, in points
	legendGap   = vg.Length(12) // between the plot and a legend beside it
)

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

// chartPlot is a plot with its legend and y label, which svgOf draws
// beside it: gonum pads a log axis for its label as if the label were
// centred on the arithmetic middle of the range, which on a log scale
// squeezes the data into the bottom of the chart.
type chartPlot struct {
	*plot.Plot
	legend plot.Legend
	yLabel string
}

// newPlot is a plot whose every text is in chartFont.
func newPlot(title, xLabel, yLabel string) chartPlot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xLabel
	for _, f := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font, &p.X.Tick.Label.Font, &p.Y.Tick.Label.Font} {
		f.Typeface, f.Variant = chartFont.Typeface, chartFont.Variant
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	return chartPlot{Plot: p, legend: newLegend(), yLabel: yLabel}
}

// newLegend is a legend in chartFont with room between its entries.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Typeface, l.TextStyle.Font.Variant = chartFont.Typeface, chartFont.Variant
	l.TextStyle.Font.Size = vg.Points(11)
	l.Padding = vg.Points(5)
	l.ThumbnailWidth = vg.Points(24)
	l.Top, l.Left = true, true
	return l
}

// svgOf renders p as an SVG document of w×h: the y label at the left,
// the legend at the right, outside the data, and a margin on every side.
func svgOf(p chartPlot, w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	dc := draw.Crop(draw.New(c), chartMargin, -chartMargin, chartMargin, -chartMargin)
	titleH := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
	left := vg.Length(0)
	if p.yLabel != "" {
		sty := p.Y.Label.TextStyle
		sty.Rotation = math.Pi / 2
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		// Centred on the data area, roughly: below the title, above the
		// x axis's ticks and label.
		xAxisH := p.X.Tick.Label.Height("0") + p.X.Label.TextStyle.Height("0") + p.X.Tick.Length + 3*p.X.Label.Padding
		y := (dc.Min.Y + xAxisH + dc.Max.Y - titleH) / 2
		dc.FillText(sty, vg.Point{X: dc.Min.X, Y: y}, p.yLabel)
		left = sty.Height(p.yLabel) + vg.Points(4)
	}
	lw := p.legend.Rectangle(dc).Size().X
	p.Draw(draw.Crop(dc, left, -(lw + legendGap), 0, 0))
	// The legend's top lines up with the data area's: below the title.
	p.legend.Draw(draw.Crop(dc, dc.Size().X-lw, 0, 0, -titleH))
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

// powerTicks marks a log axis: every power of ten labelled with an SI
// prefix (100, 1k, 10k, 1M: never 1e+06, and no glyph the embedded font
// lacks, as superscript 0 and 9), the multiples between unlabelled; over
// less than two powers of ten, 2× and 5× are labelled too.
type powerTicks struct{}

// Ticks implements plot.Ticker.
func (powerTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	labelled := 0
	for e := lo; e <= hi; e++ {
		if v := math.Pow(10, float64(e)); v >= min && v <= max {
			labelled++
		}
	}
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		base := math.Pow(10, float64(e))
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			switch {
			case m == 1:
				t.Label = siNumber(v)
			case labelled < 2 && (m == 2 || m == 5):
				t.Label = siNumber(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// stepTicks labels a linear axis every 1, 2, 2.5 or 5 × 10ⁿ, whichever
// gives 4 to 10 labels (gonum's default labels a 0..1.6 axis at 0, 0.8
// and 1.6 only).
type stepTicks struct{}

// Ticks implements plot.Ticker.
func (stepTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) {
		return nil
	}
	mag := math.Pow(10, math.Floor(math.Log10((max-min)/5)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; (max-min)/step <= 10 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(min/step) * step; v <= max+step*1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 6, 64)})
	}
	return ticks
}

// siNumber writes a tick value with an SI prefix: 2k, 10M, 0.01.
func siNumber(v float64) string {
	for _, p := range []struct {
		div    float64
		prefix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= p.div {
			return fmt.Sprintf("%g%s", math.Round(v/p.div*1000)/1000, p.prefix)
		}
	}
	return fmt.Sprintf("%g", v)
}

// logLogChart draws series on log–log axes.
func logLogChart(title, xLabel, yLabel string, ss []series) ([]byte, error) {
	p := newPlot(title, xLabel, yLabel)
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = powerTicks{}, powerTicks{}
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
		p.legend.Add(s.name, l, sc)
		plotted++
	}
	if plotted == 0 {
		return nil, fmt.Errorf("chart %q: nothing to plot", title)
	}
	// Room above and below the data on a log axis: a decade's fifth.
	p.Y.Min, p.Y.Max = p.Y.Min/1.6, p.Y.Max*1.6
	p.X.Min, p.X.Max = p.X.Min/1.3, p.X.Max*1.3
	return svgOf(p, 9.5*vg.Inch, 4.6*vg.Inch)
}

// bar is one bar with a confidence interval.
type bar struct {
	category  string // the x position it is drawn at, with its group's others
	v, lo, hi float64
	group     int // colour and place within the category
}

// refLine is a horizontal reference line.
type refLine struct {
	name string
	y    float64
}

// barChart draws grouped bars with error bars and reference lines: one
// x label per category (in order of first appearance), the groups' bars
// side by side above it, the groups named in the legend.
func barChart(title, yLabel string, groups []string, bars []bar, refs []refLine) ([]byte, error) {
	if len(bars) == 0 {
		return nil, fmt.Errorf("chart %q: nothing to plot", title)
	}
	p := newPlot(title, "", yLabel)
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // a category's centre falls between its bars
	p.Add(grid)
	var cats []string
	catOf := map[string]int{}
	for _, b := range bars {
		if _, ok := catOf[b.category]; !ok {
			catOf[b.category] = len(cats)
			cats = append(cats, b.category)
		}
	}
	// Bars in data units: a category is 1 wide, its groups share 0.7 of it.
	slot := 0.7 / float64(len(groups))
	ymax := 0.0
	for gi, g := range groups {
		var pts plotter.XYs
		var errs plotter.YErrors
		var thumb *plotter.Polygon
		for _, b := range bars {
			if b.group != gi {
				continue
			}
			x := float64(catOf[b.category]) - 0.35 + slot*(float64(gi)+0.5)
			rect, err := plotter.NewPolygon(plotter.XYs{{X: x - slot*0.45, Y: 0}, {X: x + slot*0.45, Y: 0}, {X: x + slot*0.45, Y: b.v}, {X: x - slot*0.45, Y: b.v}})
			if err != nil {
				return nil, err
			}
			rect.Color = palette[gi%len(palette)]
			rect.LineStyle.Width = 0
			p.Add(rect)
			thumb = rect
			pts = append(pts, plotter.XY{X: x, Y: b.v})
			errs = append(errs, struct{ Low, High float64 }{b.v - b.lo, b.hi - b.v})
			ymax = math.Max(ymax, b.hi)
		}
		if len(pts) == 0 {
			continue
		}
		p.legend.Add(g, thumb)
		eb, err := plotter.NewYErrorBars(errXY{pts, errs})
		if err != nil {
			return nil, err
		}
		p.Add(eb)
	}
	p.NominalX(cats...)
	for i, r := range refs {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: r.y}, {X: float64(len(cats)) - 0.5, Y: r.y}})
		if err != nil {
			return nil, err
		}
		l.Color = color.RGBA{0x55, 0x55, 0x55, 0xff}
		l.Dashes = []vg.Length{vg.Points(2 + 2*float64(i)), vg.Points(3)}
		p.Add(l)
		p.legend.Add(r.name, l)
		ymax = math.Max(ymax, r.y)
	}
	p.X.Min, p.X.Max = -0.5, float64(len(cats))-0.5
	p.Y.Min, p.Y.Max = 0, ymax*1.15
	p.Y.Tick.Marker = stepTicks{}
	return svgOf(p, 9.5*vg.Inch, 4.2*vg.Inch)
}
