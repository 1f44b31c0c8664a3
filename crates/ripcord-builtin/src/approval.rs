//! `approval`: wait for a person's decision in the run's approval mailbox.

use ripcord_engine::approvals::Decision;
use ripcord_engine::{DryRunReport, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::ApprovalWith;
use serde_json::json;
use tokio::sync::mpsc;

pub(crate) async fn run(
    request: &StepRequest<'_>,
    with: &ApprovalWith,
) -> Result<StepResult, StepError> {
    if request.dry_run {
        request.context.dry_run(DryRunReport::not_simulated(
            "nobody is asked to approve in a dry run",
        ));
        return Ok(json!({"dry_run": true, "approved_by": null}));
    }
    let context = request.context;
    context
        .note(
            "approval_waiting",
            json!({
                "prompt": with.prompt,
                "approvers": with.approvers,
                "hint": format!("ripcord approve {} {} --by NAME", request.run_id, request.step_id),
            }),
        )
        .await;

    let approvers = &with.approvers;
    let accept = |decision: &Decision| -> Result<(), String> {
        if approvers.is_empty() || approvers.iter().any(|a| a == &decision.by) {
            Ok(())
        } else {
            Err(format!(
                "`{}` may not decide this step (approvers: {})",
                decision.by,
                approvers.join(", ")
            ))
        }
    };
    // Refusals are journaled as they happen: `on_refused` cannot await, so it hands them to a
    // loop that notes them while the wait goes on.
    let (refusals_tx, mut refusals_rx) = mpsc::unbounded_channel::<(Decision, String)>();
    let wait = async move {
        context
            .approvals()
            .wait(
                request.step_id,
                &with.prompt,
                request.deadline,
                &request.cancel,
                accept,
                move |decision, why| {
                    let _ = refusals_tx.send((decision.clone(), why.to_owned()));
                },
            )
            .await
    };
    let journal_refusals = async {
        let mut refused = Vec::new();
        while let Some((decision, why)) = refusals_rx.recv().await {
            context
                .note(
                    "approval_refused",
                    json!({
                        "by": decision.by,
                        "approved": decision.approved,
                        "via": decision.via,
                        "reason": why,
                    }),
                )
                .await;
            refused.push(why);
        }
        refused
    };
    let (decision, refused) = tokio::join!(wait, journal_refusals);

    match decision {
        Some(d) if d.approved => Ok(json!({
            "approved_by": d.by,
            "approved_at": d.at,
            "via": d.via,
        })),
        Some(d) => Err(StepError::failed(format!("rejected by {}", d.by))),
        None if request.cancel.is_cancelled() => Err(StepError::Cancelled),
        None => {
            let mut message = "no decision within the step's timeout".to_owned();
            if !refused.is_empty() {
                message.push_str(" (refused: ");
                message.push_str(&refused.join("; "));
                message.push(')');
            }
            Err(StepError::Failed(message))
        }
    }
}
