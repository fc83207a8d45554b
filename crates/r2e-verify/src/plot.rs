//! The best@k picture: one line per selection method (with its confidence
//! band) and the pass@k line above them, against k — as SVG (text, written
//! here from a list of shapes) and PNG (that same SVG rendered by resvg with
//! an embedded DejaVu Sans), so the two files show the same thing.

use crate::VerifyError;
use std::fmt::Write as _;
use std::sync::Arc;

/// The font of the plot's text: the SVG asks for it first, and the PNG
/// renders with it.
const FONT: &str = "DejaVu Sans";

/// An RGB colour.
pub type Rgb = [u8; 3];

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// The line's colour.
    pub color: Rgb,
    /// Dashed (for the pass@k ceiling) or solid.
    pub dashed: bool,
    /// `(x, y, lo, hi)`: the point and its interval (lo = hi: no band).
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The title.
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// The lines, drawn in order.
    pub series: Vec<Series>,
}

/// The chart's size in pixels.
pub const WIDTH: u32 = 960;
/// The chart's size in pixels.
pub const HEIGHT: u32 = 600;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Line {
        points: Vec<(f64, f64)>,
        color: Rgb,
        width: f64,
        dashed: bool,
    },
    Area {
        points: Vec<(f64, f64)>,
        color: Rgb,
        alpha: f64,
    },
    Dot {
        x: f64,
        y: f64,
        r: f64,
        color: Rgb,
    },
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Rgb>,
        stroke: Option<Rgb>,
    },
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f64,
        anchor: Anchor,
        color: Rgb,
        vertical: bool,
    },
}

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [120, 120, 120];
const GRID: Rgb = [228, 228, 228];
const WHITE: Rgb = [255, 255, 255];

/// A "nice" tick step covering `span` in about `ticks` steps.
fn tick_step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn format_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

fn layout(chart: &Chart) -> Vec<Shape> {
    let (w, h) = (f64::from(WIDTH), f64::from(HEIGHT));
    let (left, right, top, bottom) = (80.0, w - 30.0, 50.0, h - 70.0);
    let all = chart.series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let (mut y_min, mut y_max) = all
        .clone()
        .flat_map(|p| [p.1, p.2, p.3])
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 100.0);
    }
    let y_step = tick_step((y_max - y_min).max(1.0), 8.0);
    let y_lo = ((y_min / y_step).floor() * y_step).max(0.0);
    let mut y_hi = (y_max / y_step).ceil() * y_step;
    if y_hi <= y_lo {
        y_hi = y_lo + y_step;
    }
    let x_lo = 1.0;
    let x_hi = x_max.max(2.0);
    let px = |x: f64| left + (x - x_lo) / (x_hi - x_lo) * (right - left);
    let py = |y: f64| bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top);

    let mut shapes = vec![Shape::Rect {
        x: 0.0,
        y: 0.0,
        w,
        h,
        fill: Some(WHITE),
        stroke: None,
    }];
    let text = |x, y, t: String, size, anchor, color| Shape::Text {
        x,
        y,
        text: t,
        size,
        anchor,
        color,
        vertical: false,
    };
    // Grid and ticks.
    let mut y = y_lo;
    while y <= y_hi + 1e-9 {
        shapes.push(Shape::Line {
            points: vec![(left, py(y)), (right, py(y))],
            color: GRID,
            width: 1.0,
            dashed: false,
        });
        shapes.push(text(
            left - 8.0,
            py(y) + 5.0,
            format_tick(y),
            13.0,
            Anchor::End,
            BLACK,
        ));
        y += y_step;
    }
    let x_step = tick_step(x_hi - x_lo, 12.0).max(1.0);
    let mut x = x_lo;
    while x <= x_hi + 1e-9 {
        shapes.push(Shape::Line {
            points: vec![(px(x), top), (px(x), bottom)],
            color: GRID,
            width: 1.0,
            dashed: false,
        });
        shapes.push(text(
            px(x),
            bottom + 20.0,
            format_tick(x),
            13.0,
            Anchor::Middle,
            BLACK,
        ));
        x = if x == x_lo && x_step > 1.0 {
            x_step
        } else {
            x + x_step
        };
    }
    shapes.push(Shape::Rect {
        x: left,
        y: top,
        w: right - left,
        h: bottom - top,
        fill: None,
        stroke: Some(BLACK),
    });
    // Bands, then lines and dots.
    for s in &chart.series {
        if s.points.iter().any(|p| p.3 > p.2) {
            let mut points: Vec<(f64, f64)> = s.points.iter().map(|p| (px(p.0), py(p.3))).collect();
            points.extend(s.points.iter().rev().map(|p| (px(p.0), py(p.2))));
            shapes.push(Shape::Area {
                points,
                color: s.color,
                alpha: 0.15,
            });
        }
    }
    for s in &chart.series {
        shapes.push(Shape::Line {
            points: s.points.iter().map(|p| (px(p.0), py(p.1))).collect(),
            color: s.color,
            width: 2.5,
            dashed: s.dashed,
        });
        if s.points.len() <= 40 {
            for p in &s.points {
                shapes.push(Shape::Dot {
                    x: px(p.0),
                    y: py(p.1),
                    r: 3.5,
                    color: s.color,
                });
            }
        }
    }
    // Labels.
    shapes.push(text(
        w / 2.0,
        30.0,
        chart.title.clone(),
        18.0,
        Anchor::Middle,
        BLACK,
    ));
    shapes.push(text(
        (left + right) / 2.0,
        h - 25.0,
        chart.x_label.clone(),
        15.0,
        Anchor::Middle,
        BLACK,
    ));
    shapes.push(Shape::Text {
        x: 25.0,
        y: (top + bottom) / 2.0,
        text: chart.y_label.clone(),
        size: 15.0,
        anchor: Anchor::Middle,
        color: BLACK,
        vertical: true,
    });
    // Legend, lower right.
    let rows = chart.series.len() as f64;
    let legend_w = 12.0
        + 40.0
        + chart
            .series
            .iter()
            .map(|s| s.name.chars().count() as f64 * 7.8)
            .fold(0.0, f64::max);
    let (lx, ly) = (right - legend_w - 12.0, bottom - 12.0 - rows * 22.0 - 8.0);
    shapes.push(Shape::Rect {
        x: lx,
        y: ly,
        w: legend_w,
        h: rows * 22.0 + 8.0,
        fill: Some(WHITE),
        stroke: Some(GREY),
    });
    for (i, s) in chart.series.iter().enumerate() {
        let cy = ly + 15.0 + i as f64 * 22.0;
        shapes.push(Shape::Line {
            points: vec![(lx + 8.0, cy), (lx + 38.0, cy)],
            color: s.color,
            width: 2.5,
            dashed: s.dashed,
        });
        shapes.push(text(
            lx + 46.0,
            cy + 5.0,
            s.name.clone(),
            13.0,
            Anchor::Start,
            BLACK,
        ));
    }
    shapes
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn path_points(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}, Helvetica, Arial, sans-serif">"#
    );
    for shape in layout(chart) {
        let _ = match shape {
            Shape::Line {
                points,
                color,
                width,
                dashed,
            } => writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round"{}/>"#,
                path_points(&points),
                hex(color),
                if dashed {
                    r#" stroke-dasharray="8 5""#
                } else {
                    ""
                }
            ),
            Shape::Area {
                points,
                color,
                alpha,
            } => writeln!(
                out,
                r#"<polygon points="{}" fill="{}" fill-opacity="{alpha}" stroke="none"/>"#,
                path_points(&points),
                hex(color)
            ),
            Shape::Dot { x, y, r, color } => writeln!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{}"/>"#,
                hex(color)
            ),
            Shape::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => writeln!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}" stroke="{}"/>"#,
                fill.map_or("none".to_owned(), hex),
                stroke.map_or("none".to_owned(), hex)
            ),
            Shape::Text {
                x,
                y,
                text,
                size,
                anchor,
                color,
                vertical,
            } => {
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let rotate = if vertical {
                    format!(r#" transform="rotate(-90 {x:.1} {y:.1})""#)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{}"{rotate}>{}</text>"#,
                    hex(color),
                    escape(&text)
                )
            }
        };
    }
    out.push_str("</svg>\n");
    out
}

/// The PNG's pixels per SVG unit: 1920 × 1200, sharp when printed.
pub const PNG_SCALE: u32 = 2;

/// The chart as PNG bytes (RGBA, [`PNG_SCALE`] times the SVG's size): the
/// document of [`svg`] rendered by resvg, its text in DejaVu Sans, which is
/// embedded in the binary so that the figure looks the same on every machine.
pub fn png(chart: &Chart) -> Result<Vec<u8>, VerifyError> {
    use resvg::{tiny_skia, usvg};
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_source(usvg::fontdb::Source::Binary(Arc::new(
        dejavu::sans::regular(),
    )));
    fonts.set_sans_serif_family(FONT);
    let options = usvg::Options {
        font_family: FONT.to_owned(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let plot = |message: String| VerifyError::Plot(message);
    let tree = usvg::Tree::from_str(&svg(chart), &options).map_err(|e| plot(e.to_string()))?;
    let mut pixmap = tiny_skia::Pixmap::new(WIDTH * PNG_SCALE, HEIGHT * PNG_SCALE)
        .ok_or_else(|| plot("no memory for the PNG's pixels".to_owned()))?;
    let scale = PNG_SCALE as f32;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| plot(e.to_string()))
}
