//! Plan rendering.

use std::fmt::Write;

use ripcord_spec::plan::{Plan, PlanStep, Verdict};
use ripcord_spec::validate::Phase;

use crate::text::{cell, truncate};

/// Width the text form never exceeds.
pub const WIDTH: usize = 100;

/// The plan as JSON (the `Plan` type's serde form).
pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("a plan is JSON");
    s.push('\n');
    s
}

/// The plan for people: header, params, waves with one block per step, the RTO check.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let rb = &plan.runbook;
    let _ = writeln!(
        out,
        "{}",
        truncate(&format!("Plan for {}@{}", rb.name, rb.version), WIDTH)
    );
    if let Some(d) = &rb.description {
        let _ = writeln!(out, "  {}", truncate(d, WIDTH - 2));
    }
    let mut facts = vec![format!("sha256 {}", &rb.content_sha256[..12])];
    if let Some(o) = &rb.owner {
        facts.push(format!("owner {o}"));
    }
    for key in ["severity", "scenario"] {
        if let Some(v) = rb.labels.get(key) {
            facts.push(format!("{key} {v}"));
        }
    }
    if let Some(rto) = rb.rto {
        facts.push(format!("RTO {rto}"));
    }
    if let Some(rpo) = rb.rpo {
        facts.push(format!("RPO {rpo}"));
    }
    let _ = writeln!(out, "  {}", truncate(&facts.join(" · "), WIDTH - 2));

    if !plan.params.is_empty() {
        let _ = writeln!(out, "\nParams");
        for p in &plan.params {
            let value = match &p.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let source = format!("{:?}", p.source).to_lowercase();
            let line = format!(
                "  {} {} {} ({source})",
                cell(&p.name, 22),
                cell(p.param_type, 9),
                truncate(&value, 50)
            );
            let _ = writeln!(out, "{}", truncate(line.trim_end(), WIDTH));
        }
    }

    let main_waves = plan.waves.iter().filter(|w| w.phase == Phase::Main).count();
    for wave in &plan.waves {
        let title = match wave.phase {
            Phase::Main => format!("Wave {} of {main_waves}", wave.index + 1),
            Phase::Finally => format!("Finally, wave {}", wave.index + 1 - main_waves),
        };
        let parallel = if wave.steps.len() > 1 {
            format!(" — {} steps in parallel", wave.steps.len())
        } else {
            String::new()
        };
        let _ = writeln!(out, "\n{title}{parallel}");
        for id in &wave.steps {
            if let Some(step) = plan.steps.iter().find(|s| &s.id == id) {
                step_block(&mut out, step);
            }
        }
    }

    let e = &plan.estimate;
    let _ = writeln!(out, "\nRTO check");
    let _ = writeln!(
        out,
        "  expected   {}  via {}",
        cell(&e.expected.to_string(), 10),
        truncate(&e.critical_path.join(" → "), WIDTH - 29)
    );
    let _ = writeln!(
        out,
        "  worst case {}  via {}",
        cell(&e.worst_case.to_string(), 10),
        truncate(&e.worst_case_path.join(" → "), WIDTH - 29)
    );
    if e.defaulted_estimates > 0 {
        let _ = writeln!(
            out,
            "  {} step(s) have no `expected`; their type's typical duration was used",
            e.defaulted_estimates
        );
    }
    let mark = match e.verdict {
        Verdict::Fits => "OK",
        Verdict::WorstCaseExceeds => "AT RISK",
        Verdict::ExpectedExceeds => "FAILS",
        Verdict::NoObjective => "NO RTO",
    };
    wrap_into(&mut out, &format!("{mark}: {}", e.message), "  ");

    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for w in &plan.warnings {
            wrap_into(&mut out, w, "  ");
        }
    }
    out
}

fn step_block(out: &mut String, step: &PlanStep) {
    let mut timing = format!(
        "timeout {}{}",
        step.timeout.value,
        if step.timeout.default { "*" } else { "" }
    );
    if step.attempts > 1 {
        let _ = write!(timing, " x{}", step.attempts);
    }
    let _ = write!(
        timing,
        "  exp {}{}",
        step.expected.value,
        if step.expected.default { "*" } else { "" }
    );
    let line = format!(
        "  {} {} {} {}",
        cell(&step.id, 22),
        cell(step.step_type, 22),
        cell(step.effect.as_str(), 12),
        timing
    );
    let _ = writeln!(out, "{}", truncate(line.trim_end(), WIDTH));
    let indent = "      ";
    if let Some(name) = &step.name {
        let _ = writeln!(out, "{indent}{}", truncate(name, WIDTH - indent.len()));
    }
    let mut notes = Vec::new();
    if !step.needs.is_empty() {
        notes.push(format!("needs {}", step.needs.join(", ")));
    }
    if let Some(when) = &step.when {
        let value = match when.value {
            Some(true) => " (true)",
            Some(false) => " (false: SKIPPED)",
            None => "",
        };
        notes.push(format!("when {}{value}", when.expr));
    }
    if step.gates > 0 {
        notes.push(format!("{} gate(s)", step.gates));
    }
    if let Some(until) = &step.until {
        notes.push(format!("until {until}"));
    }
    if let Some(b) = &step.backoff {
        notes.push(format!("backoff {b}"));
    }
    if let Some(c) = step.compensate {
        notes.push(format!("compensate {c}"));
    }
    if step.on_failure == ripcord_spec::model::OnFailure::Continue {
        notes.push("on failure continue".into());
    }
    if !notes.is_empty() {
        let _ = writeln!(
            out,
            "{indent}{}",
            truncate(&notes.join(" · "), WIDTH - indent.len())
        );
    }
    if let serde_json::Value::Object(map) = &step.with {
        for (k, v) in map {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let line = format!("{indent}{k}: {}", value.replace('\n', "⏎"));
            let _ = writeln!(out, "{}", truncate(&line, WIDTH));
        }
    }
}

/// Word-wrap `text` to the width with a hanging indent.
fn wrap_into(out: &mut String, text: &str, indent: &str) {
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.chars().count() + 1 + word.chars().count() > WIDTH {
            let _ = writeln!(out, "{}", line.trim_end());
            line = format!("{indent}  ");
        }
        if line.trim().is_empty() {
            line.push_str(&truncate(word, WIDTH - line.len()));
        } else {
            line.push(' ');
            line.push_str(&truncate(word, WIDTH - indent.len() - 2));
        }
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

/// The DAG as a Mermaid flowchart (paste into Markdown).
pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    for step in &plan.steps {
        let shape = match step.effect {
            ripcord_spec::Effect::Read => ("([", "])"),
            ripcord_spec::Effect::Write => ("[", "]"),
            ripcord_spec::Effect::Irreversible => ("[[", "]]"),
        };
        let label = format!("{}<br/>{}", step.id, step.step_type).replace('"', "'");
        let _ = writeln!(out, "  {}{}\"{label}\"{}", step.id, shape.0, shape.1);
    }
    for step in &plan.steps {
        for need in &step.needs {
            let _ = writeln!(out, "  {need} --> {}", step.id);
        }
    }
    let finally: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.phase == Phase::Finally)
        .map(|s| s.id.as_str())
        .collect();
    if !finally.is_empty() {
        let _ = writeln!(
            out,
            "  subgraph finally\n    {}\n  end",
            finally.join("\n    ")
        );
    }
    let irreversible: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.effect == ripcord_spec::Effect::Irreversible)
        .map(|s| s.id.as_str())
        .collect();
    if !irreversible.is_empty() {
        let _ = writeln!(out, "  classDef irreversible fill:#fdd,stroke:#c00");
        let _ = writeln!(out, "  class {} irreversible", irreversible.join(","));
    }
    out
}

/// The DAG in Graphviz DOT.
pub fn dot(plan: &Plan) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        plan.runbook.name
    );
    for step in &plan.steps {
        let style = match step.effect {
            ripcord_spec::Effect::Read => "style=rounded",
            ripcord_spec::Effect::Write => "style=solid",
            ripcord_spec::Effect::Irreversible => {
                "style=filled, fillcolor=\"#ffdddd\", color=\"#cc0000\""
            }
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{}\", {style}];",
            step.id, step.id, step.step_type
        );
    }
    for step in &plan.steps {
        for need in &step.needs {
            let _ = writeln!(out, "  \"{need}\" -> \"{}\";", step.id);
        }
    }
    out.push_str("}\n");
    out
}
