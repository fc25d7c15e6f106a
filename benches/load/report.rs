//! The table: each figure beside the floor's from the same run, and the ratio.

use super::drive::Sample;

/// One phase (a rate, or saturation) across the targets; the first is the floor.
pub fn phase(label: &str, samples: &[(&str, Sample)]) {
    let floor = &samples[0].1;
    println!("{label}");
    let row = |what: &str, get: &dyn Fn(&Sample) -> f64, unit: &str| {
        let mut line = format!("  {what:<7}");
        for (i, (_, s)) in samples.iter().enumerate() {
            let v = get(s);
            line += &format!(" {v:>10.3}{unit}");
            if i > 0 {
                line += &format!(" {:>6.2}×", v / get(floor));
            }
        }
        println!("{line}");
    };
    let header: String = samples
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            if i == 0 {
                format!(" {name:>13}")
            } else {
                format!(" {name:>13} {:>7}", "ratio")
            }
        })
        .collect();
    println!("  {:<7}{header}", "");
    row("req/s", &|s| s.rate(), "   ");
    row("p50", &|s| s.pct(50.0), " ms");
    row("p99", &|s| s.pct(99.0), " ms");
    row("p99.9", &|s| s.pct(99.9), " ms");
    let errors: Vec<String> = samples
        .iter()
        .filter(|(_, s)| s.errors > 0)
        .map(|(n, s)| {
            let first = s.first_error.as_deref().unwrap_or("?");
            format!("{n}: {} errors, the first: {first}", s.errors)
        })
        .collect();
    if !errors.is_empty() {
        println!("  ! {}", errors.join(", "));
    }
}

/// A figure with no goal of its own.
pub fn figure(what: &str, value: f64) {
    println!("  {what}: {value:.2}");
}

/// A goal's verdict line: `value` against `limit`, met when `value <= limit` (or `>=`).
pub fn goal(what: &str, value: f64, limit: f64, at_most: bool) {
    let met = if at_most {
        value <= limit
    } else {
        value >= limit
    };
    println!(
        "  goal {what}: {value:.2} {} {limit:.2}: {}",
        if at_most { "≤" } else { "≥" },
        if met { "met" } else { "NOT met" }
    );
}
