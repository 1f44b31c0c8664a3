//! The data path against a real object store (SeaweedFS): sync, copy, counts, checksums, a
//! 2,000-object sync, listing order, multipart copies, wrong credentials. Each test works in
//! buckets of its own and removes them.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ripcord_aws::{Aws, Settings};
use serde_json::json;

/// key -> (size, ETag unquoted) of every object under a prefix, keys relative to it.
async fn inventory(aws: &Aws, bucket: &str, prefix: &str) -> BTreeMap<String, (i64, String)> {
    let c = client(aws).await;
    let mut pages = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = BTreeMap::new();
    while let Some(page) = pages.next().await {
        for o in page.expect("list").contents() {
            out.insert(
                o.key().unwrap()[prefix.len()..].to_owned(),
                (
                    o.size().unwrap(),
                    o.e_tag().unwrap().trim_matches('"').to_owned(),
                ),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_two_thousand_objects_bucket_to_bucket() {
    let aws = seaweed();
    let (src, dst) = (unique("sync-src"), unique("sync-dst"));
    create_bucket(&aws, &src).await;
    create_bucket(&aws, &dst).await;
    let objects: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| {
            (
                format!("data/{:02}/obj-{i:05}.bin", i % 13),
                format!("payload {i} {}", "y".repeat(i % 97)).into_bytes(),
            )
        })
        .collect();
    let total: usize = objects.iter().map(|(_, b)| b.len()).sum();
    put_many(&aws, &src, objects.clone(), 32).await;

    let started = Instant::now();
    let out = ok(
        &aws,
        "s3.sync",
        json!({"source": format!("s3://{src}/"), "dest": format!("s3://{dst}/")}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out["copied"], 2000, "{out}");
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(2000), Some(2000))
    );
    assert_eq!(
        (
            out["missing"].as_u64(),
            out["changed"].as_u64(),
            out["extra"].as_u64()
        ),
        (Some(2000), Some(0), Some(0))
    );
    assert_eq!(out["bytes"], total);
    assert_eq!(out["manifest_sample"].as_array().unwrap().len(), 20);
    eprintln!("2,000-object sync on SeaweedFS: {took:?}");

    // Every object arrived with the same size and ETag (the store's MD5 of the content).
    let (a, b) = (
        inventory(&aws, &src, "").await,
        inventory(&aws, &dst, "").await,
    );
    assert_eq!(a.len(), 2000);
    assert_eq!(a, b);
    // Spot-check content and the counts the runbooks gate on.
    for i in [0usize, 999, 1999] {
        let (k, body) = &objects[i];
        assert_eq!(get(&aws, &dst, k).await.as_deref(), Some(body.as_slice()));
    }
    assert_eq!(
        ok(&aws, "s3.count", json!({"bucket": dst})).await,
        json!({"count": 2000, "bytes": total})
    );

    // Damage the destination: 7 deleted, 3 overwritten, 4 extra; a resync with delete repairs it.
    let c = client(&aws).await;
    for (k, _) in &objects[100..107] {
        c.delete_object().bucket(&dst).key(k).send().await.unwrap();
    }
    for (k, b) in &objects[500..503] {
        put(&aws, &dst, k, vec![b'!'; b.len()]).await;
    }
    for i in 0..4 {
        put(&aws, &dst, &format!("stray/{i}"), "stray").await;
    }
    let out = ok(
        &aws,
        "s3.sync",
        json!({"source": format!("s3://{src}/"), "dest": format!("s3://{dst}/"), "delete": true, "concurrency": 8}),
    )
    .await;
    assert_eq!(
        (
            out["missing"].as_u64(),
            out["changed"].as_u64(),
            out["extra"].as_u64(),
            out["skipped"].as_u64()
        ),
        (Some(7), Some(3), Some(4), Some(1990)),
        "{out}"
    );
    assert_eq!(
        (out["copied"].as_u64(), out["deleted"].as_u64()),
        (Some(10), Some(4))
    );
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(2000), Some(2000))
    );
    assert_eq!(inventory(&aws, &dst, "").await, a);

    remove_bucket(&aws, &src).await;
    remove_bucket(&aws, &dst).await;
}

#[tokio::test]
async fn sync_restores_a_backup_prefix_and_finds_seaweedfs_order() {
    let aws = seaweed();
    let (bucket, backup) = (unique("artifacts"), unique("artifacts-backup"));
    create_bucket(&aws, &bucket).await;
    create_bucket(&aws, &backup).await;
    // Keys whose binary order differs from SeaweedFS's path order: `a-b` < `a/x` in bytes, but
    // SeaweedFS lists the "directory" `a/` first.
    let mut arts = artifacts(12);
    for k in ["a-b", "a/x", "a/y", "a.txt", "a0", "b"] {
        arts.push((k.to_owned(), format!("body of {k}").into_bytes()));
    }
    let stamp = "20261125-020000";
    backup_layout(&aws, &backup, stamp, &arts, "success").await;
    put(&aws, &bucket, "a-b", "stale").await;
    put(&aws, &bucket, "a/zz-extra", "extra").await;

    let ctx = test_context();
    let with = json!({
        "source": format!("s3://{backup}/{stamp}/artifacts"),
        "dest": format!("s3://{bucket}/"),
        "delete": true,
    });
    let out = step(&ctx, &aws, "s3.sync", with, Opts::default())
        .await
        .unwrap();
    assert_eq!(
        (out["source_count"].as_u64(), out["dest_count"].as_u64()),
        (Some(18), Some(18)),
        "{out}"
    );
    assert_eq!(
        (
            out["missing"].as_u64(),
            out["changed"].as_u64(),
            out["extra"].as_u64()
        ),
        (Some(17), Some(1), Some(1))
    );
    assert_eq!(out["deleted"], 1);
    assert_eq!(aws.listing_order(), ripcord_aws::order::Order::Path);
    let notes = ctx.notes();
    assert!(
        notes
            .iter()
            .any(|(k, v)| k == "s3_listing_order" && v["order"] == "path"),
        "{notes:?}"
    );
    let want = inventory(&aws, &backup, &format!("{stamp}/artifacts/")).await;
    assert_eq!(inventory(&aws, &bucket, "").await, want);

    // A fresh executor that already knows: the same answer, no switch.
    let ctx = test_context();
    let with = json!({"source": format!("s3://{backup}/{stamp}/artifacts/"), "dest": format!("s3://{bucket}/"), "dry_run": true});
    let out = step(&ctx, &aws, "s3.sync", with, Opts::default())
        .await
        .unwrap();
    assert_eq!(
        (
            out["skipped"].as_u64(),
            out["missing"].as_u64(),
            out["extra"].as_u64()
        ),
        (Some(18), Some(0), Some(0))
    );
    assert!(ctx.notes().is_empty());

    remove_bucket(&aws, &bucket).await;
    remove_bucket(&aws, &backup).await;
}

#[tokio::test]
async fn copy_count_and_checksums() {
    let aws = seaweed();
    let (bucket, backup) = (unique("copy"), unique("copy-backup"));
    create_bucket(&aws, &bucket).await;
    create_bucket(&aws, &backup).await;
    let stamp = "20261124-020000";
    backup_layout(&aws, &backup, stamp, &artifacts(5), "success").await;

    let out = ok(
        &aws,
        "s3.count",
        json!({"bucket": backup, "prefix": format!("{stamp}/artifacts/")}),
    )
    .await;
    assert_eq!(out["count"], 5);
    let meta = ok(
        &aws,
        "s3.get_object",
        json!({"bucket": backup, "key": format!("{stamp}/metadata.json"), "format": "json"}),
    )
    .await;
    assert_eq!(meta["json"]["file_count"], 5);
    let latest = ok(
        &aws,
        "s3.get_object",
        json!({"bucket": backup, "key": "latest.txt"}),
    )
    .await;
    assert_eq!(latest["body"].as_str().unwrap().trim(), stamp);

    let key = "models/m03/artifact-00003.bin";
    let src = format!("s3://{backup}/{stamp}/artifacts/{key}");
    let out = ok(
        &aws,
        "s3.copy",
        json!({"source": src, "dest": format!("s3://{bucket}/{key}")}),
    )
    .await;
    let a = ok(
        &aws,
        "s3.head_object",
        json!({"bucket": backup, "key": format!("{stamp}/artifacts/{key}")}),
    )
    .await;
    let b = ok(
        &aws,
        "s3.head_object",
        json!({"bucket": bucket, "key": key}),
    )
    .await;
    // SeaweedFS answers CopyObject with an unquoted ETag; ripcord's are unquoted everywhere.
    assert_eq!(out["etag"], a["etag"]);
    assert_eq!(a["etag"], b["etag"]);
    assert_eq!(a["size"], b["size"]);
    assert!(!a["etag"].as_str().unwrap().contains('"'));

    let message = fails(
        &aws,
        "s3.get_object",
        json!({"bucket": backup, "key": "missing/latest.txt"}),
    )
    .await;
    assert!(
        message.contains(&format!("no object s3://{backup}/missing/latest.txt")),
        "{message}"
    );
    let message = fails(
        &aws,
        "s3.get_object",
        json!({"bucket": "no-such-bucket-here", "key": "latest.txt"}),
    )
    .await;
    assert!(
        message.contains("bucket `no-such-bucket-here` does not exist"),
        "{message}"
    );

    remove_bucket(&aws, &bucket).await;
    remove_bucket(&aws, &backup).await;
}

#[tokio::test]
async fn large_objects_are_copied_in_parts() {
    let settings = Settings {
        multipart_threshold: 1024 * 1024,
        multipart_part_size: 5 * 1024 * 1024,
        ..seaweed_settings()
    };
    let aws = Arc::new(Aws::new(settings));
    let (src, dst) = (unique("mp-src"), unique("mp-dst"));
    create_bucket(&aws, &src).await;
    create_bucket(&aws, &dst).await;
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    put(&aws, &src, "big.bin", big.clone()).await;
    put(&aws, &src, "small.txt", "small").await;

    let out = ok(
        &aws,
        "s3.copy",
        json!({"source": format!("s3://{src}/big.bin"), "dest": format!("s3://{dst}/copied.bin")}),
    )
    .await;
    assert_eq!(out["size"], big.len());
    assert_eq!(get(&aws, &dst, "copied.bin").await.unwrap(), big);

    let out = ok(
        &aws,
        "s3.sync",
        json!({"source": format!("s3://{src}/"), "dest": format!("s3://{dst}/tree/")}),
    )
    .await;
    assert_eq!(out["copied"], 2, "{out}");
    assert_eq!(get(&aws, &dst, "tree/big.bin").await.unwrap(), big);
    // The part-copied object has a multipart ETag: a second sync still sees it as equal.
    let out = ok(
        &aws,
        "s3.sync",
        json!({"source": format!("s3://{src}/"), "dest": format!("s3://{dst}/tree/")}),
    )
    .await;
    assert_eq!(
        (out["copied"].as_u64(), out["skipped"].as_u64()),
        (Some(0), Some(2)),
        "{out}"
    );

    remove_bucket(&aws, &src).await;
    remove_bucket(&aws, &dst).await;
}

#[tokio::test]
async fn wrong_credentials_fail_fast_with_a_clear_message() {
    let (key, _) = seaweed_keys();
    for (k, s, code) in [
        (key.as_str(), "not-the-secret", "SignatureDoesNotMatch"),
        ("no-such-access-key", "whatever", "InvalidAccessKeyId"),
    ] {
        let settings = Settings::local(&seaweed_url(), k, s);
        let aws = Arc::new(Aws::new(settings));
        let started = Instant::now();
        let message = fails(&aws, "s3.list", json!({"bucket": "any-bucket"})).await;
        let took = started.elapsed();
        assert!(message.contains(code), "{message}");
        assert!(message.contains("(HTTP 403)"), "{message}");
        assert!(message.contains("check the credentials"), "{message}");
        // One round trip, no retries with back-off.
        assert!(took < Duration::from_secs(2), "{took:?}: {message}");
        let started = Instant::now();
        let message = fails(
            &aws,
            "s3.sync",
            json!({"source": "s3://any-bucket/", "dest": "s3://other-bucket/"}),
        )
        .await;
        assert!(message.contains(code), "{message}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
