//! The S3 and Route53 parts of the DR plan's runbooks (data-recovery, backup-verification,
//! region-failover; tests/runbooks/*.yaml hold the same steps and gates without the Kubernetes
//! and HTTP ones) run end to end through the engine, with ripcord-builtin's executors, against
//! SeaweedFS and moto, on the DR plan's backup layout.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;

fn runbook(name: &str) -> String {
    let path = format!("{}/tests/runbooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_recovery_restores_the_bucket_on_seaweedfs() {
    let aws = seaweed();
    let (bucket, backup) = (unique("mcp-artifacts"), unique("mcp-artifacts-backup"));
    create_bucket(&aws, &bucket).await;
    create_bucket(&aws, &backup).await;
    // An older backup and the latest one; latest.txt names the latest.
    let old = artifacts(20);
    backup_layout(&aws, &backup, "20261124-020000", &old, "success").await;
    let arts = artifacts(120);
    backup_layout(&aws, &backup, "20261125-020000", &arts, "success").await;
    // The damaged bucket: half the artifacts, some corrupted, some junk.
    put_many(&aws, &bucket, arts[..60].to_vec(), 16).await;
    for (k, b) in &arts[60..70] {
        put(&aws, &bucket, k, vec![0u8; b.len()]).await;
    }
    put(&aws, &bucket, "junk/left-over.tmp", "junk").await;
    let params = [
        ("bucket", bucket.as_str()),
        ("backup_bucket", backup.as_str()),
    ];
    let yaml = runbook("data-recovery-s3.yaml");

    // A dry run first: reads for real, both syncs only preview, nothing changes.
    let before = keys(&aws, &bucket, "").await;
    let run = run_runbook(&yaml, &params, &aws, true).await;
    let restore = run.result("restore");
    assert_eq!(restore["dry_run"], true, "{}", run.describe());
    assert_eq!(
        (
            restore["missing"].as_u64(),
            restore["changed"].as_u64(),
            restore["extra"].as_u64()
        ),
        (Some(50), Some(10), Some(1))
    );
    assert_eq!(keys(&aws, &bucket, "").await, before);
    assert!(keys(&aws, &backup, "restore-point-").await.is_empty());

    let run = run_runbook(&yaml, &params, &aws, false).await;
    assert_eq!(run.outcome, "succeeded", "{}", run.describe());
    // Step 2: the restore point holds the bucket as it was.
    let point = run.result("restore_point");
    assert_eq!(
        (point["source_count"].as_u64(), point["dest_count"].as_u64()),
        (Some(71), Some(71))
    );
    let saved = keys(&aws, &backup, "restore-point-").await;
    assert_eq!(saved.len(), 71);
    assert!(saved.iter().all(|k| k.contains("/pre-restore/")));
    // Step 3: the restore.
    let restore = run.result("restore");
    assert_eq!(
        (
            restore["copied"].as_u64(),
            restore["deleted"].as_u64(),
            restore["skipped"].as_u64()
        ),
        (Some(60), Some(1), Some(60)),
        "{restore}"
    );
    // Step 4: counts and the checksum sample.
    assert_eq!(run.result("restored_count")["count"], 120);
    assert_eq!(run.result("backup_count")["count"], 120);
    assert_eq!(
        run.result("backup_etag")["etag"],
        run.result("sample_etag")["etag"]
    );
    for (k, b) in [&arts[0], &arts[65], &arts[119]] {
        assert_eq!(
            get(&aws, &bucket, k).await.as_deref(),
            Some(b.as_slice()),
            "{k}"
        );
    }
    assert!(get(&aws, &bucket, "junk/left-over.tmp").await.is_none());

    // A backup whose metadata says it failed stops the run before anything is written.
    backup_layout(&aws, &backup, "20261126-020000", &arts[..5], "failed").await;
    put(&aws, &bucket, "new-since", "x").await;
    let run = run_runbook(&yaml, &params, &aws, false).await;
    assert_eq!(run.outcome, "failed");
    assert_eq!(run.status("metadata"), "failed");
    assert!(
        matches!(run.status("restore").as_str(), "skipped" | "not run"),
        "{}",
        run.describe()
    );
    assert!(get(&aws, &bucket, "new-since").await.is_some());

    remove_bucket(&aws, &bucket).await;
    remove_bucket(&aws, &backup).await;
}

#[tokio::test]
async fn data_recovery_on_moto() {
    let m = moto().await;
    create_bucket(&m.aws, "mcp-artifacts").await;
    create_bucket(&m.aws, "mcp-artifacts-backup").await;
    let arts = artifacts(25);
    backup_layout(
        &m.aws,
        "mcp-artifacts-backup",
        "20261125-020000",
        &arts,
        "success",
    )
    .await;
    put(&m.aws, "mcp-artifacts", "corrupt", "x").await;
    let run = run_runbook(&runbook("data-recovery-s3.yaml"), &[], &m.aws, false).await;
    assert_eq!(run.outcome, "succeeded", "{}", run.describe());
    assert_eq!(run.result("restore")["copied"], 25);
    assert_eq!(run.result("restore")["deleted"], 1);
    assert_eq!(keys(&m.aws, "mcp-artifacts", "").await.len(), 25);
}

#[tokio::test]
async fn backup_verification_passes_and_catches_a_short_backup() {
    let aws = seaweed();
    let backup = unique("mcp-artifacts-backup");
    create_bucket(&aws, &backup).await;
    backup_layout(&aws, &backup, "20261125-020000", &artifacts(40), "success").await;
    let yaml = runbook("backup-verification-s3.yaml");
    let run = run_runbook(&yaml, &[("backup_bucket", &backup)], &aws, false).await;
    assert_eq!(run.outcome, "succeeded", "{}", run.describe());
    assert_eq!(run.result("artifact_count")["count"], 40);
    let age: i64 = run.result("backup_age")["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((0..300).contains(&age), "{age}");

    // One artifact lost: the count no longer matches metadata.json.
    client(&aws)
        .await
        .delete_object()
        .bucket(&backup)
        .key(format!("20261125-020000/artifacts/{}", artifacts(40)[7].0))
        .send()
        .await
        .unwrap();
    let run = run_runbook(&yaml, &[("backup_bucket", &backup)], &aws, false).await;
    assert_eq!(run.outcome, "failed");
    assert_eq!(run.status("artifact_count"), "failed");
    let failed = run
        .records
        .iter()
        .find(|r| r["step"] == "artifact_count" && r["event"] == "step_failed")
        .unwrap();
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(
        error.contains("backup holds 39 files, metadata.json says 40"),
        "{error}"
    );

    // No latest.txt: the step says which object is missing.
    client(&aws)
        .await
        .delete_object()
        .bucket(&backup)
        .key("latest.txt")
        .send()
        .await
        .unwrap();
    let run = run_runbook(&yaml, &[("backup_bucket", &backup)], &aws, false).await;
    let failed = run
        .records
        .iter()
        .find(|r| r["step"] == "latest" && r["event"] == "step_failed")
        .unwrap_or_else(|| panic!("{}", run.describe()));
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("no object s3://{backup}/latest.txt")),
        "{error}"
    );

    remove_bucket(&aws, &backup).await;
}

#[tokio::test]
async fn region_failover_promotes_the_secondary_on_moto() {
    let m = moto().await;
    let r53 = m.aws.route53().await;
    let zone = r53
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference("failover-test")
        .send()
        .await
        .unwrap()
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    // The replica bucket in the secondary region, with artifacts.
    let west = Arc::new(ripcord_aws::Aws::new(ripcord_aws::Settings {
        region: Some("us-west-2".into()),
        ..ripcord_aws::Settings::local(&moto_url(), MOTO_KEY, MOTO_SECRET)
    }));
    let c = client(&west).await;
    c.create_bucket()
        .bucket("mcp-artifacts-us-west-2")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put_many(&west, "mcp-artifacts-us-west-2", artifacts(10), 8).await;
    create_bucket(&m.aws, "mcp-artifacts").await;

    let yaml = runbook("region-failover-aws.yaml");
    let params = [("hosted_zone_id", zone.as_str())];

    // Dry run: the DNS change is only previewed.
    let run = run_runbook(&yaml, &params, &m.aws, true).await;
    assert_eq!(run.result("dns")["status"], "DRY_RUN", "{}", run.describe());
    assert_eq!(run.result("dns_insync")["status"], "DRY_RUN");
    let listed = moto_get("route53", &format!("/2013-04-01/hostedzone/{zone}/rrset"));
    assert!(!listed.contains("mcp-semantic.example.com."), "{listed}");

    let run = run_runbook(&yaml, &params, &m.aws, false).await;
    assert_eq!(run.outcome, "succeeded", "{}", run.describe());
    // moto does not replicate: the bucket has no replication rule, recorded and not fatal.
    assert_eq!(run.status("replication"), "failed");
    assert_eq!(run.result("replica_count")["count"], 10);
    assert_eq!(run.result("dns_insync")["status"], "INSYNC");
    let listed = moto_get("route53", &format!("/2013-04-01/hostedzone/{zone}/rrset"));
    let block = listed
        .split("<ResourceRecordSet>")
        .find(|b| b.contains("<SetIdentifier>secondary</SetIdentifier>"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(block.contains("<Failover>PRIMARY</Failover>"), "{block}");
    assert!(
        block.contains("mcp-semantic.us-west-2.example.com"),
        "{block}"
    );
    let _ = json!(null);
}
