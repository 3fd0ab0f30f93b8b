package web

// The admin panel's Dashboard (issue 21): mail in and out, spam caught,
// queue size, logins and disk use over the last 24 hours, 7 days or 90
// days, drawn as server-side SVG from the store's round-robin history
// (store/history.go); no script, so it reads on a phone as on a desk.
// The same numbers: GET /admin/api/dashboard?range=7d.

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"boxmail/internal/store"
)

// dashboardRange is one choice of the page: its name and tier.
type dashboardRange struct {
	Name, Label string
	Tier        int
	On          bool
}

var dashboardRanges = []dashboardRange{
	{Name: "24h", Label: "24 hours", Tier: 0},
	{Name: "7d", Label: "7 days", Tier: 1},
	{Name: "90d", Label: "90 days", Tier: 2},
}

// dashboardChart is one picture with its headline number.
type dashboardChart struct {
	ID, Title, Total string
	SVG              template.HTML
}

type dashboardData struct {
	Ranges   []dashboardRange
	Range    string
	Disk     string
	DiskLow  bool
	Charts   []dashboardChart
	Rendered string
}

// dashboardJSON is the API's answer.
type dashboardJSON struct {
	Range        string               `json:"range"`
	BucketSecs   int64                `json:"bucket_seconds"`
	Points       []store.HistoryPoint `json:"points"`
	DiskTotal    uint64               `json:"disk_total"`
	DiskAvail    uint64               `json:"disk_avail"`
	DiskFreePct  float64              `json:"disk_free_percent"`
	InodeFreePct float64              `json:"inodes_free_percent"`
}

// pickRange is the ?range= of r (default 24h).
func pickRange(r *http.Request) (dashboardRange, bool) {
	name := r.URL.Query().Get("range")
	if name == "" {
		name = "24h"
	}
	for _, x := range dashboardRanges {
		if x.Name == name {
			return x, true
		}
	}
	return dashboardRange{}, false
}

// history flushes the events counted so far (the page is up to the
// minute) and reads the range's buckets.
func (s *Server) history(ctx context.Context, rg dashboardRange) ([]store.HistoryPoint, error) {
	now := s.o.Now()
	if err := s.o.Store.FlushHistory(ctx, now); err != nil {
		s.log.Warn("flushing the history", "err", err) // the page still shows what was written
	}
	return s.o.Store.History(ctx, rg.Tier, now)
}

func loadDashboard(s *Server, r *http.Request) (any, error) {
	rg, ok := pickRange(r)
	if !ok {
		rg = dashboardRanges[0]
	}
	pts, err := s.history(r.Context(), rg)
	if err != nil {
		return nil, err
	}
	d := buildDashboard(pts, rg)
	if ds, err := s.o.Store.DiskSpace(); err == nil {
		d.Disk = fmt.Sprintf("%.1f%% of the data disk free (%s of %s), %.1f%% of its inodes", ds.FreePct, sizeLabel(float64(ds.Avail)), sizeLabel(float64(ds.Total)), ds.FilesFreePct)
		d.DiskLow = ds.FreePct < 20 || ds.FilesFreePct < 20
	}
	d.Rendered = s.o.Now().UTC().Format("2006-01-02 15:04 UTC")
	return d, nil
}

// buildDashboard draws every chart of the range.
func buildDashboard(pts []store.HistoryPoint, rg dashboardRange) dashboardData {
	d := dashboardData{Range: rg.Name}
	for _, x := range dashboardRanges {
		x.On = x.Name == rg.Name
		d.Ranges = append(d.Ranges, x)
	}
	series := func(f func(store.HistoryPoint) int64) []float64 {
		out := make([]float64, len(pts))
		for i, p := range pts {
			out[i] = float64(f(p))
		}
		return out
	}
	in, out := series(func(p store.HistoryPoint) int64 { return p.Received }), series(func(p store.HistoryPoint) int64 { return p.Sent })
	spam := series(func(p store.HistoryPoint) int64 { return p.Spam })
	logins := series(func(p store.HistoryPoint) int64 { return p.Logins })
	queue := series(func(p store.HistoryPoint) int64 { return p.Queue })
	disk := series(func(p store.HistoryPoint) int64 { return p.DiskUsed })
	var start, end time.Time
	if len(pts) > 0 {
		start, end = pts[0].Start, pts[len(pts)-1].Start
	}
	ax := axis{start: start, end: end, long: rg.Tier > 0}
	d.Charts = []dashboardChart{
		{ID: "chart-mail", Title: "Mail in and out", Total: fmt.Sprintf("%.0f in, %.0f out", sum(in), sum(out)),
			SVG: barChart(ax, "Mail in and out", countLabel, []bars{{in, "#1f6feb", "in"}, {out, "#1a7f37", "out"}})},
		{ID: "chart-spam", Title: "Spam caught", Total: fmt.Sprintf("%.0f", sum(spam)), SVG: barChart(ax, "Spam caught", countLabel, []bars{{spam, "#cf222e", "spam"}})},
		{ID: "chart-logins", Title: "Logins", Total: fmt.Sprintf("%.0f", sum(logins)), SVG: barChart(ax, "Logins", countLabel, []bars{{logins, "#8250df", "logins"}})},
		{ID: "chart-queue", Title: "Queue size", Total: fmt.Sprintf("at most %.0f", maxOf(queue)), SVG: lineChart(ax, "Queue size", countLabel, queue, "#9a6700")},
		{ID: "chart-disk", Title: "Disk used", Total: sizeLabel(last(disk)), SVG: lineChart(ax, "Disk used", sizeLabel, disk, "#5f6d77")},
	}
	return d
}

func (s *Server) apiDashboard(r *http.Request, _ string) (any, error) {
	rg, ok := pickRange(r)
	if !ok {
		return nil, badf("range: want 24h, 7d or 90d")
	}
	pts, err := s.history(r.Context(), rg)
	if err != nil {
		return nil, err
	}
	out := dashboardJSON{Range: rg.Name, BucketSecs: int64(store.HistoryTiers[rg.Tier].Width / time.Second), Points: pts}
	if ds, err := s.o.Store.DiskSpace(); err == nil {
		out.DiskTotal, out.DiskAvail, out.DiskFreePct, out.InodeFreePct = ds.Total, ds.Avail, ds.FreePct, ds.FilesFreePct
	}
	return out, nil
}

func sum(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}

func maxOf(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func last(v []float64) float64 {
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] != 0 {
			return v[i]
		}
	}
	return 0
}

func countLabel(v float64) string { return fmt.Sprintf("%.0f", v) }

func sizeLabel(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.1f GB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.0f kB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f bytes", v)
}

// The charts' geometry: a viewBox the browser scales to the page's
// width (about 320 px on a phone, 430 on a desk, so a unit is 0.75-1
// px), the plot area inside; the scale's labels sit inside the plot, over
// their lines, so no margin is lost to them.
const (
	chartW, chartH  = 420, 176
	plotL, plotR    = 4, 416
	plotT, plotB    = 22, 150
	chartFont       = `font-family="system-ui, sans-serif" font-size="14" fill="#5f6d77"`
	chartBackground = `<rect x="0" y="0" width="420" height="176" fill="#fff"/>`
	chartGridColor  = "#d8dee3"
	chartEmptyText  = "none in this period"
)

// axis is the time axis of a chart.
type axis struct {
	start, end time.Time
	long       bool // days: dates, not times
}

func (a axis) label(t time.Time) string {
	if a.long {
		return t.UTC().Format("Jan 2")
	}
	return t.UTC().Format("15:04")
}

// bars is one series of a bar chart.
type bars struct {
	v     []float64
	color string
	name  string
}

// chartOpen writes the SVG's start, grid and labels; the top of the
// scale is top.
func chartOpen(b *strings.Builder, a axis, title string, top float64, label func(float64) string) {
	fmt.Fprintf(b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, template.HTMLEscapeString(title))
	b.WriteString(chartBackground)
	for _, y := range []int{plotT, (plotT + plotB) / 2, plotB} {
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, plotL, y, plotR, y, chartGridColor)
	}
	if top > 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" %s>%s</text>`, plotL+2, plotT-5, chartFont, template.HTMLEscapeString(label(top)))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" %s>%s</text>`, plotL, chartH-6, chartFont, a.label(a.start))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" %s>%s</text>`, plotR, chartH-6, chartFont, a.label(a.end))
	if top == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" %s>%s</text>`, (plotL+plotR)/2, (plotT+plotB)/2-6, chartFont, chartEmptyText)
	}
}

// niceTop rounds the scale's top up to 1, 2 or 5 times a power of ten.
func niceTop(m float64) float64 {
	if m <= 0 {
		return 0
	}
	p := 1.0
	for p*10 <= m {
		p *= 10
	}
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= m {
			return f * p
		}
	}
	return 10 * p
}

// barChart draws series side by side in each bucket.
func barChart(a axis, title string, label func(float64) string, ss []bars) template.HTML {
	var b strings.Builder
	b.Grow(16 << 10)
	var m float64
	for _, s := range ss {
		m = max(m, maxOf(s.v))
	}
	top := niceTop(m)
	chartOpen(&b, a, title, top, label)
	if top > 0 && len(ss) > 0 {
		n := len(ss[0].v)
		slot := float64(plotR-plotL) / float64(max(n, 1))
		w := slot / float64(len(ss))
		for k, s := range ss {
			fmt.Fprintf(&b, `<g fill="%s"><title>%s</title>`, s.color, s.name)
			for i, v := range s.v {
				if v <= 0 {
					continue
				}
				h := v / top * float64(plotB-plotT)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.2f" height="%.1f"/>`, plotL+slot*float64(i)+w*float64(k), plotB-h, max(w*0.9, 0.8), h)
			}
			b.WriteString(`</g>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped labels only
}

// lineChart draws one gauge as a line.
func lineChart(a axis, title string, label func(float64) string, v []float64, color string) template.HTML {
	var b strings.Builder
	b.Grow(8 << 10)
	top := niceTop(maxOf(v))
	chartOpen(&b, a, title, top, label)
	if top > 0 && len(v) > 0 {
		step := float64(plotR-plotL) / float64(max(len(v)-1, 1))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
		for i, x := range v {
			fmt.Fprintf(&b, "%.1f,%.1f ", plotL+step*float64(i), plotB-x/top*float64(plotB-plotT))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped labels only
}
