//! Charts drawn as SVG on the server, so every page shows its numbers with JavaScript off:
//! horizontal bars, lines over time, a weekday x hour heatmap and a network. Each mark carries
//! its exact value in `data-*` attributes and a `<title>` tooltip, so tests (and people) can
//! read the numbers behind the picture.

use maud::{Markup, html};

/// Series colours (colour-blind safe, Okabe-Ito).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

const WIDTH: f64 = 640.0;

/// A number for people: integers as such, others with up to 2 decimals (3 significant when
/// small).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    if v.abs() >= 1.0 {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{v:.3}")
    }
}

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// What it stands for.
    pub label: String,
    /// Its length.
    pub value: f64,
    /// A page about it, if any.
    pub href: Option<String>,
}

/// A horizontal bar chart, largest value full width.
pub fn bars(id: &str, title: &str, items: &[Bar], unit: &str) -> Markup {
    let row = 24.0;
    let label_w = 170.0;
    let value_w = 90.0;
    let h = row * items.len() as f64 + 8.0;
    let max = items.iter().map(|b| b.value).fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (WIDTH - label_w - value_w) / max
    } else {
        0.0
    };
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) class="bars" viewBox={"0 0 " (WIDTH) " " (h)} role="img" aria-label=(title) {
                @for (i, b) in items.iter().enumerate() {
                    @let y = 4.0 + row * i as f64;
                    g.bar data-label=(b.label) data-value=(b.value) {
                        title { (b.label) ": " (num(b.value)) " " (unit) }
                        @match &b.href {
                            Some(href) => { a href=(href) { text x=(label_w - 6.0) y=(y + 16.0) text-anchor="end" { (truncate(&b.label, 24)) } } }
                            None => { text x=(label_w - 6.0) y=(y + 16.0) text-anchor="end" { (truncate(&b.label, 24)) } }
                        }
                        rect x=(label_w) y=(y + 3.0) width=(format!("{:.1}", (b.value * scale).max(1.0))) height=(row - 6.0) fill=(PALETTE[0]) {}
                        text.value x=(label_w + (b.value * scale).max(1.0) + 4.0) y=(y + 16.0) { (num(b.value)) }
                    }
                }
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

/// One line of a line chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name, in the legend.
    pub name: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

/// Lines over a shared x axis; `x_label` writes an x value for the axis and tooltips.
pub fn lines(
    id: &str,
    title: &str,
    series: &[Series],
    x_label: &dyn Fn(f64) -> String,
    unit: &str,
) -> Markup {
    let (h, left, right, top, bottom) = (260.0, 56.0, 12.0, 10.0, 28.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let y1 = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y1 = if y1 > 0.0 { y1 } else { 1.0 };
    let span = if x1 > x0 { x1 - x0 } else { 1.0 };
    let px = |x: f64| left + (x - x0) / span * (WIDTH - left - right);
    let py = |y: f64| top + (1.0 - y / y1) * (h - top - bottom);
    let ticks = 4;
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) class="lines" viewBox={"0 0 " (WIDTH) " " (h)} role="img" aria-label=(title) {
                @for t in 0..=ticks {
                    @let y = y1 * t as f64 / ticks as f64;
                    line.grid x1=(left) x2=(WIDTH - right) y1=(py(y)) y2=(py(y)) {}
                    text.axis x=(left - 4.0) y=(py(y) + 4.0) text-anchor="end" { (num(y)) }
                }
                @if x1 >= x0 {
                    text.axis x=(left) y=(h - 8.0) { (x_label(x0)) }
                    text.axis x=(WIDTH - right) y=(h - 8.0) text-anchor="end" { (x_label(x1)) }
                }
                @for (i, s) in series.iter().enumerate() {
                    @let colour = PALETTE[i % PALETTE.len()];
                    @let d = s.points.iter().enumerate().map(|(k, p)| format!("{}{:.1},{:.1}", if k == 0 { "M" } else { "L" }, px(p.0), py(p.1))).collect::<Vec<_>>().join(" ");
                    g.series data-name=(s.name) {
                        path d=(d) fill="none" stroke=(colour) stroke-width="2" {}
                        @for p in &s.points {
                            circle.point cx=(format!("{:.1}", px(p.0))) cy=(format!("{:.1}", py(p.1))) r="3" fill=(colour) data-x=(p.0) data-y=(p.1) {
                                title { (s.name) ", " (x_label(p.0)) ": " (num(p.1)) " " (unit) }
                            }
                        }
                    }
                }
            }
            @if series.len() > 1 {
                ul.legend {
                    @for (i, s) in series.iter().enumerate() {
                        li { span.swatch style={"background:" (PALETTE[i % PALETTE.len()])} {} (s.name) }
                    }
                }
            }
        }
    }
}

/// Weekday names, 0 = Sunday (as the jobs number them).
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A weekday x UTC hour heatmap of `(weekday, hour, value)` cells; missing cells are blank.
pub fn heatmap(id: &str, title: &str, cells: &[(i64, i64, f64)], unit: &str) -> Markup {
    let (left, top, cw, ch) = (40.0, 18.0, 24.0, 22.0);
    let w = left + 24.0 * cw;
    let h = top + 7.0 * ch + 4.0;
    let max = cells.iter().map(|c| c.2).fold(0.0, f64::max);
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) class="heatmap" viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(title) {
                @for hour in (0..24).step_by(3) {
                    text.axis x=(left + hour as f64 * cw + 2.0) y="12" { (format!("{hour:02}")) }
                }
                @for (d, name) in WEEKDAYS.iter().enumerate() {
                    text.axis x="2" y=(top + d as f64 * ch + 15.0) { (name) }
                }
                @for (d, hour, v) in cells {
                    @if (0..7).contains(d) && (0..24).contains(hour) {
                        @let a = if max > 0.0 { 0.08 + 0.92 * v / max } else { 0.0 };
                        rect.cell x=(left + *hour as f64 * cw) y=(top + *d as f64 * ch) width=(cw - 2.0) height=(ch - 2.0)
                            fill=(PALETTE[0]) fill-opacity=(format!("{a:.3}")) data-weekday=(d) data-hour=(hour) data-value=(v) {
                            title { (WEEKDAYS[*d as usize]) " " (format!("{hour:02}:00")) " UTC: " (num(*v)) " " (unit) }
                        }
                    }
                }
            }
        }
    }
}

/// A node placed by [`crate::layout`].
#[derive(Debug, Clone)]
pub struct Node {
    /// Its id (`stream:name`, `game:...`).
    pub id: String,
    /// What it shows.
    pub name: String,
    /// Its kind (Stream, User, Game...), for colour.
    pub label: String,
    /// Position in the unit square.
    pub x: f64,
    /// Position in the unit square.
    pub y: f64,
}

/// A network: links as lines between nodes, nodes as labelled circles (draggable with
/// JavaScript on; the layout comes from the server).
pub fn network(id: &str, title: &str, nodes: &[Node], links: &[(usize, usize, String)]) -> Markup {
    let (w, h, pad) = (WIDTH, 480.0, 30.0);
    let px = |x: f64| pad + x * (w - 2.0 * pad);
    let py = |y: f64| pad + y * (h - 2.0 * pad);
    let mut kinds: Vec<&str> = nodes.iter().map(|n| n.label.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let colour = |k: &str| PALETTE[kinds.iter().position(|x| *x == k).unwrap_or(0) % PALETTE.len()];
    html! {
        figure.chart {
            figcaption { (title) }
            svg id=(id) class="network" viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(title) {
                @for (a, b, ty) in links {
                    @if let (Some(na), Some(nb)) = (nodes.get(*a), nodes.get(*b)) {
                        line.link x1=(format!("{:.1}", px(na.x))) y1=(format!("{:.1}", py(na.y))) x2=(format!("{:.1}", px(nb.x))) y2=(format!("{:.1}", py(nb.y)))
                            data-s=(na.id) data-t=(nb.id) {
                            title { (na.name) " " (ty) " " (nb.name) }
                        }
                    }
                }
                @for n in nodes {
                    g.node data-id=(n.id) transform=(format!("translate({:.1},{:.1})", px(n.x), py(n.y))) {
                        title { (n.label) ": " (n.name) }
                        circle r="7" fill=(colour(&n.label)) {}
                        text x="9" y="4" { (truncate(&n.name, 18)) }
                    }
                }
            }
            ul.legend {
                @for k in &kinds {
                    li { span.swatch style={"background:" (colour(k))} {} (k) }
                }
            }
        }
    }
}
