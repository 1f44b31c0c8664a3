//! `route53.change_records` and `route53.wait_insync`.

use std::time::Duration;

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    Change, ChangeAction as SdkAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use ripcord_engine::{StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{
    ChangeAction, ChangeRecordsWith, Failover, RecordChange, WaitInsyncWith,
};
use serde_json::json;

use crate::config::Aws;
use crate::error::describe;
use crate::util::{opt_value, rfc3339};

/// TTL of records that give none.
pub(crate) const DEFAULT_TTL: i64 = 300;
/// First and longest pause between GetChange polls.
const POLL_FIRST: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(10);

fn zone_id(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix("/hostedzone/").unwrap_or(t)
}

fn change_id(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix("/change/").unwrap_or(t)
}

fn action_name(a: ChangeAction) -> &'static str {
    match a {
        ChangeAction::Create => "CREATE",
        ChangeAction::Upsert => "UPSERT",
        ChangeAction::Delete => "DELETE",
    }
}

/// A change batch as a diff: one change per action, each record as `NAME TYPE [set]: values`.
fn batch_diff(with: &ChangeRecordsWith) -> ripcord_engine::Diff {
    let mut by_action: Vec<(String, Vec<String>)> = Vec::new();
    for c in &with.changes {
        let action = action_name(c.action).to_lowercase();
        let set = c
            .set_identifier
            .as_ref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let item = format!("{} {}{set}: {}", c.name, c.record_type, c.values.join(", "));
        match by_action.iter_mut().find(|(a, _)| *a == action) {
            Some((_, items)) => items.push(item),
            None => by_action.push((action, vec![item])),
        }
    }
    ripcord_engine::Diff::new(
        by_action
            .into_iter()
            .map(|(action, items)| ripcord_engine::preview::Change::new(&action, items))
            .collect(),
    )
}

fn record_set(c: &RecordChange, index: usize) -> Result<ResourceRecordSet, StepError> {
    let at = format!(
        "changes[{index}] ({} {} {})",
        action_name(c.action),
        c.name,
        c.record_type
    );
    if c.values.is_empty() {
        return Err(StepError::Input(format!(
            "{at}: `values` is empty (alias records are not supported)"
        )));
    }
    if c.failover.is_some() && c.set_identifier.is_none() {
        return Err(StepError::Input(format!(
            "{at}: a failover record needs a `set_identifier`"
        )));
    }
    let ttl = opt_value(&c.ttl, "ttl")?.unwrap_or(DEFAULT_TTL);
    let rtype = c.record_type.trim().to_ascii_uppercase();
    let mut b = ResourceRecordSet::builder()
        .name(c.name.trim())
        .r#type(RrType::from(rtype.as_str()))
        .ttl(ttl)
        .set_set_identifier(c.set_identifier.clone())
        .set_health_check_id(c.health_check_id.clone());
    if let Some(f) = c.failover {
        b = b.failover(match f {
            Failover::Primary => ResourceRecordSetFailover::Primary,
            Failover::Secondary => ResourceRecordSetFailover::Secondary,
        });
    }
    for v in &c.values {
        b = b.resource_records(
            ResourceRecord::builder()
                .value(v.trim())
                .build()
                .map_err(|e| StepError::Input(format!("{at}: {e}")))?,
        );
    }
    b.build()
        .map_err(|e| StepError::Input(format!("{at}: {e}")))
}

pub(crate) async fn change_records(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &ChangeRecordsWith,
) -> Result<StepResult, StepError> {
    let zone = zone_id(&with.zone_id).to_owned();
    if zone.is_empty() {
        return Err(StepError::Input("`zone_id` is empty".into()));
    }
    if with.changes.is_empty() {
        return Err(StepError::Input("`changes` is empty".into()));
    }
    let mut changes = Vec::with_capacity(with.changes.len());
    for (i, c) in with.changes.iter().enumerate() {
        let action = match c.action {
            ChangeAction::Create => SdkAction::Create,
            ChangeAction::Upsert => SdkAction::Upsert,
            ChangeAction::Delete => SdkAction::Delete,
        };
        changes.push(
            Change::builder()
                .action(action)
                .resource_record_set(record_set(c, i)?)
                .build()
                .map_err(|e| StepError::Input(format!("changes[{i}]: {e}")))?,
        );
    }
    let client = aws.route53().await;
    let endpoint = aws.endpoint_description();
    let target = format!("hosted zone `{zone}`");

    if request.dry_run {
        // Read-only preview: the zone exists, and records to DELETE are there.
        client
            .get_hosted_zone()
            .id(&zone)
            .send()
            .await
            .map_err(|e| {
                let f = describe("GetHostedZone", &target, &endpoint, &e);
                if f.code.as_deref() == Some("NoSuchHostedZone") {
                    StepError::failed(format!(
                        "hosted zone `{zone}` does not exist: NoSuchHostedZone"
                    ))
                } else {
                    f.into_step_error()
                }
            })?;
        for c in with
            .changes
            .iter()
            .filter(|c| c.action == ChangeAction::Delete)
        {
            if !record_exists(&client, &zone, c, &endpoint).await? {
                return Err(StepError::failed(format!(
                    "DELETE {} {} in hosted zone `{zone}`: no such record set{}",
                    c.name,
                    c.record_type,
                    c.set_identifier
                        .as_ref()
                        .map(|s| format!(" (set identifier `{s}`)"))
                        .unwrap_or_default()
                )));
            }
        }
        // The zone and the records to delete were checked against the live zone; the values
        // records would replace are not read yet, so the diff lists the batch as submitted.
        request
            .context
            .dry_run(ripcord_engine::DryRunReport::validated().with_diff(batch_diff(with)));
        return Ok(json!({
            "change_id": "",
            "status": "DRY_RUN",
            "submitted_at": null,
            "dry_run": true,
        }));
    }

    let mut batch = ChangeBatch::builder().set_changes(Some(changes));
    if let Some(comment) = &with.comment {
        batch = batch.comment(comment);
    }
    let batch = batch
        .build()
        .map_err(|e| StepError::Input(format!("change batch: {e}")))?;
    let out = client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| {
            if let Some(ChangeResourceRecordSetsError::InvalidChangeBatch(icb)) =
                e.as_service_error()
            {
                let mut why: Vec<String> = icb.messages().to_vec();
                if why.is_empty() {
                    why.extend(icb.message().map(str::to_owned));
                }
                return StepError::failed(format!(
                    "ChangeResourceRecordSets {target}: InvalidChangeBatch: {}",
                    why.join("; ")
                ));
            }
            let f = describe("ChangeResourceRecordSets", &target, &endpoint, &e);
            if f.code.as_deref() == Some("NoSuchHostedZone") {
                StepError::failed(format!(
                    "hosted zone `{zone}` does not exist: NoSuchHostedZone"
                ))
            } else {
                f.into_step_error()
            }
        })?;
    let info = out.change_info();
    Ok(json!({
        "change_id": info.map(|i| change_id(i.id()).to_owned()).unwrap_or_default(),
        "status": info.map(|i| i.status().as_str().to_owned()).unwrap_or_default(),
        "submitted_at": info.map(|i| rfc3339(i.submitted_at())),
        "dry_run": false,
    }))
}

async fn record_exists(
    client: &aws_sdk_route53::Client,
    zone: &str,
    c: &RecordChange,
    endpoint: &str,
) -> Result<bool, StepError> {
    let rtype = c.record_type.trim().to_ascii_uppercase();
    let out = client
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(c.name.trim())
        .start_record_type(RrType::from(rtype.as_str()))
        .max_items(100)
        .send()
        .await
        .map_err(|e| {
            describe(
                "ListResourceRecordSets",
                &format!("hosted zone `{zone}`"),
                endpoint,
                &e,
            )
            .into_step_error()
        })?;
    let want = c.name.trim().trim_end_matches('.').to_ascii_lowercase();
    Ok(out.resource_record_sets().iter().any(|r| {
        r.name().trim_end_matches('.').to_ascii_lowercase() == want
            && r.r#type().as_str() == rtype
            && r.set_identifier() == c.set_identifier.as_deref()
    }))
}

pub(crate) async fn wait_insync(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &WaitInsyncWith,
) -> Result<StepResult, StepError> {
    let id = change_id(&with.change_id).to_owned();
    if id.is_empty() {
        if request.dry_run {
            // The change of a dry run was never submitted.
            request
                .context
                .dry_run(ripcord_engine::DryRunReport::not_simulated(
                    "no change was submitted in the dry run: nothing to wait for",
                ));
            return Ok(json!({"status": "DRY_RUN"}));
        }
        return Err(StepError::Input("`change_id` is empty".into()));
    }
    let client = aws.route53().await;
    let endpoint = aws.endpoint_description();
    let mut pause = POLL_FIRST;
    let mut noted = false;
    loop {
        let out = client.get_change().id(&id).send().await.map_err(|e| {
            let f = describe("GetChange", &format!("change `{id}`"), &endpoint, &e);
            if f.code.as_deref() == Some("NoSuchChange") {
                StepError::failed(format!("change `{id}` does not exist: NoSuchChange"))
            } else {
                f.into_step_error()
            }
        })?;
        let status = out.change_info().map(|i| i.status().clone());
        if status == Some(ChangeStatus::Insync) {
            return Ok(json!({"status": "INSYNC"}));
        }
        if !noted {
            noted = true;
            request
                .context
                .note(
                    "route53_pending",
                    json!({"change_id": id, "status": status.map(|s| s.as_str().to_owned())}),
                )
                .await;
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = request.cancel.cancelled() => return Err(StepError::Cancelled),
        }
        pause = (pause * 2).min(POLL_MAX);
    }
}
