//! Figures with plotters: each chart is drawn once per backend, as `NAME.png` and
//! `NAME.svg`. Text uses the embedded DejaVu Sans, so no system fonts are needed.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (900, 560);
/// Bar charts with more bars than this print their labels upright.
const UPRIGHT_LABELS_ABOVE: usize = 8;

/// Registers the embedded font as `sans-serif` (idempotent).
pub fn register_font() -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| anyhow!("the embedded font is invalid"))
}

/// A named series of (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

/// A line chart of several series, written as `stem.png` and `stem.svg`.
pub fn line_chart(stem: &Path, title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Result<()> {
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    draw_lines(BitMapBackend::new(&png, SIZE).into_drawing_area(), title, x_label, y_label, series)?;
    draw_lines(SVGBackend::new(&svg, SIZE).into_drawing_area(), title, x_label, y_label, series)
}

/// A bar chart (one bar per label), written as `stem.png` and `stem.svg`.
pub fn bar_chart(stem: &Path, title: &str, y_label: &str, bars: &[(String, f64)]) -> Result<()> {
    let annotated: Vec<(String, f64, Vec<String>)> = bars.iter().map(|(l, v)| (l.clone(), *v, vec![format!("{v:.2}")])).collect();
    annotated_bar_chart(stem, title, y_label, &annotated)
}

/// A bar chart with a note above each bar (label, value, the note's lines, top first).
pub fn annotated_bar_chart(stem: &Path, title: &str, y_label: &str, bars: &[(String, f64, Vec<String>)]) -> Result<()> {
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    draw_bars(BitMapBackend::new(&png, SIZE).into_drawing_area(), title, y_label, bars)?;
    draw_bars(SVGBackend::new(&svg, SIZE).into_drawing_area(), title, y_label, bars)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a figure: {e:?}")
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, (y_min - pad)..(y_max + pad))
        .map_err(err)?;
    chart.configure_mesh().x_desc(x_label).y_desc(y_label).label_style(("sans-serif", 14)).draw().map_err(err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        // Markers too, so a series of one evaluated epoch is still visible.
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(legend_position(series, x_max, y_min - pad, y_max + pad))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Where the legend hides the least data: of the plot's corners and edge midpoints, the one
/// whose legend-sized box the fewest curve samples fall in (failing runs crowd the bottom
/// at chance level, rising ones the top right). Ties go to the earlier of the list.
fn legend_position(series: &[Series], x_max: f64, y_lo: f64, y_hi: f64) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    // The legend box as a share of the plot area (14 px per character plus the swatch
    // across ~800 px, 20 px per row across ~460 px), with a little slack.
    let longest = series.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0) as f64;
    let w = ((40.0 + 8.0 * longest) / 800.0).min(0.5) + 0.02;
    let h = ((10.0 + 20.0 * series.len() as f64) / 460.0).min(0.9) + 0.02;
    let span = |at: f64, size: f64| (at - size / 2.0).clamp(0.0, 1.0 - size)..=(at + size / 2.0).clamp(size, 1.0);
    let candidates = [
        (LowerRight, 1.0, 0.0),
        (UpperRight, 1.0, 1.0),
        (UpperLeft, 0.0, 1.0),
        (LowerLeft, 0.0, 0.0),
        (MiddleRight, 1.0, 0.5),
        (MiddleLeft, 0.0, 0.5),
        (UpperMiddle, 0.5, 1.0),
        (LowerMiddle, 0.5, 0.0),
    ];
    // Points of every curve, with each segment sampled so a steep drop counts too.
    let samples: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, pts)| {
            pts.windows(2)
                .flat_map(|seg| {
                    (0..8).map(move |k| {
                        let t = k as f64 / 8.0;
                        (seg[0].0 + t * (seg[1].0 - seg[0].0), seg[0].1 + t * (seg[1].1 - seg[0].1))
                    })
                })
                .chain(pts.last().copied())
        })
        .map(|(x, y)| (x / x_max.max(f64::MIN_POSITIVE), (y - y_lo) / (y_hi - y_lo).max(f64::MIN_POSITIVE)))
        .collect();
    let covered = |fx: f64, fy: f64| {
        let (xs, ys) = (span(fx, w), span(fy, h));
        samples.iter().filter(|(x, y)| xs.contains(x) && ys.contains(y)).count()
    };
    let best = candidates.iter().min_by_key(|(_, fx, fy)| covered(*fx, *fy)).expect("candidates");
    best.0.clone()
}

fn draw_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    bars: &[(String, f64, Vec<String>)],
) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let y_max = bars.iter().map(|(_, v, _)| *v).fold(0.0f64, f64::max).max(1e-9) * 1.15;
    // Bar i stands on x = i, with half a slot either side. The labels are drawn here rather than by the mesh, which picks
    // its own "round" ticks and drops labels that would overlap.
    let n = bars.len().max(1);
    // At least three slots wide, so a lone bar still looks like a bar, centred.
    let margin = (3usize.saturating_sub(n)) as f64 / 2.0;
    // Side by side, more than a few labels would overlap; past that many bars each label
    // stands upright under its bar, in an area tall enough for the longest.
    let upright = n > UPRIGHT_LABELS_ABOVE;
    let longest = bars.iter().map(|(l, _, _)| l.chars().count()).max().unwrap_or(0) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(if upright { 16 + 8 * longest } else { 40 })
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5 - margin..n as f64 - 0.5 + margin, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_label)
        .x_label_formatter(&|_| String::new())
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    // A bar takes this share of its slot, so neighbours keep a gap.
    const WIDTH: f64 = 0.7;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, _))| {
            let color = Palette99::pick(i).to_rgba();
            let x = i as f64;
            Rectangle::new([(x - WIDTH / 2.0, 0.0), (x + WIDTH / 2.0, *v)], color.filled())
        }))
        .map_err(err)?;
    // A note's lines are stacked above its bar, the last one just above the bar's top: on one
    // line ("88.9 % · CE 0.0041 % → final 10.0 %") a note is wider than a bar's slot.
    const NOTE_PX: i32 = 13;
    let note_style = TextStyle::from(("sans-serif", NOTE_PX).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, (_, v, lines)) in bars.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, *v + y_max * 0.01));
        for (k, line) in lines.iter().enumerate() {
            let above = (lines.len() - 1 - k) as i32 * (NOTE_PX + 2);
            root.draw(&Text::new(line.clone(), (x, y - above), note_style.clone())).map_err(err)?;
        }
    }
    let label_style = TextStyle::from(("sans-serif", 14).into_font());
    let label_style = if upright {
        label_style.transform(FontTransform::Rotate90).pos(Pos::new(HPos::Left, VPos::Center))
    } else {
        label_style.pos(Pos::new(HPos::Center, VPos::Top))
    };
    for (i, (label, _, _)) in bars.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, 0.0));
        root.draw(&Text::new(label.clone(), (x, y + 8), label_style.clone())).map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_in_svg(bars: usize) -> (String, Vec<String>) {
        register_font().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let labels: Vec<String> = (0..bars).map(|i| format!("cell{i:02}")).collect();
        let values: Vec<(String, f64)> = labels.iter().enumerate().map(|(i, l)| (l.clone(), 1.0 + i as f64)).collect();
        bar_chart(&dir.path().join("bars"), "title", "y", &values).unwrap();
        (std::fs::read_to_string(dir.path().join("bars.svg")).unwrap(), labels)
    }

    #[test]
    fn a_bar_chart_names_every_bar_even_when_labels_would_overlap() {
        for bars in [1, 3, UPRIGHT_LABELS_ABOVE + 1, 16] {
            let (svg, labels) = labels_in_svg(bars);
            for label in &labels {
                assert!(svg.lines().any(|line| line.trim() == label), "{bars} bars: label {label} missing");
            }
        }
    }

    #[test]
    fn the_legend_goes_where_it_hides_no_curve() {
        let line = |name: &str, f: &dyn Fn(f64) -> f64| -> Series { (name.into(), (1..=80).map(|e| (e as f64, f(e as f64))).collect()) };
        // Nothing at the bottom right: the default corner.
        let rising = vec![line("a", &|e| 50.0 + e / 2.0)];
        assert!(matches!(legend_position(&rising, 80.0, 0.0, 100.0), SeriesLabelPosition::LowerRight));
        // One curve across the top, one along the bottom: the right edge's middle is free.
        let split = vec![line("ok", &|_| 88.0), line("failed", &|_| 10.0)];
        assert!(matches!(legend_position(&split, 80.0, 5.0, 93.0), SeriesLabelPosition::MiddleRight));
    }

    #[test]
    fn many_bar_labels_stand_upright_and_few_lie_flat() {
        let (few, _) = labels_in_svg(UPRIGHT_LABELS_ABOVE);
        let (many, _) = labels_in_svg(UPRIGHT_LABELS_ABOVE + 1);
        // (The y axis title is rotated by 270 degrees in both.)
        assert!(!few.contains("rotate(90,"), "few labels are written horizontally");
        assert_eq!(many.matches("rotate(90,").count(), UPRIGHT_LABELS_ABOVE + 1, "each of many labels is rotated");
    }
}
