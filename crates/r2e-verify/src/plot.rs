//! The best@k picture: one line per selection method (with its confidence
//! band) and the pass@k line above them, against k — as SVG (text, written
//! here) and PNG (rasterised here: anti-aliased by 2× supersampling, text
//! from an 8×8 bitmap font, encoded with zlib), from one list of shapes so
//! the two files show the same thing.

use std::fmt::Write as _;

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
            .map(|s| s.name.chars().count() as f64 * 11.0)
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
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
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

/// Supersampling factor of the rasteriser.
const SS: usize = 2;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            px: vec![[1.0; 3]; w * h],
        }
    }

    fn blend(&mut self, x: i64, y: i64, color: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let p = &mut self.px[y as usize * self.w + x as usize];
        for (c, &v) in p.iter_mut().zip(&color) {
            *c = *c * (1.0 - alpha) + f32::from(v) / 255.0 * alpha;
        }
    }

    fn bbox(&self, x0: f64, y0: f64, x1: f64, y1: f64) -> (i64, i64, i64, i64) {
        (
            x0.floor().max(0.0) as i64,
            y0.floor().max(0.0) as i64,
            x1.ceil().min(self.w as f64 - 1.0) as i64,
            y1.ceil().min(self.h as f64 - 1.0) as i64,
        )
    }

    fn segment(&mut self, a: (f64, f64), b: (f64, f64), half: f64, color: Rgb) {
        let (x0, y0, x1, y1) = self.bbox(
            a.0.min(b.0) - half - 1.0,
            a.1.min(b.1) - half - 1.0,
            a.0.max(b.0) + half + 1.0,
            a.1.max(b.1) + half + 1.0,
        );
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
                if qx * qx + qy * qy <= half * half {
                    self.blend(x, y, color, 1.0);
                }
            }
        }
    }

    fn polyline(&mut self, points: &[(f64, f64)], width: f64, color: Rgb, dashed: bool) {
        let half = width / 2.0;
        if !dashed {
            for pair in points.windows(2) {
                self.segment(pair[0], pair[1], half, color);
            }
            return;
        }
        let (on, off) = (8.0 * SS as f64, 5.0 * SS as f64);
        let mut phase = 0.0; // distance into the current on+off period
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let mut t = 0.0;
            while t < len {
                let in_on = phase < on;
                let left = if in_on { on - phase } else { on + off - phase };
                let step = left.min(len - t);
                if in_on {
                    let p = |s: f64| (a.0 + (b.0 - a.0) * s / len, a.1 + (b.1 - a.1) * s / len);
                    self.segment(p(t), p(t + step), half, color);
                }
                t += step;
                phase = (phase + step) % (on + off);
            }
        }
    }

    fn polygon(&mut self, points: &[(f64, f64)], color: Rgb, alpha: f32) {
        if points.len() < 3 {
            return;
        }
        let y_min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let y_max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let (_, y0, _, y1) = self.bbox(0.0, y_min, 0.0, y_max);
        for y in y0..=y1 {
            let cy = y as f64 + 0.5;
            let mut xs: Vec<f64> = Vec::new();
            for i in 0..points.len() {
                let (a, b) = (points[i], points[(i + 1) % points.len()]);
                if (a.1 <= cy && b.1 > cy) || (b.1 <= cy && a.1 > cy) {
                    xs.push(a.0 + (cy - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
            xs.sort_by(f64::total_cmp);
            for pair in xs.chunks_exact(2) {
                let start = (pair[0] - 0.5).ceil().max(0.0) as i64;
                let end = (pair[1] - 0.5).floor() as i64;
                for x in start..=end {
                    self.blend(x, y, color, alpha);
                }
            }
        }
    }

    fn disc(&mut self, cx: f64, cy: f64, r: f64, color: Rgb) {
        let (x0, y0, x1, y1) = self.bbox(cx - r - 1.0, cy - r - 1.0, cx + r + 1.0, cy + r + 1.0);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    self.blend(x, y, color, 1.0);
                }
            }
        }
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: Option<Rgb>, stroke: Option<Rgb>) {
        if let Some(color) = fill {
            let (x0, y0, x1, y1) = self.bbox(x, y, x + w - 1.0, y + h - 1.0);
            for py in y0..=y1 {
                for px in x0..=x1 {
                    self.blend(px, py, color, 1.0);
                }
            }
        }
        if let Some(color) = stroke {
            let corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)];
            self.polyline(&corners, SS as f64, color, false);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        x: f64,
        y: f64,
        text: &str,
        size: f64,
        anchor: Anchor,
        color: Rgb,
        vertical: bool,
    ) {
        // `size` is in canvas pixels; glyph cells are 8 × scale.
        let scale = ((size / 8.0).round() as i64).max(1);
        let advance = 8 * scale;
        let width = advance * text.chars().count() as i64;
        let shift = match anchor {
            Anchor::Start => 0,
            Anchor::Middle => width / 2,
            Anchor::End => width,
        };
        // (x, y) is the baseline point; glyphs are 8 rows with the baseline at row 7.
        let (bx, by) = (x.round() as i64, y.round() as i64);
        for (i, ch) in text.chars().enumerate() {
            let code = ch as usize;
            let glyph = if code < 128 {
                font8x8::legacy::BASIC_LEGACY[code]
            } else {
                font8x8::legacy::BASIC_LEGACY[usize::from(b'?')]
            };
            let offset = i as i64 * advance - shift;
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) == 0 {
                        continue;
                    }
                    let gx = offset + col * scale;
                    let gy = (row as i64 - 7) * scale;
                    for sy in 0..scale {
                        for sx in 0..scale {
                            let (dx, dy) = (gx + sx, gy + sy);
                            let (px, py) = if vertical {
                                (bx + dy, by - dx)
                            } else {
                                (bx + dx, by + dy)
                            };
                            self.blend(px, py, color, 1.0);
                        }
                    }
                }
            }
        }
    }
}

/// The chart as PNG bytes (RGB, 8 bits per channel).
pub fn png(chart: &Chart) -> Vec<u8> {
    let (w, h) = (WIDTH as usize, HEIGHT as usize);
    let mut canvas = Canvas::new(w * SS, h * SS);
    let s = SS as f64;
    let scaled = |points: &[(f64, f64)]| {
        points
            .iter()
            .map(|(x, y)| (x * s, y * s))
            .collect::<Vec<_>>()
    };
    for shape in layout(chart) {
        match shape {
            Shape::Line {
                points,
                color,
                width,
                dashed,
            } => canvas.polyline(&scaled(&points), width * s, color, dashed),
            Shape::Area {
                points,
                color,
                alpha,
            } => canvas.polygon(&scaled(&points), color, alpha as f32),
            Shape::Dot { x, y, r, color } => canvas.disc(x * s, y * s, r * s, color),
            Shape::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => canvas.rect(x * s, y * s, w * s, h * s, fill, stroke),
            Shape::Text {
                x,
                y,
                text,
                size,
                anchor,
                color,
                vertical,
            } => canvas.text(x * s, y * s, &text, size * s, anchor, color, vertical),
        }
    }
    // Downsample: average each SS×SS block.
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0f32; 3];
            for sy in 0..SS {
                for sx in 0..SS {
                    let p = canvas.px[(y * SS + sy) * canvas.w + x * SS + sx];
                    for (a, v) in acc.iter_mut().zip(p) {
                        *a += v;
                    }
                }
            }
            for a in acc {
                rgb.push((a / (SS * SS) as f32 * 255.0).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    encode_png(WIDTH, HEIGHT, &rgb)
}

/// Encodes 8-bit RGB pixels as a PNG file.
pub fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let row = width as usize * 3;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgb.chunks(row).take(height as usize) {
        raw.push(0); // filter: none
        raw.extend_from_slice(line);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let compressed = z
        .write_all(&raw)
        .and_then(|()| z.finish())
        .unwrap_or_default();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, no filter set, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &compressed);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finish().to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks use it.
struct Crc(u32);

impl Crc {
    fn new() -> Self {
        Self(0xffff_ffff)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u32::from(b);
            for _ in 0..8 {
                let mask = (self.0 & 1).wrapping_neg();
                self.0 = (self.0 >> 1) ^ (0xedb8_8320 & mask);
            }
        }
    }

    fn finish(self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_png_specification_example() {
        let mut crc = Crc::new();
        crc.update(b"IEND");
        assert_eq!(crc.finish(), 0xae42_6082);
    }
}
