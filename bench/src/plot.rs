//! The SVG charts (plotters): bars relative to demand paging, coverage
//! against accuracy per policy, major faults per distinct page against the
//! budget.

use crate::analysis::{KINDS, accuracy, budget_axis, budgets, coverage, major_of, mean_per_page, policies, unpressured};
use crate::rows::Row;
use anyhow::Result;

/// One panel of the budget chart: for every policy, the mean major faults
/// per distinct page of the `kind` runs under each budget, and Belady's
/// (dashed) where the simulator gave it.
fn plot_budget_panel(
    area: &plotters::prelude::DrawingArea<plotters::prelude::SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[Row],
    kind: &str,
    plural: &str,
) -> Result<()> {
    use plotters::prelude::*;
    let error = |error: DrawingAreaErrorKind<_>| anyhow::anyhow!("{error:?}");
    let mine: Vec<Row> = rows.iter().filter(|row| row.kind == kind && row.budget.is_some()).cloned().collect();
    let budgets = budgets(&mine);
    let line = |pick: &dyn Fn(&Row) -> Option<u64>| -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = budgets
            .iter()
            .filter_map(|&budget| Some((budget_axis(&mine, kind, budget)?, mean_per_page(&mine, kind, budget, pick)?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    };
    let lines: Vec<(String, Vec<(f64, f64)>)> =
        policies(&mine).into_iter().map(|policy| (policy.to_owned(), line(&major_of(&mine, policy)))).collect();
    let belady = line(&|demand: &Row| demand.belady);
    let all = || lines.iter().flat_map(|(_, points)| points.iter().copied()).chain(belady.iter().copied());
    let highest = all().map(|(_, y)| y).fold(0.1f64, f64::max);
    let left = all().map(|(x, _)| x).fold(f64::INFINITY, f64::min);
    let right = all().map(|(x, _)| x).fold(0f64, f64::max);
    let (left, right) = if left.is_finite() { ((left - 5.0).max(0.0), right + 5.0) } else { (0.0, 105.0) };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Major faults per distinct page against the budget: {plural}"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(left..right, 0f64..highest * 1.1)
        .map_err(error)?;
    chart
        .configure_mesh()
        .x_desc(format!("budget (% of the {}'s distinct pages)", if kind == "trace" { "trace" } else { "workload" }))
        .y_desc(format!("major faults per distinct page (mean over {plural})"))
        .draw()
        .map_err(error)?;
    for (index, (policy, points)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
            .map_err(error)?
            .label(policy)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if !belady.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(belady, 6, 4, BLACK.stroke_width(2)))
            .map_err(error)?
            .label("Belady (simulator)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(error)?;
    Ok(())
}

/// A line chart as SVG, a panel for the traces and one for the workloads
/// (those that ran under a budget): for every policy, the mean major faults
/// per distinct page under each budget, and Belady's (dashed), the limit.
pub fn plot_budgets(rows: &[Row]) -> Result<String> {
    use plotters::prelude::*;
    let kinds: Vec<(&str, &str)> =
        KINDS.into_iter().filter(|&(kind, _)| rows.iter().any(|row| row.kind == kind && row.budget.is_some())).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720 * kinds.len().max(1) as u32, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let panels = root.split_evenly((1, kinds.len().max(1)));
        for (panel, (kind, plural)) in panels.iter().zip(kinds) {
            plot_budget_panel(panel, rows, kind, plural)?;
        }
        root.present().map_err(|error| anyhow::anyhow!("{error:?}"))?;
    }
    Ok(svg)
}

/// A grouped bar chart as SVG: for every row name a group of bars, one per
/// policy, showing `value(row) / value(the demand row)` (demand is 1).
pub fn plot(rows: &[Row], title: &str, value: impl Fn(&Row) -> u64) -> Result<String> {
    use plotters::prelude::*;
    let mut names: Vec<(&'static str, &str)> = Vec::new();
    for row in rows {
        if !names.contains(&(row.kind, row.name.as_str())) {
            names.push((row.kind, row.name.as_str()));
        }
    }
    let mut policies: Vec<&str> = Vec::new();
    for row in rows {
        if !policies.contains(&row.policy.as_str()) {
            policies.push(row.policy.as_str());
        }
    }
    let ratio = |kind: &str, name: &str, policy: &str| -> Option<f64> {
        let find = |policy: &str| rows.iter().find(|row| row.kind == kind && row.name == name && row.policy == policy);
        let (row, demand) = (find(policy)?, find("demand")?);
        let base = value(demand);
        (base > 0).then(|| value(row) as f64 / base as f64)
    };
    let highest = names
        .iter()
        .flat_map(|&(kind, name)| policies.iter().filter_map(move |policy| ratio(kind, name, policy)))
        .fold(1.0f64, f64::max)
        .min(20.0);
    let mut svg = String::new();
    {
        let width = 120 + 40 * (names.len() * policies.len()) as u32;
        let root = SVGBackend::with_string(&mut svg, (width.max(640), 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let groups = names.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(90)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..groups, 0f64..highest * 1.1)
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let labels: Vec<String> = names.iter().map(|(_, name)| (*name).to_owned()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len().max(1))
            .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
            .y_desc("relative to demand")
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        let slot = 0.8 / policies.len().max(1) as f64;
        for (index, policy) in policies.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let bars: Vec<Rectangle<(f64, f64)>> = names
                .iter()
                .enumerate()
                .filter_map(|(group, &(kind, name))| {
                    let ratio = ratio(kind, name, policy)?.min(highest * 1.1);
                    let left = group as f64 + 0.1 + slot * index as f64;
                    Some(Rectangle::new([(left, 0.0), (left + slot * 0.9, ratio)], color.filled()))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|error| anyhow::anyhow!("{error:?}"))?
                .label(*policy)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        root.present().map_err(|error| anyhow::anyhow!("{error:?}"))?;
    }
    Ok(svg)
}

/// The marker of the policy with colour index `index` (see
/// [`plot_coverage_accuracy`]) at `at` in `color`: a circle, square,
/// triangle, diamond or downward triangle in turn, so that policies whose
/// points coincide stay apart; only its outline if `hollow`.
fn policy_marker<'a, DB: plotters::prelude::DrawingBackend + 'a, C: Clone + 'a>(
    at: C,
    index: usize,
    color: plotters::style::RGBAColor,
    hollow: bool,
) -> plotters::element::DynElement<'a, DB, C> {
    use plotters::prelude::*;
    let style = if hollow { color.stroke_width(2) } else { color.filled() };
    let mut vertices = match index % 5 {
        0 => return (EmptyElement::at(at) + Circle::new((0, 0), 5, style)).into_dyn(),
        1 => vec![(-4, -4), (4, -4), (4, 4), (-4, 4)],
        2 => vec![(0, -6), (5, 4), (-5, 4)],
        3 => vec![(0, -6), (6, 0), (0, 6), (-6, 0)],
        _ => vec![(0, 6), (5, -4), (-5, -4)],
    };
    if hollow {
        vertices.push(vertices[0]);
        (EmptyElement::at(at) + PathElement::new(vertices, style)).into_dyn()
    } else {
        (EmptyElement::at(at) + Polygon::new(vertices, style)).into_dyn()
    }
}

/// Columns of the coverage-against-accuracy grid.
const COVERAGE_COLUMNS: usize = 5;

/// A grid of scatter panels as SVG, one per trace and one per workload
/// without memory pressure ([`unpressured`]: workloads without a budget,
/// traces under their largest, as they always run under one), the traces
/// first and each kind in the order `rows` list it, titled with the name
/// (and the kind where a trace and a workload share it): a marker per
/// policy at its coverage (x) and accuracy (y), each clamped to 0..1, and
/// one legend above the panels. A policy has the colour it has in the other
/// charts (its place in [`policies`] of those rows) and a marker shape of
/// its own; a hollow marker is a run that committed nothing ahead, whose
/// accuracy counts as 1 (as in the tables). `demand` is left out: it is
/// the baseline, at coverage 0 by definition and accuracy 1 by that
/// convention in every panel. Without such rows the SVG says so.
pub fn plot_coverage_accuracy(rows: &[Row]) -> Result<String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let error = |error: DrawingAreaErrorKind<_>| anyhow::anyhow!("{error:?}");
    let calm = unpressured(rows);
    let shown: Vec<(usize, &str)> = policies(&calm).into_iter().enumerate().filter(|&(_, policy)| policy != "demand").collect();
    let mut panels: Vec<(&str, &str)> = Vec::new();
    for (kind, _) in KINDS {
        for row in calm.iter().filter(|row| row.kind == kind) {
            if !panels.contains(&(kind, row.name.as_str())) {
                panels.push((kind, row.name.as_str()));
            }
        }
    }
    let title = |kind: &str, name: &str| {
        if panels.iter().any(|&(other, same)| same == name && other != kind) { format!("{name} ({kind})") } else { name.to_owned() }
    };
    // Coverage, accuracy and whether it committed nothing ahead.
    let point = |kind: &str, name: &str, policy: &str| {
        let row = calm.iter().find(|row| row.kind == kind && row.name == name && row.policy == policy)?;
        Some(((coverage(row, &calm).clamp(0.0, 1.0), accuracy(row).clamp(0.0, 1.0)), row.ahead == 0))
    };
    let any_hollow =
        panels.iter().any(|&(kind, name)| shown.iter().any(|&(_, policy)| point(kind, name, policy).is_some_and(|(_, hollow)| hollow)));
    let columns = COVERAGE_COLUMNS.min(panels.len()).max(1);
    let lines = panels.len().div_ceil(columns).max(1);
    let (width, header, panel_height) = ((240 * columns as u32).max(720), 76u32, 230u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, header + panel_height * lines as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(error)?;
        let (top, grid) = root.split_vertically(header);
        let style = |size: u32, horizontal: HPos| TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(horizontal, VPos::Center));
        let caption = "Coverage against accuracy per policy (traces under their largest budget, workloads without one)";
        top.draw(&Text::new(caption, (width as i32 / 2, 18), style(18, HPos::Center))).map_err(error)?;
        // The legend: marker and name per policy, centred by an estimate of
        // the names' widths (about 8 pixels a character).
        let mut items: Vec<(Option<usize>, String)> = shown.iter().map(|&(index, policy)| (Some(index), policy.to_owned())).collect();
        if any_hollow {
            items.push((None, "hollow: nothing committed ahead (accuracy counted as 1)".to_owned()));
        }
        let item_width = |name: &str| 40 + 8 * name.chars().count() as i32;
        let mut x = (width as i32 - items.iter().map(|(_, name)| item_width(name)).sum::<i32>()).max(0) / 2;
        for (index, name) in &items {
            let marker = match *index {
                Some(index) => policy_marker((x + 8, 52), index, Palette99::pick(index).to_rgba(), false),
                None => policy_marker((x + 8, 52), 0, BLACK.to_rgba(), true),
            };
            top.draw(&marker).map_err(error)?;
            top.draw(&Text::new(name.as_str(), (x + 20, 52), style(14, HPos::Left))).map_err(error)?;
            x += item_width(name);
        }
        if panels.is_empty() {
            let (grid_width, grid_height) = grid.dim_in_pixel();
            let middle = (grid_width as i32 / 2, grid_height as i32 / 2);
            grid.draw(&Text::new("no runs without memory pressure to plot", middle, style(16, HPos::Center))).map_err(error)?;
        }
        for (area, &(kind, name)) in grid.split_evenly((lines, columns)).iter().zip(&panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(title(kind, name), ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(44)
                .build_cartesian_2d(-0.05f64..1.05, -0.05f64..1.05)
                .map_err(error)?;
            chart
                .configure_mesh()
                .x_labels(3)
                .y_labels(3)
                .x_label_formatter(&|x| format!("{x:.1}"))
                .y_label_formatter(&|y| format!("{y:.1}"))
                .label_style(("sans-serif", 11))
                .axis_desc_style(("sans-serif", 12))
                .x_desc("coverage")
                .y_desc("accuracy")
                .draw()
                .map_err(error)?;
            for &(index, policy) in &shown {
                if let Some((at, hollow)) = point(kind, name, policy) {
                    chart.plotting_area().draw(&policy_marker(at, index, Palette99::pick(index).to_rgba(), hollow)).map_err(error)?;
                }
            }
        }
        root.present().map_err(error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::workload_rows;
    use crate::samples::{budgeted, pressured, serial, traced};
    use std::collections::BTreeMap;
    use trace::Budget;

    #[test]
    fn plots_are_svg_with_a_bar_per_policy() {
        let rows = workload_rows(&serial(), None, 64, &BTreeMap::new());
        let svg = plot(&rows, "faults", |row| row.faults).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("demand"), "{svg}");
        assert_eq!(svg, plot(&rows, "faults", |row| row.faults).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn the_budget_chart_has_a_line_per_policy_and_beladys() {
        let svg = plot_budgets(&pressured()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("leap") && svg.contains("Belady") && svg.contains("traces"), "{svg}");
        assert_eq!(svg, plot_budgets(&pressured()).unwrap());
    }

    /// The traces `a` and `b` under pressure and not, a trace `seq` under
    /// 100 % whose leap committed ahead, and the workload `seq` without a
    /// budget.
    fn covered() -> Vec<Row> {
        let mut rows = pressured();
        let mut seq = [traced("seq", 100, "demand", 0, 0, 0), traced("seq", 100, "leap", 0, 0, 0)];
        (seq[1].faults, seq[1].ahead, seq[1].hits) = (4, 8, 6);
        rows.extend(seq);
        rows.extend(workload_rows(&serial(), None, 64, &BTreeMap::new()));
        rows
    }

    #[test]
    fn the_coverage_chart_has_a_panel_per_run_and_a_marker_per_policy_but_demand() {
        use plotters::prelude::{Color, Palette, Palette99};
        let rows = covered();
        let svg = plot_coverage_accuracy(&rows).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        let at = |text: &str| svg.find(&format!("\n{text}\n")).unwrap_or_else(|| panic!("no `{text}` in {svg}"));
        // Traces first, each kind in the order of the rows; the kind where a trace and a workload share a name.
        assert!(at("a") < at("b") && at("b") < at("seq (trace)") && at("seq (trace)") < at("seq (workload)"), "{svg}");
        at("leap");
        assert!(!svg.contains("demand"), "demand is the baseline, left out: {svg}");
        assert!(svg.contains("hollow: nothing committed ahead"), "a's and b's leap committed nothing ahead: {svg}");
        let fill = |index: usize| {
            let (red, green, blue) = Palette99::pick(index).rgb();
            format!("fill=\"#{red:02X}{green:02X}{blue:02X}\"")
        };
        assert!(svg.contains(&fill(1)) && !svg.contains(&fill(0)), "leap keeps its colour after demand: {svg}");
        assert_eq!(svg, plot_coverage_accuracy(&rows).unwrap(), "the same rows draw the same file");
    }

    #[test]
    fn the_coverage_chart_takes_budgeted_runs_only_and_no_runs() {
        let svg = plot_coverage_accuracy(&pressured()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("\na\n") && svg.contains("\nb\n"), "traces under their largest budget: {svg}");
        let workloads = workload_rows(&budgeted(), Some(Budget::Percent(50)), 64, &BTreeMap::new());
        let svg = plot_coverage_accuracy(&workloads).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("\nseq\n") && svg.contains("leap"), "{svg}");
        let svg = plot_coverage_accuracy(&[]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("no runs"), "{svg}");
    }
}
