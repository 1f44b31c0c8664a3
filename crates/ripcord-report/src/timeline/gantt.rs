//! The SVG Gantt of a timeline: one row per step, time across. Waiting for `needs`, attempts
//! (succeeded / failed), retry backoff, approval waits and compensation are told apart by colour
//! *and* pattern (so a black-and-white print still shows them), gates, polls and decisions are
//! marks; a legend is part of the drawing.

use std::fmt::Write;

use super::fmt::{html_escape as esc, human, offset};
use super::{MarkKind, SegmentKind, StepStatus, StepTimeline, Timeline};

const WIDTH: f64 = 1100.0;
const LABEL: f64 = 230.0;
const RIGHT: f64 = 24.0;
const ROW: f64 = 26.0;
const TOP: f64 = 34.0;
const BAR: f64 = 14.0;
/// Rows drawn at most; the rest are left to the tables (a 20,000-step Gantt helps nobody).
pub(super) const MAX_ROWS: usize = 400;

struct Style {
    fill: &'static str,
    label: &'static str,
    /// Height relative to a full bar.
    height: f64,
}

fn style(kind: SegmentKind) -> Style {
    match kind {
        SegmentKind::Waiting => Style {
            fill: "url(#p-waiting)",
            label: "queued: ready, waiting for a slot",
            height: 0.5,
        },
        SegmentKind::Attempt => Style {
            fill: "#2e7d32",
            label: "attempt (succeeded)",
            height: 1.0,
        },
        SegmentKind::FailedAttempt => Style {
            fill: "#c62828",
            label: "attempt (failed)",
            height: 1.0,
        },
        SegmentKind::Backoff => Style {
            fill: "url(#p-backoff)",
            label: "backoff before retry",
            height: 0.7,
        },
        SegmentKind::ApprovalWait => Style {
            fill: "url(#p-approval)",
            label: "waiting for approval",
            height: 1.0,
        },
        SegmentKind::Compensation => Style {
            fill: "url(#p-compensation)",
            label: "compensation (undo)",
            height: 1.0,
        },
    }
}

/// A round tick step (µs) giving at most ~10 ticks over `span`.
fn tick_step(span: i64) -> i64 {
    const MS: i64 = 1_000;
    const S: i64 = 1_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    let steps = [
        MS,
        2 * MS,
        5 * MS,
        10 * MS,
        20 * MS,
        50 * MS,
        100 * MS,
        200 * MS,
        500 * MS,
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        M,
        2 * M,
        5 * M,
        10 * M,
        15 * M,
        30 * M,
        H,
        2 * H,
        3 * H,
        6 * H,
        12 * H,
        24 * H,
    ];
    steps
        .iter()
        .copied()
        .find(|&step| span / step <= 10)
        .unwrap_or_else(|| (span / 10 / (24 * H) + 1) * 24 * H)
}

/// The steps to draw, in order of start: all of them, or (past [`MAX_ROWS`]) the critical path
/// (its last steps, if it alone is too long) and then the earliest others; and how many were
/// left out.
fn rows(t: &Timeline) -> (Vec<&StepTimeline>, usize) {
    let key = |s: &&StepTimeline| (s.start_us.unwrap_or(i64::MAX), s.end_us.unwrap_or(i64::MAX));
    let mut ordered: Vec<&StepTimeline> = t.steps.iter().collect();
    ordered.sort_by_key(key);
    if ordered.len() <= MAX_ROWS {
        return (ordered, 0);
    }
    let total = ordered.len();
    let mut keep: Vec<&StepTimeline> = ordered
        .iter()
        .copied()
        .filter(|s| s.on_critical_path)
        .collect();
    if keep.len() > MAX_ROWS {
        keep.drain(..keep.len() - MAX_ROWS);
    }
    let room = MAX_ROWS - keep.len();
    keep.extend(
        ordered
            .iter()
            .copied()
            .filter(|s| !s.on_critical_path)
            .take(room),
    );
    keep.sort_by_key(key);
    let left_out = total - keep.len();
    (keep, left_out)
}

/// The Gantt as an inline `<svg>` element.
pub(super) fn svg(t: &Timeline) -> String {
    let (rows, left_out) = rows(t);
    let span = t.span_us.max(1);
    let x = Scale { span };
    let legend_top = TOP + rows.len() as f64 * ROW + 16.0;
    let height = legend_top + 3.0 * 22.0 + 8.0;
    let mut o = String::with_capacity(4096 + rows.len() * 600);
    let _ = write!(
        o,
        r##"<svg class="gantt" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-labelledby="gantt-title" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif">
<title id="gantt-title">Gantt of run {run}: {n} steps over {span_h}</title>
<defs>
<pattern id="p-waiting" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#eceff1"/><circle cx="3" cy="3" r="1.1" fill="#78909c"/></pattern>
<pattern id="p-backoff" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffe0b2"/><rect width="3" height="6" fill="#ef6c00"/></pattern>
<pattern id="p-approval" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="8" height="8" fill="#fff3c4"/><rect width="2.5" height="8" fill="#f9a825"/></pattern>
<pattern id="p-compensation" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#7b1fa2"/><path d="M0 3h6M3 0v6" stroke="#e1bee7" stroke-width="1"/></pattern>
</defs>
"##,
        run = esc(&t.run.run_id),
        n = t.steps.len(),
        span_h = human(span),
    );

    axis(&mut o, &x, rows.len());
    for (n, s) in rows.iter().enumerate() {
        step_row(&mut o, &x, n, s);
    }
    if left_out > 0 {
        let _ = writeln!(
            o,
            r##"<text x="{LABEL}" y="{:.1}" font-size="11" fill="#b71c1c">{left_out} more steps are not drawn (the critical path is); see the tables.</text>"##,
            TOP + rows.len() as f64 * ROW + 12.0
        );
    }

    legend(&mut o, legend_top);
    o
}

/// Time across: microseconds since the start to x.
struct Scale {
    span: i64,
}

impl Scale {
    fn x(&self, us: i64) -> f64 {
        let plot = WIDTH - LABEL - RIGHT;
        LABEL + (us.clamp(0, self.span) as f64 / self.span as f64) * plot
    }
}

/// Ticks with their offsets, and the grid lines down through `rows` rows.
fn axis(o: &mut String, x: &Scale, rows: usize) {
    let span = x.span;
    let step = tick_step(span);
    let grid_bottom = TOP + rows as f64 * ROW;
    let _ = writeln!(o, r##"<g class="axis" font-size="11" fill="#455a64">"##);
    let mut tick = 0;
    while tick <= span {
        let tx = x.x(tick);
        let _ = writeln!(
            o,
            r##"<line x1="{tx:.1}" y1="{y1}" x2="{tx:.1}" y2="{grid_bottom}" stroke="#cfd8dc" stroke-width="1"/><text x="{tx:.1}" y="{ty}" text-anchor="middle">{label}</text>"##,
            y1 = TOP - 6.0,
            ty = TOP - 10.0,
            label = offset(tick)
        );
        tick += step;
    }
    let _ = writeln!(o, "</g>");
}

/// Step `n`'s row: its label, segments and marks.
fn step_row(o: &mut String, x: &Scale, n: usize, s: &StepTimeline) {
    let top = TOP + n as f64 * ROW;
    let mid = top + ROW / 2.0;
    if n % 2 == 1 {
        let _ = writeln!(
            o,
            r##"<rect x="0" y="{top}" width="{WIDTH}" height="{ROW}" fill="#f5f7f8"/>"##
        );
    }
    if s.on_critical_path {
        let _ = writeln!(
            o,
            r##"<rect x="0" y="{}" width="4" height="{}" fill="#0d47a1"><title>on the critical path</title></rect>"##,
            top + 2.0,
            ROW - 4.0
        );
    }
    let label = if s.id.chars().count() > 30 {
        format!("{}…", s.id.chars().take(29).collect::<String>())
    } else {
        s.id.clone()
    };
    let _ = writeln!(
        o,
        r##"<text x="10" y="{}" font-size="12" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" fill="#1b1f23"{}>{}<title>{}</title></text>"##,
        mid + 4.0,
        if s.on_critical_path {
            r#" font-weight="700""#
        } else {
            ""
        },
        esc(&label),
        esc(&format!(
            "{}{} — {}{}",
            s.id,
            s.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            s.status,
            s.duration_us
                .map(|d| format!(", {}", human(d)))
                .unwrap_or_default()
        ))
    );
    if s.status == StepStatus::Skipped || s.segments.is_empty() {
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{}" font-size="11" font-style="italic" fill="#607d8b">{}</text>"##,
            LABEL + 4.0,
            mid + 4.0,
            esc(&format!(
                "{}{}",
                s.status,
                s.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ))
        );
    }
    for seg in &s.segments {
        let st = style(seg.kind);
        let h = BAR * st.height;
        let x0 = x.x(seg.start_us);
        let w = (x.x(seg.end_us) - x0).max(2.0);
        let attempt = seg.attempt.map(|a| format!(" {a}")).unwrap_or_default();
        let _ = writeln!(
            o,
            r##"<rect class="seg {cls}" x="{x0:.2}" y="{:.1}" width="{w:.2}" height="{h:.1}" fill="{fill}" stroke="#263238" stroke-width="0.6"><title>{title}</title></rect>"##,
            mid - h / 2.0,
            cls = format!("{:?}", seg.kind).to_ascii_lowercase(),
            fill = st.fill,
            title = esc(&format!(
                "{}: {}{attempt}, {} ({} → {})",
                s.id,
                st.label,
                human(seg.end_us - seg.start_us),
                offset(seg.start_us),
                offset(seg.end_us)
            )),
        );
    }
    marks(o, x, s, top, mid);
}

fn marks(o: &mut String, x: &Scale, s: &StepTimeline, top: f64, mid: f64) {
    for m in &s.marks {
        let mx = x.x(m.at_us);
        let title = esc(&format!("{}: {} at {}", s.id, m.label, offset(m.at_us)));
        match m.kind {
            MarkKind::Poll => {
                let _ = writeln!(
                    o,
                    r##"<line x1="{mx:.2}" y1="{:.1}" x2="{mx:.2}" y2="{:.1}" stroke="#37474f" stroke-width="1.5"><title>{title}</title></line>"##,
                    mid - BAR / 2.0 - 3.0,
                    mid - BAR / 2.0 + 3.0,
                );
            }
            MarkKind::GatePassed | MarkKind::GateFailed => {
                let fill = if m.kind == MarkKind::GatePassed {
                    "#a5d6a7"
                } else {
                    "#ff8a80"
                };
                let _ = writeln!(
                    o,
                    r##"<path d="M{mx:.2} {:.1} l5 5 l-5 5 l-5 -5 z" fill="{fill}" stroke="#1b1f23" stroke-width="1"><title>{title}</title></path>"##,
                    mid - 5.0,
                );
            }
            MarkKind::Approved | MarkKind::Rejected => {
                let fill = if m.kind == MarkKind::Approved {
                    "#1565c0"
                } else {
                    "#b71c1c"
                };
                let _ = writeln!(
                    o,
                    r##"<path d="M{:.2} {:.1} h10 l-5 7 z" fill="{fill}"><title>{title}</title></path><text x="{:.2}" y="{:.1}" font-size="10" fill="{fill}">{}</text>"##,
                    mx - 5.0,
                    top + 1.0,
                    mx + 7.0,
                    top + 8.0,
                    esc(&m.label),
                );
            }
        }
    }
}

fn legend(o: &mut String, legend_top: f64) {
    let items: [(&str, &str, f64); 6] = [
        ("url(#p-waiting)", "queued (ready, no free slot)", 0.5),
        ("#2e7d32", "attempt (succeeded)", 1.0),
        ("#c62828", "attempt (failed)", 1.0),
        ("url(#p-backoff)", "backoff before retry", 0.7),
        ("url(#p-approval)", "waiting for approval", 1.0),
        ("url(#p-compensation)", "compensation (undo)", 1.0),
    ];
    let _ = writeln!(o, r##"<g class="legend" font-size="11" fill="#1b1f23">"##);
    for (n, (fill, label, rel)) in items.iter().enumerate() {
        let lx = 10.0 + (n % 3) as f64 * 200.0;
        let ly = legend_top + (n / 3) as f64 * 22.0;
        let h = BAR * rel;
        let _ = writeln!(
            o,
            r##"<rect x="{lx}" y="{:.1}" width="26" height="{h:.1}" fill="{fill}" stroke="#263238" stroke-width="0.6"/><text x="{}" y="{}">{label}</text>"##,
            ly + (BAR - h) / 2.0,
            lx + 32.0,
            ly + 11.0
        );
    }
    let lx = 610.0;
    let _ = writeln!(
        o,
        r##"<path d="M{} {} l5 5 l-5 5 l-5 -5 z" fill="#a5d6a7" stroke="#1b1f23"/><path d="M{} {} l5 5 l-5 5 l-5 -5 z" fill="#ff8a80" stroke="#1b1f23"/><text x="{}" y="{}">gate passed / failed</text>"##,
        lx + 5.0,
        legend_top + 2.0,
        lx + 18.0,
        legend_top + 2.0,
        lx + 30.0,
        legend_top + 11.0
    );
    let _ = writeln!(
        o,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#37474f" stroke-width="1.5"/><text x="{}" y="{}">poll of an until condition</text>"##,
        lx + 10.0,
        legend_top + 22.0 + 1.0,
        lx + 10.0,
        legend_top + 22.0 + 13.0,
        lx + 30.0,
        legend_top + 22.0 + 11.0
    );
    let _ = writeln!(
        o,
        r##"<path d="M{} {} h10 l-5 7 z" fill="#1565c0"/><path d="M{} {} h10 l-5 7 z" fill="#b71c1c"/><text x="{}" y="{}">approved / rejected (who)</text>"##,
        lx,
        legend_top + 44.0 + 3.0,
        lx + 13.0,
        legend_top + 44.0 + 3.0,
        lx + 30.0,
        legend_top + 44.0 + 11.0
    );
    let _ = writeln!(
        o,
        r##"<rect x="10" y="{}" width="4" height="14" fill="#0d47a1"/><text x="20" y="{}" font-weight="700">bold</text><text x="50" y="{}">: on the critical path</text>"##,
        legend_top + 44.0,
        legend_top + 55.0,
        legend_top + 55.0
    );
    let _ = writeln!(o, "</g>\n</svg>");
}

#[cfg(test)]
mod tests {
    use super::tick_step;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(4_435_000), 500_000);
        assert_eq!(tick_step(10_000), 1_000);
        assert_eq!(tick_step(3_600_000_000), 600_000_000);
    }
}
