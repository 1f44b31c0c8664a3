//! What the steps waited for: queued segments (with the runbook's `needs`) and the critical
//! path actually taken.

use std::collections::{HashMap, HashSet};

use super::{CriticalPath, NeedsFrom, PathStep, RunbookSteps, Segment, SegmentKind, StepTimeline};

/// Waiting segments: from the moment a step's `needs` were all done to its first attempt.
pub(super) fn add_waiting(steps: &mut [StepTimeline], rb: &RunbookSteps) {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let ready: Vec<Option<i64>> = steps
        .iter()
        .map(|step| {
            let first = step.start_us?;
            let def = rb.steps.get(&step.id)?;
            let mut ready = 0i64;
            for need in &def.needs {
                let end = index.get(need.as_str()).and_then(|&j| steps[j].end_us)?;
                ready = ready.max(end);
            }
            (first - ready > 1000).then_some(ready)
        })
        .collect();
    for (step, ready) in steps.iter_mut().zip(ready) {
        if let (Some(ready), Some(first)) = (ready, step.start_us)
            && rb.steps.get(&step.id).is_some_and(|d| !d.needs.is_empty())
        {
            step.segments.insert(
                0,
                Segment {
                    kind: SegmentKind::Waiting,
                    start_us: ready,
                    end_us: first,
                    attempt: None,
                },
            );
        }
    }
}

/// A step that ran to an end: (index, first start, end).
type Ran = (usize, i64, i64);

/// The chain of steps that ended last: from the last-ending step back through whatever it
/// waited for (its latest-ending `need` when the runbook is known, otherwise the step that
/// ended last before it started).
pub(super) fn critical_path(
    steps: &[StepTimeline],
    runbook: Option<&RunbookSteps>,
) -> CriticalPath {
    let source = if runbook.is_some() {
        NeedsFrom::Runbook
    } else {
        NeedsFrom::Timing
    };
    let ran: Vec<Ran> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.start_us?, s.end_us?)))
        .collect();
    let Some(&last) = ran
        .iter()
        .max_by_key(|&&(i, start, end)| (end, start, std::cmp::Reverse(i)))
    else {
        return CriticalPath {
            source,
            steps: Vec::new(),
        };
    };
    let chain = chain_back(steps, &ran, last, runbook);
    let mut prev_end = 0i64;
    let steps = chain
        .into_iter()
        .map(|(i, start, end)| {
            let waited = (start - prev_end).max(0);
            prev_end = end;
            PathStep {
                step: steps[i].id.clone(),
                start_us: start,
                end_us: end,
                duration_us: end - start,
                waited_us: waited,
                attempts: steps[i].attempts,
            }
        })
        .collect();
    CriticalPath { source, steps }
}

/// From `last` back to a step that waited for nothing, first step first.
fn chain_back(
    steps: &[StepTimeline],
    ran: &[Ran],
    last: Ran,
    runbook: Option<&RunbookSteps>,
) -> Vec<Ran> {
    let mut by_end = ran.to_vec();
    by_end.sort_by_key(|&(i, _, end)| (end, i));
    let by_id: HashMap<&str, Ran> = ran
        .iter()
        .map(|&(i, s, e)| (steps[i].id.as_str(), (i, s, e)))
        .collect();
    let mut chain = vec![last];
    let mut seen: HashSet<usize> = HashSet::from([last.0]);
    let mut cur = last;
    loop {
        let (i, start, _) = cur;
        let def = runbook.and_then(|rb| rb.steps.get(&steps[i].id));
        let pred = match def {
            Some(d) if !d.needs.is_empty() => d
                .needs
                .iter()
                .filter_map(|n| by_id.get(n.as_str()).copied())
                .filter(|&(j, _, end)| end <= start && !seen.contains(&j))
                .max_by_key(|&(j, _, end)| (end, std::cmp::Reverse(j))),
            // A root of the main DAG waited for nothing.
            Some(d) if !d.finally => None,
            // `finally` (after the main steps) or no runbook: what ended last before it began.
            _ => {
                let upto = by_end.partition_point(|&(_, _, end)| end <= start);
                by_end[..upto]
                    .iter()
                    .rev()
                    .find(|&&(j, _, _)| !seen.contains(&j))
                    .copied()
            }
        };
        let Some(p) = pred else { break };
        seen.insert(p.0);
        chain.push(p);
        cur = p;
    }
    chain.reverse();
    chain
}
