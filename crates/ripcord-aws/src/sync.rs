//! `s3.sync`: make a destination prefix match a source prefix.
//!
//! **Diff by merge walk.** Both prefixes are listed page by page (ListObjectsV2, 1,000 keys a
//! page, two pages read ahead on each side, by tasks of their own) and walked together in key
//! order, like the merge step of a merge sort: a key only in the source is *missing*, a key only
//! in the destination is *extra*, a key in both is *changed* when the sizes differ, or the ETags
//! differ where ETags are comparable (neither is a multipart ETag); where they are not, the
//! objects' full-object checksums decide when the store has them, else the destination must not
//! be older than the source. `size_only` compares sizes alone. Nothing is collected: memory is
//! the read-ahead pages plus the copies in flight, whatever the number of objects.
//!
//! **Copies** are server-side (CopyObject; UploadPartCopy above 5 GiB), at most `concurrency`
//! (default 64) in flight, each checked as it completes (the new ETag against the source's, or
//! a HEAD of the destination when ETags cannot be compared). The first failure stops new copies;
//! the step fails naming the object and the AWS error code, and a retry copies only what is
//! still missing.
//!
//! **Verification and deletes.** A second walk over fresh listings checks that every source
//! object is now at the destination and equal; objects the source changed after the sync started
//! are counted (`changed_during_sync`), not failed. With `delete`, the destination's extra
//! objects are deleted during this walk (DeleteObjects, 1,000 keys a request): deleting only
//! after every copy has landed keeps the destination a superset of the source throughout.
//! With `delete`, an empty source listing refuses to empty a non-empty destination.
//!
//! **Dry run** (`dry_run: true` or a dry run of the whole run): the first walk only; the result
//! is the diff (`missing`, `changed`, `extra`, `manifest_sample` of what would be done) and
//! nothing is written. `dest_count` is then the count the destination would have afterwards.
//!
//! The walk needs both listings in one order; see [`crate::order`] for how it finds it.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use ripcord_engine::{DryRunReport, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::S3SyncWith;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Aws;
use crate::error::describe;
use crate::order::Order;
use crate::preview::{Entry, Predicted, SyncChanges, listing_state};
use crate::s3::{Head, S3Url, copy_object, head, verify_copy};
use crate::util::{is_multipart_etag, millis, opt_value, unquote, value};

/// Copies in flight when `concurrency` is not given.
pub const DEFAULT_CONCURRENCY: u64 = 64;
/// Entries in `manifest_sample`.
pub const MANIFEST_SAMPLE: usize = 20;
/// Listing pages read ahead on each side.
const READ_AHEAD: usize = 2;
/// Keys per DeleteObjects request (the S3 maximum).
const DELETE_BATCH: usize = 1000;
/// Differing objects named in a failed verification.
const MISMATCH_SAMPLE: usize = 5;
/// Keys remembered from a walk abandoned for its order, so that the walk after it reports the
/// objects already copied as the diff they were (beyond this many it counts them as skipped).
const REMEMBERED: usize = 10_000;

/// One listed object, its key relative to the listed prefix.
#[derive(Clone, Debug)]
struct Obj {
    key: String,
    size: u64,
    etag: String,
    modified: i64,
}

enum WalkError {
    Step(StepError),
    /// A listing is not in the order the walk assumed.
    Order {
        listing: String,
        prev: String,
        next: String,
    },
}

impl From<StepError> for WalkError {
    fn from(e: StepError) -> Self {
        WalkError::Step(e)
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One side's listing, read ahead by a task of its own, checked for order.
struct Listing {
    url: S3Url,
    rx: mpsc::Receiver<Result<Vec<Obj>, StepError>>,
    page: std::vec::IntoIter<Obj>,
    prev: Option<String>,
    order: Order,
    count: u64,
    _task: AbortOnDrop,
}

impl Listing {
    fn start(client: Client, endpoint: String, url: S3Url, order: Order) -> Listing {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        let task_url = url.clone();
        let task = tokio::spawn(async move {
            let url = task_url;
            let strip = url.key.len();
            let mut pages = client
                .list_objects_v2()
                .bucket(&url.bucket)
                .prefix(&url.key)
                .max_keys(1000)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let item = match page {
                    Ok(page) => Ok(page
                        .contents()
                        .iter()
                        .map(|o| Obj {
                            key: o
                                .key()
                                .map(|k| k.get(strip..).unwrap_or(k))
                                .unwrap_or_default()
                                .to_owned(),
                            size: o.size().unwrap_or(0).max(0) as u64,
                            etag: o.e_tag().map(unquote).unwrap_or_default(),
                            modified: millis(o.last_modified()),
                        })
                        .collect()),
                    Err(e) => {
                        let f = describe("ListObjectsV2", &url.to_string(), &endpoint, &e);
                        Err(if f.code.as_deref() == Some("NoSuchBucket") {
                            StepError::failed(format!(
                                "bucket `{}` does not exist (listing {url}): NoSuchBucket",
                                url.bucket
                            ))
                        } else {
                            f.into_step_error()
                        })
                    }
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        Listing {
            url,
            rx,
            page: Vec::new().into_iter(),
            prev: None,
            order,
            count: 0,
            _task: AbortOnDrop(task),
        }
    }

    async fn next(&mut self) -> Result<Option<Obj>, WalkError> {
        loop {
            if let Some(obj) = self.page.next() {
                if let Some(prev) = &self.prev
                    && self.order.cmp(prev, &obj.key) != std::cmp::Ordering::Less
                {
                    return Err(WalkError::Order {
                        listing: self.url.to_string(),
                        prev: prev.clone(),
                        next: obj.key,
                    });
                }
                self.prev = Some(obj.key.clone());
                self.count += 1;
                return Ok(Some(obj));
            }
            match self.rx.recv().await {
                Some(Ok(page)) => self.page = page.into_iter(),
                Some(Err(e)) => return Err(WalkError::Step(e)),
                None => return Ok(None),
            }
        }
    }
}

enum Pair {
    Missing(Obj),
    Extra(Obj),
    Both(Obj, Obj),
}

/// The merge walk over two listings.
struct Walk {
    src: Listing,
    dst: Listing,
    s: Option<Obj>,
    d: Option<Obj>,
    order: Order,
}

impl Walk {
    async fn start(
        client: &Client,
        endpoint: &str,
        source: &S3Url,
        dest: &S3Url,
        order: Order,
    ) -> Result<Walk, WalkError> {
        let mut src = Listing::start(client.clone(), endpoint.to_owned(), source.clone(), order);
        let mut dst = Listing::start(client.clone(), endpoint.to_owned(), dest.clone(), order);
        let (s, d) = tokio::join!(src.next(), dst.next());
        Ok(Walk {
            s: s?,
            d: d?,
            src,
            dst,
            order,
        })
    }

    async fn next(&mut self) -> Result<Option<Pair>, WalkError> {
        let which = match (&self.s, &self.d) {
            (None, None) => return Ok(None),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(s), Some(d)) => self.order.cmp(&s.key, &d.key),
        };
        Ok(Some(match which {
            std::cmp::Ordering::Less => {
                let s = std::mem::replace(&mut self.s, self.src.next().await?);
                Pair::Missing(s.expect("a source head"))
            }
            std::cmp::Ordering::Greater => {
                let d = std::mem::replace(&mut self.d, self.dst.next().await?);
                Pair::Extra(d.expect("a destination head"))
            }
            std::cmp::Ordering::Equal => {
                let s = std::mem::replace(&mut self.s, self.src.next().await?);
                let d = std::mem::replace(&mut self.d, self.dst.next().await?);
                Pair::Both(s.expect("a source head"), d.expect("a destination head"))
            }
        }))
    }
}

/// Whether a destination object equals its source.
enum Verdict {
    Same,
    Changed(&'static str),
}

/// Decide from the listings alone when possible.
fn judge_listed(s: &Obj, d: &Obj, size_only: bool) -> Option<Verdict> {
    if s.size != d.size {
        return Some(Verdict::Changed("size"));
    }
    if size_only {
        return Some(Verdict::Same);
    }
    if !s.etag.is_empty()
        && !d.etag.is_empty()
        && !is_multipart_etag(&s.etag)
        && !is_multipart_etag(&d.etag)
    {
        return Some(if s.etag == d.etag {
            Verdict::Same
        } else {
            Verdict::Changed("etag")
        });
    }
    None
}

/// ETags not comparable (multipart): full-object checksums if the store has them for both,
/// else the destination must not be older than the source.
async fn judge(
    aws: &Aws,
    client: &Client,
    job: &Job,
    s: &Obj,
    d: &Obj,
) -> Result<Verdict, StepError> {
    if let Some(v) = judge_listed(s, d, job.size_only) {
        return Ok(v);
    }
    let (su, du) = (job.source.child(&s.key), job.dest.child(&d.key));
    let (sh, dh) = tokio::try_join!(head(aws, client, &su), head(aws, client, &du))?;
    for (alg, value) in &sh.checksums {
        if let Some((_, other)) = dh.checksums.iter().find(|(a, _)| a == alg) {
            return Ok(if other == value {
                Verdict::Same
            } else {
                Verdict::Changed("checksum")
            });
        }
    }
    Ok(if d.modified >= s.modified {
        Verdict::Same
    } else {
        Verdict::Changed("older")
    })
}

/// What one sync is about.
struct Job {
    source: S3Url,
    dest: S3Url,
    delete: bool,
    dry_run: bool,
    size_only: bool,
    concurrency: usize,
    /// When the sync started (ms since the epoch): source objects modified later are the
    /// source changing under the sync, not a failed copy.
    started: i64,
}

#[derive(Default)]
struct Tally {
    source_count: u64,
    dest_count: u64,
    missing: u64,
    changed: u64,
    extra: u64,
    skipped: u64,
    copied: u64,
    bytes: u64,
    deleted: u64,
    changed_during_sync: u64,
    manifest: Vec<Value>,
    /// Copies started by this walk (up to [`REMEMBERED`]), with why.
    started: std::collections::HashMap<String, &'static str>,
    /// Those of an earlier walk abandoned for its order.
    prior: std::collections::HashMap<String, &'static str>,
    /// The keys copied, overwritten and deleted (predicted in a dry run).
    changes: SyncChanges,
    /// Dry run: both listings as walked, for the pre-state fingerprints.
    src_entries: Vec<Entry>,
    dst_entries: Vec<Entry>,
    /// Dry run: what the destination would hold, by key relative to its prefix.
    predicted: Vec<(String, Predicted)>,
}

impl Tally {
    /// Dry run: remember both sides of a pair as listed.
    fn listed(&mut self, job: &Job, s: Option<&Obj>, d: Option<&Obj>) {
        if !job.dry_run {
            return;
        }
        let entry = |o: &Obj| (o.key.clone(), o.etag.clone(), o.size);
        self.src_entries.extend(s.map(entry));
        self.dst_entries.extend(d.map(entry));
    }

    /// A copy made (or predicted) for `why` (`missing`: a copy, else an overwrite).
    fn copying(&mut self, key: &str, why: &str) {
        if why == "missing" {
            self.changes.copy.add(key);
        } else {
            self.changes.overwrite.add(key);
        }
    }

    fn sample(&mut self, entry: Value) {
        if self.manifest.len() < MANIFEST_SAMPLE {
            self.manifest.push(entry);
        }
    }
}

pub(crate) async fn run(
    aws: &Arc<Aws>,
    request: &StepRequest<'_>,
    with: &S3SyncWith,
) -> Result<StepResult, StepError> {
    let source = S3Url::parse(&with.source, "source")?.as_dir();
    let dest = S3Url::parse(&with.dest, "dest")?.as_dir();
    if source.bucket == dest.bucket
        && (source.key.starts_with(&dest.key) || dest.key.starts_with(&source.key))
    {
        return Err(StepError::Input(format!(
            "`source` {source} and `dest` {dest} overlap: one is inside the other"
        )));
    }
    let concurrency = opt_value(&with.concurrency, "concurrency")?.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        return Err(StepError::Input("`concurrency` must be at least 1".into()));
    }
    let job = Job {
        source,
        dest,
        delete: value(&with.delete, "delete")?,
        dry_run: with.dry_run || request.dry_run,
        size_only: with.size_only,
        concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX).min(4096),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    let client = aws.s3(with.region.as_deref()).await?;
    let mut tally = Tally::default();

    // Pass 1: diff and copy. A listing out of the assumed order switches the order once and
    // starts again; copies already made stay made (the new walk finds them equal).
    let mut switched = false;
    loop {
        let order = aws.listing_order();
        let mut pass = Tally {
            copied: tally.copied,
            bytes: tally.bytes,
            prior: std::mem::take(&mut tally.prior),
            ..Tally::default()
        };
        match diff_and_copy(aws, &client, &job, order, &mut pass).await {
            Ok(()) => {
                tally = pass;
                break;
            }
            Err(WalkError::Step(e)) => return Err(e),
            Err(WalkError::Order {
                listing,
                prev,
                next,
            }) => {
                tally.copied = pass.copied;
                tally.bytes = pass.bytes;
                tally.prior = pass.prior;
                tally.prior.extend(pass.started);
                if switched {
                    return Err(unordered(&listing, &prev, &next));
                }
                switched = true;
                aws.learn_order(order.other());
                request
                    .context
                    .note(
                        "s3_listing_order",
                        json!({
                            "listing": listing,
                            "order": order.other().as_str(),
                            "why": format!("`{next}` listed after `{prev}`"),
                        }),
                    )
                    .await;
            }
        }
    }

    if job.dry_run {
        predict(aws, request, &job, &mut tally);
    } else {
        // Pass 2: verify, and delete extras.
        let mut restarted = false;
        loop {
            let order = aws.listing_order();
            match verify_and_delete(aws, &client, &job, order, &mut tally).await {
                Ok(()) => break,
                Err(WalkError::Step(e)) => return Err(e),
                Err(WalkError::Order {
                    listing,
                    prev,
                    next,
                }) => {
                    if restarted || tally.deleted > 0 {
                        return Err(unordered(&listing, &prev, &next));
                    }
                    restarted = true;
                    aws.learn_order(order.other());
                }
            }
        }
    }

    Ok(json!({
        "copied": tally.copied,
        "deleted": tally.deleted,
        "skipped": tally.skipped,
        "bytes": tally.bytes,
        "source_count": tally.source_count,
        "dest_count": tally.dest_count,
        "missing": tally.missing,
        "changed": tally.changed,
        "extra": tally.extra,
        "manifest_sample": tally.manifest,
        "changed_during_sync": tally.changed_during_sync,
        "changes": serde_json::to_value(tally.changes.diff(job.delete)).unwrap_or(Value::Null),
        "dry_run": job.dry_run,
    }))
}

/// A preview reports the sync as it would end (counts, destination), so that gates such as
/// `dest_count == source_count` judge the plan rather than the damage; records what the
/// destination would hold for later dry-run reads; and reports the diff and pre-state.
fn predict(aws: &Aws, request: &StepRequest<'_>, job: &Job, tally: &mut Tally) {
    let deleted = if job.delete { tally.extra } else { 0 };
    tally.dest_count = tally.dest_count + tally.missing - deleted;
    tally.copied = tally.missing + tally.changed;
    tally.deleted = deleted;
    // A `dry_run: true` sync inside a real run predicts nothing for the run's real reads.
    if request.dry_run {
        let mut overlay = aws.overlay();
        for (key, p) in std::mem::take(&mut tally.predicted) {
            overlay.record(&job.dest.bucket, format!("{}{key}", job.dest.key), p);
        }
    }
    let pre_state = [
        listing_state(&job.source, std::mem::take(&mut tally.src_entries)),
        listing_state(&job.dest, std::mem::take(&mut tally.dst_entries)),
    ];
    request.context.dry_run(
        DryRunReport::validated()
            .with_diff(tally.changes.diff(job.delete))
            .with_pre_state(pre_state),
    );
}

fn unordered(listing: &str, prev: &str, next: &str) -> StepError {
    StepError::failed(format!(
        "the listing of {listing} is in no order s3.sync knows (`{next}` after `{prev}`): it \
         needs keys in UTF-8 binary order (S3) or path order (SeaweedFS)"
    ))
}

async fn diff_and_copy(
    aws: &Arc<Aws>,
    client: &Client,
    job: &Job,
    order: Order,
    tally: &mut Tally,
) -> Result<(), WalkError> {
    let endpoint = aws.endpoint_description();
    let mut walk = Walk::start(client, &endpoint, &job.source, &job.dest, order).await?;
    if job.delete && walk.s.is_none() && walk.d.is_some() {
        return Err(StepError::failed(format!(
            "the source {} is empty: refusing to delete everything under {} (a sync with \
             `delete` from an empty source would empty it; check the source)",
            job.source, job.dest
        ))
        .into());
    }
    let mut copies: JoinSet<Result<u64, StepError>> = JoinSet::new();
    let mut failure: Option<StepError> = None;
    let walked = async {
        while let Some(pair) = walk.next().await? {
            let (obj, reason) = match pair {
                Pair::Extra(d) => {
                    tally.extra += 1;
                    tally.listed(job, None, Some(&d));
                    if job.delete && job.dry_run {
                        tally.changes.delete.add(&d.key);
                        tally.predicted.push((d.key.clone(), Predicted::Deleted));
                    }
                    let action = if job.delete { "delete" } else { "keep" };
                    tally.sample(json!({"action": action, "key": d.key, "size": d.size, "reason": "extra"}));
                    continue;
                }
                Pair::Missing(s) => {
                    tally.missing += 1;
                    tally.listed(job, Some(&s), None);
                    (s, "missing")
                }
                Pair::Both(s, d) => match judge(aws, client, job, &s, &d).await.inspect(|_| tally.listed(job, Some(&s), Some(&d)))? {
                    Verdict::Same => {
                        // Equal because the abandoned walk copied it: report it as it was.
                        match tally.prior.get(&s.key).copied() {
                            Some(why) => {
                                if why == "missing" {
                                    tally.missing += 1;
                                } else {
                                    tally.changed += 1;
                                }
                                tally.copying(&s.key, why);
                                tally.sample(json!({"action": "copy", "key": s.key, "size": s.size, "reason": why}));
                            }
                            None => tally.skipped += 1,
                        }
                        continue;
                    }
                    Verdict::Changed(why) => {
                        tally.changed += 1;
                        (s, why)
                    }
                },
            };
            tally.sample(json!({"action": "copy", "key": obj.key, "size": obj.size, "reason": reason}));
            if !job.dry_run && tally.started.len() < REMEMBERED {
                tally.started.insert(obj.key.clone(), reason);
            }
            tally.copying(&obj.key, reason);
            if job.dry_run {
                tally.bytes += obj.size;
                let put = Predicted::Put {
                    source: job.source.child(&obj.key),
                    etag: obj.etag.clone(),
                    size: obj.size,
                };
                tally.predicted.push((obj.key, put));
                continue;
            }
            while copies.len() >= job.concurrency {
                if let Some(done) = copies.join_next().await {
                    settle(done, tally, &mut failure);
                }
            }
            while let Some(done) = copies.try_join_next() {
                settle(done, tally, &mut failure);
            }
            if failure.is_some() {
                break;
            }
            copies.spawn(copy_one(aws.clone(), client.clone(), job_urls(job, &obj.key), obj, job.size_only));
        }
        Ok::<(), WalkError>(())
    }
    .await;
    // Let the copies in flight land (or fail) before reporting anything.
    while let Some(done) = copies.join_next().await {
        settle(done, tally, &mut failure);
    }
    walked?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    tally.source_count = walk.src.count;
    tally.dest_count = walk.dst.count;
    Ok(())
}

fn job_urls(job: &Job, key: &str) -> (S3Url, S3Url) {
    (job.source.child(key), job.dest.child(key))
}

fn settle(
    done: Result<Result<u64, StepError>, tokio::task::JoinError>,
    tally: &mut Tally,
    failure: &mut Option<StepError>,
) {
    match done {
        Ok(Ok(bytes)) => {
            tally.copied += 1;
            tally.bytes += bytes;
        }
        Ok(Err(e)) => {
            failure.get_or_insert(e);
        }
        Err(e) if e.is_panic() => {
            failure.get_or_insert(StepError::failed(format!("a copy task panicked: {e}")));
        }
        Err(_) => {}
    }
}

async fn copy_one(
    aws: Arc<Aws>,
    client: Client,
    (source, dest): (S3Url, S3Url),
    obj: Obj,
    size_only: bool,
) -> Result<u64, StepError> {
    let listed = Head {
        size: obj.size,
        etag: obj.etag.clone(),
        ..Head::default()
    };
    // Multipart copies carry content type and metadata explicitly: read them first.
    let h = if obj.size > aws.settings().multipart_threshold {
        head(&aws, &client, &source).await?
    } else {
        listed
    };
    let etag = copy_object(&aws, &client, &source, &h, &dest).await?;
    verify_copy(&aws, &client, &source, &h, &dest, &etag, size_only).await?;
    Ok(obj.size)
}

async fn verify_and_delete(
    aws: &Arc<Aws>,
    client: &Client,
    job: &Job,
    order: Order,
    tally: &mut Tally,
) -> Result<(), WalkError> {
    let endpoint = aws.endpoint_description();
    let mut walk = Walk::start(client, &endpoint, &job.source, &job.dest, order).await?;
    let mut batch: Vec<String> = Vec::new();
    let mut mismatches = 0u64;
    let mut sample: Vec<String> = Vec::new();
    let mut deleted = 0u64;
    let mut during = 0u64;
    while let Some(pair) = walk.next().await? {
        let (s, why) = match pair {
            Pair::Extra(d) => {
                if job.delete {
                    batch.push(d.key);
                    if batch.len() >= DELETE_BATCH {
                        batch.iter().for_each(|k| tally.changes.delete.add(k));
                        deleted += delete_batch(aws, client, &job.dest, std::mem::take(&mut batch))
                            .await?;
                    }
                }
                continue;
            }
            Pair::Missing(s) => (s, "missing"),
            Pair::Both(s, d) => match judge(aws, client, job, &s, &d).await? {
                Verdict::Same => continue,
                Verdict::Changed(why) => (s, why),
            },
        };
        if s.modified > job.started {
            during += 1;
            continue;
        }
        mismatches += 1;
        if sample.len() < MISMATCH_SAMPLE {
            sample.push(format!("`{}` ({why})", s.key));
        }
    }
    if !batch.is_empty() {
        batch.iter().for_each(|k| tally.changes.delete.add(k));
        deleted += delete_batch(aws, client, &job.dest, batch).await?;
    }
    tally.deleted += deleted;
    tally.changed_during_sync = during;
    tally.source_count = walk.src.count;
    tally.dest_count = walk.dst.count.saturating_sub(deleted);
    if mismatches > 0 {
        return Err(StepError::failed(format!(
            "s3.sync {} -> {} did not verify: {mismatches} source object(s) differ at the \
             destination after copying, e.g. {}",
            job.source,
            job.dest,
            sample.join(", ")
        ))
        .into());
    }
    Ok(())
}

async fn delete_batch(
    aws: &Aws,
    client: &Client,
    dest: &S3Url,
    keys: Vec<String>,
) -> Result<u64, StepError> {
    let n = keys.len() as u64;
    let objects = keys
        .iter()
        .map(|k| {
            ObjectIdentifier::builder()
                .key(format!("{}{k}", dest.key))
                .build()
                .map_err(|e| StepError::failed(format!("DeleteObjects {dest}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| StepError::failed(format!("DeleteObjects {dest}: {e}")))?;
    let out = client
        .delete_objects()
        .bucket(&dest.bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|e| {
            describe(
                "DeleteObjects",
                &dest.to_string(),
                &aws.endpoint_description(),
                &e,
            )
            .into_step_error()
        })?;
    if let Some(first) = out.errors().first() {
        return Err(StepError::failed(format!(
            "DeleteObjects {dest}: {} of {n} deletes failed, e.g. s3://{}/{}: {}: {}",
            out.errors().len(),
            dest.bucket,
            first.key().unwrap_or("?"),
            first.code().unwrap_or("error"),
            first.message().unwrap_or("")
        )));
    }
    Ok(n)
}
