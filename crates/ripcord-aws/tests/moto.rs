//! Every s3.* and route53.* step type against moto (S3 + Route53 emulation), one test at a time
//! on a freshly reset moto.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ripcord_engine::StepError;
use serde_json::json;

const BUCKET: &str = "mcp-artifacts";
const BACKUP: &str = "mcp-artifacts-backup";

#[tokio::test]
async fn list_with_prefix_and_limit() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    for k in ["a/1", "a/2", "a/3", "b/1", "top"] {
        put(&m.aws, BUCKET, k, k).await;
    }
    let out = ok(&m.aws, "s3.list", json!({"bucket": BUCKET})).await;
    assert_eq!(
        out,
        json!({"keys": ["a/1", "a/2", "a/3", "b/1", "top"], "count": 5, "truncated": false})
    );
    let out = ok(
        &m.aws,
        "s3.list",
        json!({"bucket": BUCKET, "prefix": "a/", "limit": 2}),
    )
    .await;
    assert_eq!(
        out,
        json!({"keys": ["a/1", "a/2"], "count": 2, "truncated": true})
    );
    let out = ok(
        &m.aws,
        "s3.list",
        json!({"bucket": BUCKET, "prefix": "a/", "limit": 3}),
    )
    .await;
    assert_eq!(out["truncated"], false);
    let out = ok(
        &m.aws,
        "s3.list",
        json!({"bucket": BUCKET, "prefix": "none/"}),
    )
    .await;
    assert_eq!(out, json!({"keys": [], "count": 0, "truncated": false}));
}

#[tokio::test]
async fn list_pages_past_a_thousand_keys() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    let objects = (0..1205)
        .map(|i| (format!("k/{i:05}"), vec![b'x'; i % 3]))
        .collect();
    put_many(&m.aws, BUCKET, objects, 16).await;
    let out = ok(&m.aws, "s3.list", json!({"bucket": BUCKET, "limit": 1100})).await;
    assert_eq!(out["count"], 1100);
    assert_eq!(out["keys"][1099], "k/01099");
    assert_eq!(out["truncated"], true);
    let out = ok(&m.aws, "s3.list", json!({"bucket": BUCKET, "limit": 5000})).await;
    assert_eq!(out["count"], 1205);
    assert_eq!(out["truncated"], false);
    let out = ok(
        &m.aws,
        "s3.count",
        json!({"bucket": BUCKET, "prefix": "k/"}),
    )
    .await;
    // sizes cycle 0, 1, 2: 402 of each (1206 / 3) less the missing last 2.
    let bytes: usize = (0..1205).map(|i| i % 3).sum();
    assert_eq!(out, json!({"count": 1205, "bytes": bytes}));
}

#[tokio::test]
async fn count_objects_and_bytes() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    put(&m.aws, BUCKET, "x/1", "12345").await;
    put(&m.aws, BUCKET, "x/2", "123").await;
    put(&m.aws, BUCKET, "y", "1").await;
    assert_eq!(
        ok(&m.aws, "s3.count", json!({"bucket": BUCKET})).await,
        json!({"count": 3, "bytes": 9})
    );
    assert_eq!(
        ok(
            &m.aws,
            "s3.count",
            json!({"bucket": BUCKET, "prefix": "x/"})
        )
        .await,
        json!({"count": 2, "bytes": 8})
    );
    let message = fails(&m.aws, "s3.count", json!({"bucket": "no-such-bucket"})).await;
    assert!(
        message.contains("bucket `no-such-bucket` does not exist"),
        "{message}"
    );
    assert!(message.contains("NoSuchBucket"), "{message}");
}

#[tokio::test]
async fn get_object_text_json_and_caps() {
    let m = moto().await;
    create_bucket(&m.aws, BACKUP).await;
    backup_layout(&m.aws, BACKUP, "20261125-020000", &artifacts(3), "success").await;

    let out = ok(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "latest.txt"}),
    )
    .await;
    assert_eq!(out["body"], "20261125-020000\n");
    assert_eq!(out["json"], json!(null));
    assert_eq!(out["size"], 16);
    let etag = out["etag"].as_str().unwrap();
    assert_eq!(etag.len(), 32, "an unquoted MD5: {etag}");

    let out = ok(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "20261125-020000/metadata.json", "format": "json"}),
    )
    .await;
    assert_eq!(out["json"]["status"], "success");
    assert_eq!(out["json"]["file_count"], 3);

    let message = fails(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "latest.txt", "format": "json"}),
    )
    .await;
    assert!(
        message.contains("s3://mcp-artifacts-backup/latest.txt is not valid JSON"),
        "{message}"
    );

    let message = fails(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "latest.txt", "max_bytes": 4}),
    )
    .await;
    assert!(
        message.contains("16 bytes, more than `max_bytes` (4)"),
        "{message}"
    );

    put(&m.aws, BACKUP, "binary", vec![0xff, 0xfe, 0x00]).await;
    let message = fails(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "binary"}),
    )
    .await;
    assert!(message.contains("is not UTF-8 text"), "{message}");
}

#[tokio::test]
async fn missing_keys_and_buckets_are_named() {
    let m = moto().await;
    create_bucket(&m.aws, BACKUP).await;
    let message = fails(
        &m.aws,
        "s3.get_object",
        json!({"bucket": BACKUP, "key": "latest.txt"}),
    )
    .await;
    assert!(
        message.contains("no object s3://mcp-artifacts-backup/latest.txt")
            && message.contains("NoSuchKey"),
        "{message}"
    );
    let message = fails(
        &m.aws,
        "s3.head_object",
        json!({"bucket": BACKUP, "key": "nope/x.json"}),
    )
    .await;
    assert!(
        message.contains("no object s3://mcp-artifacts-backup/nope/x.json")
            && message.contains("NoSuchKey"),
        "{message}"
    );
    let message = fails(
        &m.aws,
        "s3.get_object",
        json!({"bucket": "gone-bucket", "key": "latest.txt"}),
    )
    .await;
    assert!(
        message.contains("bucket `gone-bucket` does not exist") && message.contains("NoSuchBucket"),
        "{message}"
    );
    let message = fails(
        &m.aws,
        "s3.head_object",
        json!({"bucket": "gone-bucket", "key": "k"}),
    )
    .await;
    assert!(
        message.contains("bucket `gone-bucket` does not exist"),
        "{message}"
    );
    let message = fails(&m.aws, "s3.list", json!({"bucket": "gone-bucket"})).await;
    assert!(
        message.contains("bucket `gone-bucket` does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn head_object_reports_etag_size_checksum_and_time() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    put(&m.aws, BUCKET, "plain.txt", "hello").await;
    let out = ok(
        &m.aws,
        "s3.head_object",
        json!({"bucket": BUCKET, "key": "plain.txt"}),
    )
    .await;
    // MD5("hello"), without quotes.
    assert_eq!(out["etag"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(out["size"], 5);
    let modified = out["last_modified"].as_str().unwrap();
    assert!(
        modified.ends_with('Z') && modified.contains('T'),
        "{modified}"
    );

    // An object stored with a SHA-256 checksum reports it.
    let c = client(&m.aws).await;
    c.put_object()
        .bucket(BUCKET)
        .key("summed.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let out = ok(
        &m.aws,
        "s3.head_object",
        json!({"bucket": BUCKET, "key": "summed.txt"}),
    )
    .await;
    // base64(SHA-256("hello"))
    assert_eq!(
        out["checksum_sha256"],
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    );
}

#[tokio::test]
async fn copy_one_object() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    create_bucket(&m.aws, BACKUP).await;
    backup_layout(&m.aws, BACKUP, "20261125-020000", &artifacts(2), "success").await;
    let src = "s3://mcp-artifacts-backup/20261125-020000/artifacts/models/m00/artifact-00000.bin";

    // Dry run: reads the source, writes nothing.
    let ctx = test_context();
    let out = step(
        &ctx,
        &m.aws,
        "s3.copy",
        json!({"source": src, "dest": "s3://mcp-artifacts/restored.bin"}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["dry_run"], true);
    assert!(get(&m.aws, BUCKET, "restored.bin").await.is_none());

    let out = ok(
        &m.aws,
        "s3.copy",
        json!({"source": src, "dest": "s3://mcp-artifacts/restored.bin"}),
    )
    .await;
    let body = get(&m.aws, BUCKET, "restored.bin").await.unwrap();
    assert_eq!(body, b"artifact 0 ");
    assert_eq!(out["size"], 11);
    assert_eq!(out["dry_run"], false);
    let head = ok(
        &m.aws,
        "s3.head_object",
        json!({"bucket": BUCKET, "key": "restored.bin"}),
    )
    .await;
    assert_eq!(out["etag"], head["etag"]);

    // Into a "directory": under the source's name.
    ok(
        &m.aws,
        "s3.copy",
        json!({"source": src, "dest": "s3://mcp-artifacts/dir/"}),
    )
    .await;
    assert!(
        get(&m.aws, BUCKET, "dir/artifact-00000.bin")
            .await
            .is_some()
    );

    // Keys that need encoding in x-amz-copy-source.
    put(&m.aws, BACKUP, "odd/a b+c%é.txt", "odd").await;
    ok(&m.aws, "s3.copy", json!({"source": "s3://mcp-artifacts-backup/odd/a b+c%é.txt", "dest": "s3://mcp-artifacts/odd/a b+c%é.txt"})).await;
    assert_eq!(
        get(&m.aws, BUCKET, "odd/a b+c%é.txt").await.unwrap(),
        b"odd"
    );

    let message = fails(
        &m.aws,
        "s3.copy",
        json!({"source": "s3://mcp-artifacts-backup/missing.bin", "dest": "s3://mcp-artifacts/x"}),
    )
    .await;
    assert!(
        message.contains("no object s3://mcp-artifacts-backup/missing.bin"),
        "{message}"
    );
    let message = fails(
        &m.aws,
        "s3.copy",
        json!({"source": src, "dest": "s3://no-such-dest/x"}),
    )
    .await;
    assert!(message.contains("NoSuchBucket"), "{message}");
    let ctx = test_context();
    let err = step(
        &ctx,
        &m.aws,
        "s3.copy",
        json!({"source": "mcp-artifacts/x", "dest": "s3://b/x"}),
        Opts::default(),
    )
    .await;
    assert!(matches!(err, Err(StepError::Input(m)) if m.contains("s3://bucket/key")));
}

#[tokio::test]
async fn sync_diff_copy_delete_and_dry_run() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    create_bucket(&m.aws, BACKUP).await;
    let stamp = "20261125-020000";
    backup_layout(&m.aws, BACKUP, stamp, &artifacts(30), "success").await;
    // The damaged bucket: 10 intact, 5 corrupted (changed), 15 missing, 3 extra.
    let all = artifacts(30);
    for (k, b) in &all[..10] {
        put(&m.aws, BUCKET, k, b.clone()).await;
    }
    // Corrupted in place: same size, other bytes (only the ETag tells).
    for (k, b) in &all[10..15] {
        put(&m.aws, BUCKET, k, vec![b'#'; b.len()]).await;
    }
    for k in ["junk/1", "junk/2", "zzz"] {
        put(&m.aws, BUCKET, k, "junk").await;
    }
    let source = format!("s3://{BACKUP}/{stamp}/artifacts/");
    let with = json!({"source": source, "dest": "s3://mcp-artifacts/", "delete": true});

    // A dry run (the run's) returns the diff and writes nothing.
    let before = (listing(&m.aws, BUCKET).await, listing(&m.aws, BACKUP).await);
    let ctx = test_context();
    let out = step(&ctx, &m.aws, "s3.sync", with.clone(), Opts::dry_run())
        .await
        .unwrap();
    assert_eq!(
        (listing(&m.aws, BUCKET).await, listing(&m.aws, BACKUP).await),
        before,
        "a dry run wrote nothing"
    );
    assert_eq!(out["dry_run"], true);
    let report = ctx.last_dry_run_report().expect("a dry-run report");
    assert_eq!(report.observed, ripcord_engine::Observed::Validated);
    let diff = report.diff.clone().expect("a diff");
    assert_eq!(diff.summary, "15 to copy, 5 to overwrite, 3 to delete");
    let sorted = |keys: Vec<&String>| {
        let mut k: Vec<String> = keys.into_iter().cloned().collect();
        k.sort();
        k
    };
    let missing = sorted(all[15..].iter().map(|(k, _)| k).collect());
    assert_eq!(diff.changes[0].action, "copy");
    assert_eq!(diff.changes[0].items, missing[..10]);
    assert_eq!(diff.changes[1].action, "overwrite");
    assert_eq!(
        diff.changes[1].items,
        sorted(all[10..15].iter().map(|(k, _)| k).collect())
    );
    assert_eq!(diff.changes[2].action, "delete");
    assert_eq!(diff.changes[2].items, ["junk/1", "junk/2", "zzz"]);
    assert_eq!(out["changes"], serde_json::to_value(&diff).unwrap());
    let objects: Vec<&str> = report.pre_state.iter().map(|p| p.object.as_str()).collect();
    assert_eq!(objects, [source.as_str(), "s3://mcp-artifacts/"]);
    assert!(
        report.pre_state[1]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("18 objects, ")
    );
    assert_eq!(report.pre_state[0].fingerprint.len(), 64);
    assert_eq!(
        (
            out["missing"].as_u64(),
            out["changed"].as_u64(),
            out["extra"].as_u64()
        ),
        (Some(15), Some(5), Some(3))
    );
    assert_eq!(
        (
            out["copied"].as_u64(),
            out["deleted"].as_u64(),
            out["skipped"].as_u64()
        ),
        (Some(20), Some(3), Some(10)),
        "a preview's counts are the predicted ones"
    );
    // dest_count: as the sync would leave it (18 + 15 missing - 3 extra deleted).
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(30), Some(30))
    );
    let sample = out["manifest_sample"].as_array().unwrap();
    assert_eq!(sample.len(), 20);
    assert!(
        sample
            .iter()
            .any(|e| e["reason"] == "extra" && e["action"] == "delete")
    );
    assert!(
        sample
            .iter()
            .any(|e| e["reason"] == "missing" && e["action"] == "copy")
    );
    assert!(
        sample
            .iter()
            .any(|e| e["reason"] == "etag" && e["action"] == "copy")
    );
    assert_eq!(keys(&m.aws, BUCKET, "").await.len(), 18);
    // ... and so does `dry_run: true` in `with`.
    let mut dry = with.clone();
    dry["dry_run"] = json!(true);
    let out = ok(&m.aws, "s3.sync", dry).await;
    assert_eq!(out["missing"], 15);
    assert_eq!(keys(&m.aws, BUCKET, "").await.len(), 18);

    let out = ok(&m.aws, "s3.sync", with.clone()).await;
    assert_eq!(out["dry_run"], false);
    // What it did is what the dry run said it would do.
    assert_eq!(out["changes"], serde_json::to_value(&diff).unwrap());
    assert_eq!(
        (
            out["copied"].as_u64(),
            out["deleted"].as_u64(),
            out["skipped"].as_u64()
        ),
        (Some(20), Some(3), Some(10))
    );
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(30), Some(30))
    );
    let bytes: usize = all[10..].iter().map(|(_, b)| b.len()).sum();
    assert_eq!(out["bytes"], bytes);
    for (k, b) in &all {
        assert_eq!(
            get(&m.aws, BUCKET, k).await.as_deref(),
            Some(b.as_slice()),
            "{k}"
        );
    }
    assert_eq!(keys(&m.aws, BUCKET, "").await.len(), 30);

    // Again: nothing to do.
    let out = ok(&m.aws, "s3.sync", with).await;
    assert_eq!(
        (
            out["copied"].as_u64(),
            out["skipped"].as_u64(),
            out["missing"].as_u64()
        ),
        (Some(0), Some(30), Some(0))
    );
}

/// A dry run's reads after a dry-run restore see the predicted bucket: counts, keys, ETags
/// and bodies as the restore would leave them; nothing is written.
#[tokio::test]
async fn dry_run_reads_see_the_predicted_state() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    create_bucket(&m.aws, BACKUP).await;
    let stamp = "20261125-020000";
    let all = artifacts(12);
    backup_layout(&m.aws, BACKUP, stamp, &all, "success").await;
    put(&m.aws, BUCKET, &all[0].0, all[0].1.clone()).await;
    put(&m.aws, BUCKET, &all[1].0, "corrupted").await;
    put(&m.aws, BUCKET, "aaa-junk", "junk").await;
    let before = listing(&m.aws, BUCKET).await;
    let dry = |kind: &'static str, with: serde_json::Value| {
        let aws = m.aws.clone();
        async move {
            let ctx = test_context();
            let out = step(&ctx, &aws, kind, with, Opts::dry_run()).await;
            (out, ctx.last_dry_run_report())
        }
    };
    // Before any dry-run write: plain reads.
    let (out, report) = dry("s3.count", json!({"bucket": BUCKET})).await;
    assert_eq!(out.unwrap()["count"], 3);
    assert_eq!(report.unwrap(), ripcord_engine::DryRunReport::ran());

    let source = format!("s3://{BACKUP}/{stamp}/artifacts/");
    let (out, _) = dry(
        "s3.sync",
        json!({"source": source, "dest": "s3://mcp-artifacts/", "delete": true}),
    )
    .await;
    assert_eq!(out.unwrap()["dest_count"], 12);

    let (out, report) = dry("s3.count", json!({"bucket": BUCKET})).await;
    let bytes: usize = all.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(out.unwrap(), json!({"count": 12, "bytes": bytes}));
    assert_eq!(
        report.unwrap(),
        ripcord_engine::DryRunReport::ran().predicted()
    );
    let (out, report) = dry("s3.list", json!({"bucket": BUCKET, "limit": 1})).await;
    let mut sorted: Vec<&String> = all.iter().map(|(k, _)| k).collect();
    sorted.sort();
    assert_eq!(
        out.unwrap(),
        json!({"keys": [sorted[0]], "count": 1, "truncated": true})
    );
    assert!(report.unwrap().predicted);
    // The corrupted object: the backup's ETag and bytes.
    let backup_key = format!("{stamp}/artifacts/{}", all[1].0);
    let want = ok(
        &m.aws,
        "s3.head_object",
        json!({"bucket": BACKUP, "key": backup_key}),
    )
    .await;
    let (out, report) = dry("s3.head_object", json!({"bucket": BUCKET, "key": all[1].0})).await;
    assert_eq!(out.unwrap()["etag"], want["etag"]);
    assert!(report.unwrap().predicted);
    let (out, _) = dry("s3.get_object", json!({"bucket": BUCKET, "key": all[5].0})).await;
    assert_eq!(
        out.unwrap()["body"].as_str().unwrap().as_bytes(),
        all[5].1.as_slice()
    );
    // The junk the restore would delete is gone.
    let (out, _) = dry(
        "s3.head_object",
        json!({"bucket": BUCKET, "key": "aaa-junk"}),
    )
    .await;
    assert!(
        matches!(&out, Err(StepError::Failed(m)) if m.contains("would delete it")),
        "{out:?}"
    );
    // A prefix no dry-run write touched reads live.
    let (_, report) = dry("s3.count", json!({"bucket": BACKUP})).await;
    assert!(!report.unwrap().predicted);
    // A real read, and the bucket, are untouched.
    assert_eq!(
        ok(&m.aws, "s3.count", json!({"bucket": BUCKET})).await["count"],
        3
    );
    assert_eq!(listing(&m.aws, BUCKET).await, before);
}

#[tokio::test]
async fn sync_without_delete_keeps_extras_and_refuses_bad_input() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    create_bucket(&m.aws, BACKUP).await;
    put(&m.aws, BUCKET, "a", "1").await;
    put(&m.aws, BUCKET, "b", "2").await;
    put(&m.aws, BACKUP, "restore-point-1/pre-restore/old", "0").await;
    // A restore point: the whole bucket under a prefix of another.
    let out = ok(
        &m.aws,
        "s3.sync",
        json!({"source": "s3://mcp-artifacts/", "dest": "s3://mcp-artifacts-backup/restore-point-1/pre-restore"}),
    )
    .await;
    assert_eq!(
        (
            out["copied"].as_u64(),
            out["extra"].as_u64(),
            out["deleted"].as_u64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        keys(&m.aws, BACKUP, "").await,
        [
            "restore-point-1/pre-restore/a",
            "restore-point-1/pre-restore/b",
            "restore-point-1/pre-restore/old"
        ]
    );

    // An empty source with `delete` does not empty the destination.
    let message = fails(
        &m.aws,
        "s3.sync",
        json!({"source": "s3://mcp-artifacts-backup/nothing-here/", "dest": "s3://mcp-artifacts/", "delete": true}),
    )
    .await;
    assert!(
        message.contains("is empty: refusing to delete"),
        "{message}"
    );
    assert_eq!(keys(&m.aws, BUCKET, "").await.len(), 2);

    let ctx = test_context();
    let err = step(
        &ctx,
        &m.aws,
        "s3.sync",
        json!({"source": "s3://b/x/", "dest": "s3://b/x/y/"}),
        Opts::default(),
    )
    .await;
    assert!(matches!(err, Err(StepError::Input(m)) if m.contains("overlap")));
    let message = fails(
        &m.aws,
        "s3.sync",
        json!({"source": "s3://no-such-source/", "dest": "s3://mcp-artifacts/"}),
    )
    .await;
    assert!(
        message.contains("bucket `no-such-source` does not exist"),
        "{message}"
    );
}

#[tokio::test]
async fn replication_status() {
    let m = moto().await;
    create_bucket(&m.aws, BUCKET).await;
    let out = ok(&m.aws, "s3.replication.status", json!({"bucket": BUCKET})).await;
    assert_eq!(out, json!({"enabled": false, "rules": [], "role": null}));

    create_bucket(&m.aws, "mcp-artifacts-us-west-2").await;
    let c = client(&m.aws).await;
    use aws_sdk_s3::types::*;
    for b in [BUCKET, "mcp-artifacts-us-west-2"] {
        c.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let rule = ReplicationRule::builder()
        .id("to-us-west-2")
        .status(ReplicationRuleStatus::Enabled)
        .priority(1)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .delete_marker_replication(
            DeleteMarkerReplication::builder()
                .status(DeleteMarkerReplicationStatus::Disabled)
                .build(),
        )
        .destination(
            Destination::builder()
                .bucket("arn:aws:s3:::mcp-artifacts-us-west-2")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.put_bucket_replication()
        .bucket(BUCKET)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/replication")
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let out = ok(
        &m.aws,
        "s3.replication.status",
        json!({"bucket": BUCKET, "region": "us-east-1"}),
    )
    .await;
    assert_eq!(out["enabled"], true);
    assert_eq!(out["role"], "arn:aws:iam::123456789012:role/replication");
    assert_eq!(out["rules"][0]["id"], "to-us-west-2");
    assert_eq!(out["rules"][0]["status"], "Enabled");
    assert_eq!(
        out["rules"][0]["destination_bucket_name"],
        "mcp-artifacts-us-west-2"
    );

    let message = fails(
        &m.aws,
        "s3.replication.status",
        json!({"bucket": "no-such-bucket"}),
    )
    .await;
    assert!(
        message.contains("bucket `no-such-bucket` does not exist"),
        "{message}"
    );
}

async fn hosted_zone(m: &MotoGuard, name: &str) -> String {
    let r53 = m.aws.route53().await;
    let out = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("ripcord-test-{name}"))
        .send()
        .await
        .unwrap();
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

/// (name, type, set identifier, failover, values) of the zone's records but NS and SOA.
async fn records(
    _m: &MotoGuard,
    zone: &str,
) -> Vec<(String, String, Option<String>, Option<String>, Vec<String>)> {
    let xml = moto_get("route53", &format!("/2013-04-01/hostedzone/{zone}/rrset"));
    let tag = |block: &str, name: &str| -> Vec<String> {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        block
            .split(&open)
            .skip(1)
            .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.trim().to_owned()))
            .map(|v| {
                v.trim_start_matches("<![CDATA[")
                    .trim_end_matches("]]>")
                    .to_owned()
            })
            .collect()
    };
    xml.split("<ResourceRecordSet>")
        .skip(1)
        .map(|block| {
            (
                tag(block, "Name").remove(0),
                tag(block, "Type").remove(0),
                tag(block, "SetIdentifier").pop(),
                tag(block, "Failover").pop(),
                tag(block, "Value"),
            )
        })
        .filter(|r| !matches!(r.1.as_str(), "NS" | "SOA"))
        .collect()
}

#[tokio::test]
async fn route53_failover_records_and_wait() {
    let m = moto().await;
    let zone = hosted_zone(&m, "example.com.").await;
    let failover = |primary: &str, secondary: &str| {
        json!({
            "zone_id": zone,
            "comment": "ripcord test",
            "changes": [
                {"action": "UPSERT", "name": "mcp-semantic.example.com.", "type": "CNAME", "ttl": 60,
                 "set_identifier": "primary", "failover": "PRIMARY", "values": [primary]},
                {"action": "UPSERT", "name": "mcp-semantic.example.com.", "type": "CNAME", "ttl": 60,
                 "set_identifier": "secondary", "failover": "SECONDARY", "values": [secondary]},
            ],
        })
    };
    let out = ok(
        &m.aws,
        "route53.change_records",
        failover("us-east-1.example.com", "us-west-2.example.com"),
    )
    .await;
    let change = out["change_id"].as_str().unwrap().to_owned();
    assert!(
        !change.is_empty() && !change.starts_with("/change/"),
        "{out}"
    );
    assert!(
        matches!(out["status"].as_str(), Some("PENDING" | "INSYNC")),
        "{out}"
    );
    let got = records(&m, &zone).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&(
        "mcp-semantic.example.com.".into(),
        "CNAME".into(),
        Some("primary".into()),
        Some("PRIMARY".into()),
        vec!["us-east-1.example.com".into()]
    )));

    let out = ok(&m.aws, "route53.wait_insync", json!({"change_id": change})).await;
    assert_eq!(out, json!({"status": "INSYNC"}));
    let out = ok(
        &m.aws,
        "route53.wait_insync",
        json!({"change_id": format!("/change/{change}")}),
    )
    .await;
    assert_eq!(out["status"], "INSYNC");

    // Failover: swap the roles (an UPSERT of both records).
    ok(
        &m.aws,
        "route53.change_records",
        failover("us-west-2.example.com", "us-east-1.example.com"),
    )
    .await;
    let got = records(&m, &zone).await;
    assert!(
        got.iter()
            .any(|r| r.2.as_deref() == Some("primary") && r.4 == ["us-west-2.example.com"]),
        "{got:?}"
    );

    // CREATE then DELETE a plain record; /hostedzone/ prefixes are accepted.
    let a = |action: &str| {
        json!({"zone_id": format!("/hostedzone/{zone}"), "changes": [
            {"action": action, "name": "db.example.com.", "type": "A", "ttl": 300, "values": ["10.0.0.1", "10.0.0.2"]}
        ]})
    };
    ok(&m.aws, "route53.change_records", a("CREATE")).await;
    assert!(
        records(&m, &zone)
            .await
            .iter()
            .any(|r| r.0 == "db.example.com." && r.4.len() == 2)
    );

    // A dry run checks that the record to delete exists and submits nothing.
    let ctx = test_context();
    let out = step(
        &ctx,
        &m.aws,
        "route53.change_records",
        a("DELETE"),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "DRY_RUN");
    assert_eq!(out["change_id"], "");
    assert!(
        records(&m, &zone)
            .await
            .iter()
            .any(|r| r.0 == "db.example.com.")
    );
    let out = step(
        &ctx,
        &m.aws,
        "route53.wait_insync",
        json!({"change_id": ""}),
        Opts::dry_run(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "DRY_RUN");

    ok(&m.aws, "route53.change_records", a("DELETE")).await;
    assert!(
        !records(&m, &zone)
            .await
            .iter()
            .any(|r| r.0 == "db.example.com.")
    );
    let ctx = test_context();
    let err = step(
        &ctx,
        &m.aws,
        "route53.change_records",
        a("DELETE"),
        Opts::dry_run(),
    )
    .await;
    assert!(
        matches!(&err, Err(StepError::Failed(m)) if m.contains("no such record set")),
        "{err:?}"
    );
}

#[tokio::test]
async fn route53_errors_name_the_zone_and_code() {
    let m = moto().await;
    let zone = hosted_zone(&m, "example.com.").await;
    let message = fails(
        &m.aws,
        "route53.change_records",
        json!({"zone_id": "ZNOSUCHZONE", "changes": [
            {"action": "UPSERT", "name": "a.example.com.", "type": "A", "values": ["10.0.0.1"]}
        ]}),
    )
    .await;
    assert!(
        message.contains("ZNOSUCHZONE") && message.contains("NoSuchHostedZone"),
        "{message}"
    );

    // Deleting a record that is not there: the batch is refused with Route53's reason.
    let message = fails(
        &m.aws,
        "route53.change_records",
        json!({"zone_id": zone, "changes": [
            {"action": "DELETE", "name": "ghost.example.com.", "type": "A", "ttl": 300, "values": ["10.9.9.9"]}
        ]}),
    )
    .await;
    // (Route53 says InvalidChangeBatch with its reasons; moto says InvalidInput.)
    assert!(
        message.contains(&zone)
            && (message.contains("InvalidChangeBatch") || message.contains("InvalidInput")),
        "{message}"
    );

    // (moto answers INSYNC for any change id, so NoSuchChange cannot be tested here.)

    let ctx = test_context();
    let err = step(
        &ctx,
        &m.aws,
        "route53.change_records",
        json!({"zone_id": zone, "changes": [{"action": "UPSERT", "name": "a.example.com.", "type": "A", "values": []}]}),
        Opts::default(),
    )
    .await;
    assert!(
        matches!(&err, Err(StepError::Input(m)) if m.contains("`values` is empty")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_fast_and_says_where() {
    // Nothing listens on port 9 of 127.0.0.1.
    let aws = std::sync::Arc::new(ripcord_aws::Aws::new(ripcord_aws::Settings::local(
        "http://127.0.0.1:9",
        "k",
        "s",
    )));
    let started = Instant::now();
    let message = fails(&aws, "s3.list", json!({"bucket": "b"})).await;
    assert!(message.contains("http://127.0.0.1:9"), "{message}");
    assert!(message.contains("ListObjectsV2 s3://b/"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancellation_stops_a_wait() {
    let m = moto().await;
    let ctx = test_context();
    let opts = Opts::default();
    let cancel = opts.cancel.clone();
    cancel.cancel();
    let err = step(
        &ctx,
        &m.aws,
        "route53.wait_insync",
        json!({"change_id": "C1"}),
        opts,
    )
    .await;
    assert!(matches!(err, Err(StepError::Cancelled)), "{err:?}");
}
