//! Prometheus textfile metrics of a finished run (for node_exporter's textfile collector):
//!
//! - `ripcord_run_last_success_timestamp_seconds{runbook}`: when the runbook last succeeded
//!   (kept from the existing file when this run did not succeed);
//! - `ripcord_run_duration_seconds{runbook,outcome}`: how long this run took;
//! - `ripcord_run_outcome{runbook,outcome}`: 1 for this run's outcome, 0 for the others.
//!
//! One file can serve several runbooks: samples of other runbooks found in it are kept.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Timeline;
use super::fmt::parse_us;

/// Gauge: Unix time the runbook last succeeded (label `runbook`).
pub const LAST_SUCCESS: &str = "ripcord_run_last_success_timestamp_seconds";
/// Gauge: seconds the last run took (labels `runbook`, `outcome`).
pub const DURATION: &str = "ripcord_run_duration_seconds";
/// Gauge: 1 for the last run's outcome, 0 for the others (labels `runbook`, `outcome`).
pub const OUTCOME: &str = "ripcord_run_outcome";
const OUTCOMES: [&str; 3] = ["succeeded", "failed", "cancelled"];

/// The figures of one finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMetrics {
    /// The runbook's name (the `runbook` label).
    pub runbook: String,
    /// `succeeded`, `failed` or `cancelled` (the `outcome` label).
    pub outcome: String,
    /// Start to `run_finished`, in seconds.
    pub duration_seconds: f64,
    /// Unix time of the `run_finished` record.
    pub finished_unix_seconds: f64,
}

impl RunMetrics {
    /// From a timeline; `None` when the run has not finished.
    pub fn from_timeline(t: &Timeline) -> Option<Self> {
        let end = parse_us(t.run.end.as_deref()?)?;
        Some(Self {
            runbook: t.run.runbook.clone(),
            outcome: t.run.outcome.as_str().to_owned(),
            duration_seconds: t.run.duration_us? as f64 / 1e6,
            finished_unix_seconds: end as f64 / 1e6,
        })
    }
}

/// `name{labels} value` of a sample line.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

fn parse_sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        // label="value" pairs with \\, \" and \n escapes.
        let mut chars = inner.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()? {
                            (_, '\\') => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            (_, '"') => break,
                            (_, c) => value.push(c),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?.to_owned();
    Some(Sample {
        name,
        labels,
        value,
    })
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_text(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn runbook_of(s: &Sample) -> Option<&str> {
    s.labels
        .iter()
        .find(|(k, _)| k == "runbook")
        .map(|(_, v)| v.as_str())
}

/// The new file's text: `previous` (the existing file, if any) updated with this run.
pub fn render(previous: Option<&str>, m: &RunMetrics) -> String {
    // Per metric: (runbook, label text) -> value; BTreeMap keeps the output stable.
    let mut families: BTreeMap<&str, BTreeMap<(String, String), String>> = BTreeMap::new();
    for name in [LAST_SUCCESS, DURATION, OUTCOME] {
        families.insert(name, BTreeMap::new());
    }
    let mut previous_success = None;
    for sample in previous.unwrap_or("").lines().filter_map(parse_sample) {
        let Some(family) = families.get_mut(sample.name.as_str()) else {
            continue;
        };
        let Some(runbook) = runbook_of(&sample).map(str::to_owned) else {
            continue;
        };
        if runbook == m.runbook {
            if sample.name == LAST_SUCCESS {
                previous_success = Some(sample.value.clone());
            }
            continue;
        }
        family.insert((runbook, label_text(&sample.labels)), sample.value);
    }

    let rb = ("runbook".to_owned(), m.runbook.clone());
    let last_success = if m.outcome == "succeeded" {
        Some(format_float(m.finished_unix_seconds))
    } else {
        previous_success
    };
    if let Some(v) = last_success {
        families.get_mut(LAST_SUCCESS).expect("declared").insert(
            (m.runbook.clone(), label_text(std::slice::from_ref(&rb))),
            v,
        );
    }
    families.get_mut(DURATION).expect("declared").insert(
        (
            m.runbook.clone(),
            label_text(&[rb.clone(), ("outcome".into(), m.outcome.clone())]),
        ),
        format_float(m.duration_seconds),
    );
    let mut outcomes: Vec<&str> = OUTCOMES.to_vec();
    if !outcomes.contains(&m.outcome.as_str()) {
        outcomes.push(&m.outcome);
    }
    for o in outcomes {
        families.get_mut(OUTCOME).expect("declared").insert(
            (
                m.runbook.clone(),
                label_text(&[rb.clone(), ("outcome".into(), o.to_owned())]),
            ),
            if o == m.outcome { "1" } else { "0" }.into(),
        );
    }

    let help = |name: &str| match name {
        LAST_SUCCESS => "Unix time at which the runbook's last successful ripcord run finished.",
        DURATION => {
            "Seconds the runbook's last ripcord run took, from its first journal record to run_finished."
        }
        _ => {
            "Outcome of the runbook's last ripcord run: 1 for the outcome it had, 0 for the others."
        }
    };
    let mut out = String::new();
    for name in [LAST_SUCCESS, DURATION, OUTCOME] {
        let _ = writeln!(out, "# HELP {name} {}", help(name));
        let _ = writeln!(out, "# TYPE {name} gauge");
        for ((_, labels), value) in &families[name] {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
    out
}

fn format_float(v: f64) -> String {
    // Microsecond precision at most; no exponent (textfile readers accept it, people read it).
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: &str, end: f64) -> RunMetrics {
        RunMetrics {
            runbook: "db-restore".into(),
            outcome: outcome.into(),
            duration_seconds: 12.5,
            finished_unix_seconds: end,
        }
    }

    #[test]
    fn a_success_sets_every_metric() {
        let text = render(None, &run("succeeded", 1_700_000_000.25));
        assert!(text.contains(
            "ripcord_run_last_success_timestamp_seconds{runbook=\"db-restore\"} 1700000000.25\n"
        ));
        assert!(text.contains(
            "ripcord_run_duration_seconds{runbook=\"db-restore\",outcome=\"succeeded\"} 12.5\n"
        ));
        assert!(
            text.contains("ripcord_run_outcome{runbook=\"db-restore\",outcome=\"succeeded\"} 1\n")
        );
        assert!(
            text.contains("ripcord_run_outcome{runbook=\"db-restore\",outcome=\"failed\"} 0\n")
        );
        assert!(text.contains("# TYPE ripcord_run_outcome gauge\n"));
        assert!(text.contains("# HELP ripcord_run_duration_seconds "));
    }

    #[test]
    fn a_failure_keeps_the_last_success_and_other_runbooks() {
        let first = render(None, &run("succeeded", 1_700_000_000.0));
        let other = RunMetrics {
            runbook: "dns \"fail\"over".into(),
            ..run("succeeded", 1_700_000_100.0)
        };
        let both = render(Some(&first), &other);
        let failed = render(Some(&both), &run("failed", 1_700_000_500.0));
        assert!(failed.contains(
            "ripcord_run_last_success_timestamp_seconds{runbook=\"db-restore\"} 1700000000\n"
        ));
        assert!(failed.contains(
            "ripcord_run_last_success_timestamp_seconds{runbook=\"dns \\\"fail\\\"over\"} 1700000100\n"
        ));
        assert!(failed.contains(
            "ripcord_run_duration_seconds{runbook=\"db-restore\",outcome=\"failed\"} 12.5\n"
        ));
        assert!(!failed.contains("runbook=\"db-restore\",outcome=\"succeeded\"} 12.5"));
        assert!(
            failed.contains("ripcord_run_outcome{runbook=\"db-restore\",outcome=\"failed\"} 1\n")
        );
        assert_eq!(failed.matches("# TYPE").count(), 3);
    }

    #[test]
    fn a_first_failure_has_no_last_success() {
        let text = render(None, &run("failed", 1_700_000_000.0));
        assert!(!text.contains("ripcord_run_last_success_timestamp_seconds{"));
        assert!(text.contains("# TYPE ripcord_run_last_success_timestamp_seconds gauge\n"));
    }
}
