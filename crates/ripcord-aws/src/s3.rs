//! `s3.list`, `s3.count`, `s3.get_object`, `s3.head_object`, `s3.copy`,
//! `s3.replication.status`, and the object operations `s3.sync` shares.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{ChecksumMode, CompletedMultipartUpload, CompletedPart, MetadataDirective};
use ripcord_engine::preview::Change;
use ripcord_engine::{Diff, DryRunReport, PreState, StepError, StepRequest, StepResult};
use ripcord_spec::catalog::{
    BodyFormat, S3BucketWith, S3CopyWith, S3GetObjectWith, S3ListWith, S3ObjectWith, S3PrefixWith,
};
use serde_json::{Value, json};

use crate::config::Aws;
use crate::error::{AwsFailure, describe};
use crate::preview::Predicted;
use crate::util::{is_multipart_etag, opt_value, rfc3339, unquote};

/// Keys listed by `s3.list` when `limit` is not given.
pub(crate) const DEFAULT_LIST_LIMIT: u64 = 1000;
/// Bytes `s3.get_object` reads when `max_bytes` is not given.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

/// `s3://bucket/key-or-prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket name (never empty).
    pub bucket: String,
    /// The object key or key prefix after `bucket/`; empty for the whole bucket.
    pub key: String,
}

impl S3Url {
    /// Parse `s3://bucket[/key]` (scheme case-insensitive, surrounding blanks ignored); an
    /// input error names the step field `field` otherwise.
    pub fn parse(text: &str, field: &str) -> Result<S3Url, StepError> {
        let t = text.trim();
        let rest = t
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("s3://"))
            .map(|_| &t[5..])
            .ok_or_else(|| {
                StepError::Input(format!(
                    "`{field}` must be an s3://bucket/key URL, got `{text}`"
                ))
            })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StepError::Input(format!(
                "`{field}` names no bucket: `{text}` (expected s3://bucket/...)"
            )));
        }
        Ok(S3Url {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// As a prefix of "directory" semantics: empty or ending with `/` (as `aws s3 sync`).
    pub fn as_dir(mut self) -> S3Url {
        if !self.key.is_empty() && !self.key.ends_with('/') {
            self.key.push('/');
        }
        self
    }

    /// The URL of `rel` under this one: `rel` appended to the key as is (call on an
    /// [`as_dir`](S3Url::as_dir) URL for a path below it).
    pub fn child(&self, rel: &str) -> S3Url {
        S3Url {
            bucket: self.bucket.clone(),
            key: format!("{}{rel}", self.key),
        }
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// An object's metadata from HEAD.
#[derive(Clone, Debug, Default)]
pub(crate) struct Head {
    pub size: u64,
    pub etag: String,
    pub last_modified: Option<String>,
    pub checksum_sha256: Option<String>,
    /// Any full-object checksum the store returned, as (algorithm, value).
    pub checksums: Vec<(&'static str, String)>,
    pub content_type: Option<String>,
    pub metadata: Option<HashMap<String, String>>,
}

pub(crate) async fn head(aws: &Aws, client: &Client, url: &S3Url) -> Result<Head, StepError> {
    let out = client
        .head_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    match out {
        Ok(o) => {
            let mut checksums = Vec::new();
            for (name, v) in [
                ("sha256", o.checksum_sha256()),
                ("sha1", o.checksum_sha1()),
                ("crc32", o.checksum_crc32()),
                ("crc32c", o.checksum_crc32_c()),
                ("crc64nvme", o.checksum_crc64_nvme()),
            ] {
                // Composite checksums of multipart uploads end in -<parts>: not comparable.
                if let Some(v) = v.filter(|v| !v.contains('-')) {
                    checksums.push((name, v.to_owned()));
                }
            }
            Ok(Head {
                size: o.content_length().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(unquote).unwrap_or_default(),
                last_modified: o.last_modified().map(rfc3339),
                checksum_sha256: o.checksum_sha256().map(str::to_owned),
                checksums,
                content_type: o.content_type().map(str::to_owned),
                metadata: o.metadata().cloned(),
            })
        }
        Err(e) => {
            let failure = describe(
                "HeadObject",
                &url.to_string(),
                &aws.endpoint_description(),
                &e,
            );
            Err(explain_missing(aws, client, url, failure).await)
        }
    }
}

/// A 404 on an object: say whether the bucket or the key is missing.
pub(crate) async fn explain_missing(
    aws: &Aws,
    client: &Client,
    url: &S3Url,
    failure: AwsFailure,
) -> StepError {
    if !failure.is_not_found() {
        return failure.into_step_error();
    }
    if failure.code.as_deref() == Some("NoSuchBucket")
        || !bucket_exists(aws, client, &url.bucket).await
    {
        return StepError::failed(format!(
            "bucket `{}` does not exist (reading {url}): NoSuchBucket",
            url.bucket
        ));
    }
    StepError::failed(format!(
        "no object {url} (key `{}` not in bucket `{}`): NoSuchKey",
        url.key, url.bucket
    ))
}

async fn bucket_exists(_aws: &Aws, client: &Client, bucket: &str) -> bool {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()) != Some(404),
    }
}

pub(crate) fn list_failure(
    aws: &Aws,
    url: &S3Url,
    e: &aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error,
        aws_sdk_s3::config::http::HttpResponse,
    >,
) -> StepError {
    let failure = describe(
        "ListObjectsV2",
        &url.to_string(),
        &aws.endpoint_description(),
        e,
    );
    if failure.code.as_deref() == Some("NoSuchBucket") {
        return StepError::failed(format!(
            "bucket `{}` does not exist (listing {url}): NoSuchBucket",
            url.bucket
        ));
    }
    failure.into_step_error()
}

// ---------------------------------------------------------------------------------------------
// predicted state (dry runs)

/// In a dry run, report a read: `predicted` when it answered from this run's predictions.
fn report_read(request: &StepRequest<'_>, predicted: bool) {
    if request.dry_run {
        let report = DryRunReport::ran();
        request.context.dry_run(if predicted {
            report.predicted()
        } else {
            report
        });
    }
}

/// In a dry run, where an object's content would come from: the source of a predicted copy
/// (`true`: predicted), the object itself otherwise; a predicted delete is a missing object.
fn resolve(aws: &Aws, request: &StepRequest<'_>, url: S3Url) -> Result<(S3Url, bool), StepError> {
    if !request.dry_run {
        return Ok((url, false));
    }
    let predicted = aws.overlay().get(&url.bucket, &url.key).cloned();
    match predicted {
        None => Ok((url, false)),
        Some(Predicted::Put { source, .. }) => Ok((source, true)),
        Some(Predicted::Deleted) => Err(StepError::failed(format!(
            "no object {url}: an earlier step of this dry run would delete it"
        ))),
    }
}

/// In a dry run whose writes touched this prefix: the live listing with the predictions
/// merged in, as (key, size) in the endpoint's listing order. `None` when nothing predicted
/// is under the prefix (or in a real run).
async fn predicted_listing(
    aws: &Aws,
    request: &StepRequest<'_>,
    client: &Client,
    url: &S3Url,
) -> Result<Option<Vec<(String, u64)>>, StepError> {
    if !request.dry_run {
        return Ok(None);
    }
    let predictions = aws.overlay().under(&url.bucket, &url.key);
    if predictions.is_empty() {
        return Ok(None);
    }
    let mut objects = std::collections::BTreeMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.key)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_failure(aws, url, &e))?;
        for obj in page.contents() {
            let size = obj.size().unwrap_or(0).max(0) as u64;
            objects.insert(obj.key().unwrap_or_default().to_owned(), size);
        }
    }
    for (key, p) in predictions {
        match p {
            Predicted::Put { size, .. } => objects.insert(key, size),
            Predicted::Deleted => objects.remove(&key),
        };
    }
    let mut listed: Vec<(String, u64)> = objects.into_iter().collect();
    let order = aws.listing_order();
    listed.sort_by(|a, b| order.cmp(&a.0, &b.0));
    Ok(Some(listed))
}

// ---------------------------------------------------------------------------------------------
// steps

pub(crate) async fn list(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3ListWith,
) -> Result<StepResult, StepError> {
    let limit = opt_value(&with.limit, "limit")?.unwrap_or(DEFAULT_LIST_LIMIT);
    let client = aws.s3(with.region.as_deref()).await?;
    let url = S3Url {
        bucket: with.bucket.clone(),
        key: with.prefix.clone(),
    };
    if let Some(listed) = predicted_listing(aws, request, &client, &url).await? {
        report_read(request, true);
        let truncated = listed.len() as u64 > limit;
        let keys: Vec<String> = listed
            .into_iter()
            .take(limit as usize)
            .map(|(k, _)| k)
            .collect();
        return Ok(json!({"keys": keys, "count": keys.len(), "truncated": truncated}));
    }
    report_read(request, false);
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let truncated = loop {
        let want = limit.saturating_sub(keys.len() as u64);
        // Ask for one more than needed to learn whether there is more.
        let page = i32::try_from(want.saturating_add(1).min(1000)).unwrap_or(1000);
        let out = client
            .list_objects_v2()
            .bucket(&url.bucket)
            .prefix(&url.key)
            .max_keys(page)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| list_failure(aws, &url, &e))?;
        for obj in out.contents() {
            if keys.len() as u64 >= limit {
                break;
            }
            keys.push(obj.key().unwrap_or_default().to_owned());
        }
        let more_in_page = out.contents().len() as u64 > want;
        let next = out.next_continuation_token().map(str::to_owned);
        if keys.len() as u64 >= limit {
            break more_in_page || (out.is_truncated() == Some(true) && next.is_some());
        }
        match next {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t),
            _ => break false,
        }
    };
    Ok(json!({"keys": keys, "count": keys.len(), "truncated": truncated}))
}

pub(crate) async fn count(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3PrefixWith,
) -> Result<StepResult, StepError> {
    let client = aws.s3(with.region.as_deref()).await?;
    let url = S3Url {
        bucket: with.bucket.clone(),
        key: with.prefix.clone(),
    };
    if let Some(listed) = predicted_listing(aws, request, &client, &url).await? {
        report_read(request, true);
        let bytes: u64 = listed.iter().map(|(_, size)| size).sum();
        return Ok(json!({"count": listed.len(), "bytes": bytes}));
    }
    report_read(request, false);
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.key)
        .into_paginator()
        .send();
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| list_failure(aws, &url, &e))?;
        for obj in page.contents() {
            count += 1;
            bytes += obj.size().unwrap_or(0).max(0) as u64;
        }
    }
    Ok(json!({"count": count, "bytes": bytes}))
}

pub(crate) async fn get_object(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3GetObjectWith,
) -> Result<StepResult, StepError> {
    let max = opt_value(&with.max_bytes, "max_bytes")?.unwrap_or(DEFAULT_MAX_BYTES);
    let client = aws.s3(with.region.as_deref()).await?;
    let url = S3Url {
        bucket: with.bucket.clone(),
        key: with.key.clone(),
    };
    // A predicted copy would hold its source's bytes: read those.
    let (url, predicted) = resolve(aws, request, url)?;
    report_read(request, predicted);
    let out = match client
        .get_object()
        .bucket(&url.bucket)
        .key(&url.key)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let failure = describe(
                "GetObject",
                &url.to_string(),
                &aws.endpoint_description(),
                &e,
            );
            return Err(explain_missing(aws, &client, &url, failure).await);
        }
    };
    let size = out.content_length().unwrap_or(0).max(0) as u64;
    if size > max {
        return Err(StepError::failed(format!(
            "{url} is {size} bytes, more than `max_bytes` ({max}); raise `max_bytes` to read it"
        )));
    }
    let etag = out.e_tag().map(unquote).unwrap_or_default();
    let mut body = out.body;
    let mut bytes = Vec::with_capacity(size as usize);
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| StepError::failed(format!("GetObject {url}: reading the body failed: {e}")))?
    {
        if (bytes.len() + chunk.len()) as u64 > max {
            return Err(StepError::failed(format!(
                "{url} is more than `max_bytes` ({max}) bytes; raise `max_bytes` to read it"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        StepError::failed(format!(
            "{url} is not UTF-8 text (invalid byte at offset {}); s3.get_object reads text and JSON only",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let parsed = match with.format {
        BodyFormat::Text => Value::Null,
        BodyFormat::Json => serde_json::from_str(&text)
            .map_err(|e| StepError::failed(format!("{url} is not valid JSON: {e}")))?,
    };
    let size = text.len();
    Ok(json!({"body": text, "json": parsed, "etag": etag, "size": size}))
}

pub(crate) async fn head_object(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3ObjectWith,
) -> Result<StepResult, StepError> {
    let client = aws.s3(with.region.as_deref()).await?;
    let url = S3Url {
        bucket: with.bucket.clone(),
        key: with.key.clone(),
    };
    let (url, predicted) = resolve(aws, request, url)?;
    report_read(request, predicted);
    let h = head(aws, &client, &url).await?;
    Ok(json!({
        "etag": h.etag,
        "size": h.size,
        "checksum_sha256": h.checksum_sha256,
        "last_modified": h.last_modified,
    }))
}

pub(crate) async fn copy(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3CopyWith,
) -> Result<StepResult, StepError> {
    let source = S3Url::parse(&with.source, "source")?;
    let mut dest = S3Url::parse(&with.dest, "dest")?;
    if source.key.is_empty() || source.key.ends_with('/') {
        return Err(StepError::Input(format!(
            "`source` must name an object, got the prefix {source} (use s3.sync for prefixes)"
        )));
    }
    if dest.key.is_empty() || dest.key.ends_with('/') {
        // Like `aws s3 cp`: into a "directory", under the source's name.
        let name = source.key.rsplit('/').next().unwrap_or(&source.key);
        dest.key.push_str(name);
    }
    if source == dest {
        return Err(StepError::Input(format!(
            "`source` and `dest` are the same object: {source}"
        )));
    }
    let client = aws.s3(with.region.as_deref()).await?;
    if request.dry_run {
        return preview_copy(aws, request, &client, source, dest).await;
    }
    let h = head(aws, &client, &source).await?;
    let etag = copy_object(aws, &client, &source, &h, &dest).await?;
    verify_copy(aws, &client, &source, &h, &dest, &etag, false).await?;
    Ok(json!({"etag": etag, "size": h.size, "dry_run": false}))
}

/// A dry-run copy: read the source (a predicted one's own source), say whether the destination
/// would be created or overwritten, and predict it for the run's later reads.
async fn preview_copy(
    aws: &Aws,
    request: &StepRequest<'_>,
    client: &Client,
    source: S3Url,
    dest: S3Url,
) -> Result<StepResult, StepError> {
    let (source, _) = resolve(aws, request, source)?;
    let h = head(aws, client, &source).await?;
    let existing = match resolve(aws, request, dest.clone()) {
        Ok((url, _)) => head(aws, client, &url).await.ok(),
        Err(_) => None,
    };
    let action = if existing.is_some() {
        "overwrite"
    } else {
        "copy"
    };
    let diff = Diff {
        summary: format!("1 to {action}"),
        changes: vec![Change {
            action: action.into(),
            count: 1,
            items: vec![dest.to_string()],
        }],
    };
    let pre = PreState {
        object: dest.to_string(),
        fingerprint: existing
            .as_ref()
            .map_or("absent".into(), |e| e.etag.clone()),
        detail: Some(existing.as_ref().map_or("absent".into(), |e| {
            format!("ETag {}, {}", e.etag, crate::preview::human_bytes(e.size))
        })),
    };
    request.context.dry_run(
        DryRunReport::validated()
            .with_diff(diff)
            .with_pre_state([pre]),
    );
    let put = Predicted::Put {
        source,
        etag: h.etag.clone(),
        size: h.size,
    };
    aws.overlay().record(&dest.bucket, dest.key.clone(), put);
    Ok(json!({"etag": h.etag, "size": h.size, "dry_run": true}))
}

/// Check a copy: same ETag when both are comparable; otherwise same size (and the same
/// full-object checksum when the store has one for both).
pub(crate) async fn verify_copy(
    aws: &Aws,
    client: &Client,
    source: &S3Url,
    source_head: &Head,
    dest: &S3Url,
    dest_etag: &str,
    size_only: bool,
) -> Result<(), StepError> {
    if !size_only
        && !is_multipart_etag(&source_head.etag)
        && !is_multipart_etag(dest_etag)
        && !dest_etag.is_empty()
        && source_head.etag == dest_etag
    {
        return Ok(());
    }
    let d = head(aws, client, dest).await?;
    if d.size != source_head.size {
        return Err(StepError::failed(format!(
            "copy of {source} to {dest} did not verify: {} bytes at the destination, {} at the source",
            d.size, source_head.size
        )));
    }
    if size_only {
        return Ok(());
    }
    for (alg, value) in &source_head.checksums {
        if let Some((_, other)) = d.checksums.iter().find(|(a, _)| a == alg) {
            if other != value {
                return Err(StepError::failed(format!(
                    "copy of {source} to {dest} did not verify: {alg} checksum {other} at the destination, {value} at the source"
                )));
            }
            return Ok(());
        }
    }
    let comparable = !is_multipart_etag(&source_head.etag) && !is_multipart_etag(&d.etag);
    if comparable && d.etag != source_head.etag {
        return Err(StepError::failed(format!(
            "copy of {source} to {dest} did not verify: ETag {} at the destination, {} at the source \
             (if the store re-encrypts objects, use `size_only`)",
            d.etag, source_head.etag
        )));
    }
    Ok(())
}

/// Copy one object server-side; multipart (UploadPartCopy) above the threshold. Returns the new
/// object's ETag, unquoted.
pub(crate) async fn copy_object(
    aws: &Aws,
    client: &Client,
    source: &S3Url,
    h: &Head,
    dest: &S3Url,
) -> Result<String, StepError> {
    let settings = aws.settings();
    if h.size > settings.multipart_threshold {
        return copy_multipart(aws, client, source, h, dest).await;
    }
    let what = format!("{source} -> {dest}");
    let out = client
        .copy_object()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .copy_source(copy_source(source))
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .map_err(|e| {
            let f = describe("CopyObject", &what, &aws.endpoint_description(), &e);
            if f.code.as_deref() == Some("NoSuchBucket") {
                StepError::failed(format!(
                    "CopyObject {what}: a bucket does not exist: NoSuchBucket ({})",
                    f.message
                ))
            } else {
                f.into_step_error()
            }
        })?;
    Ok(out
        .copy_object_result()
        .and_then(|r| r.e_tag())
        .map(unquote)
        .unwrap_or_default())
}

async fn copy_multipart(
    aws: &Aws,
    client: &Client,
    source: &S3Url,
    h: &Head,
    dest: &S3Url,
) -> Result<String, StepError> {
    let what = format!("{source} -> {dest}");
    let endpoint = aws.endpoint_description();
    let part_size = aws
        .settings()
        .multipart_part_size
        .max(h.size.div_ceil(10_000))
        .max(1);
    let created = client
        .create_multipart_upload()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .set_content_type(h.content_type.clone())
        .set_metadata(h.metadata.clone())
        .send()
        .await
        .map_err(|e| describe("CreateMultipartUpload", &what, &endpoint, &e).into_step_error())?;
    let upload_id = created.upload_id().unwrap_or_default().to_owned();
    let result = async {
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut number = 1i32;
        while start < h.size {
            let end = (start + part_size).min(h.size) - 1;
            let out = client
                .upload_part_copy()
                .bucket(&dest.bucket)
                .key(&dest.key)
                .upload_id(&upload_id)
                .part_number(number)
                .copy_source(copy_source(source))
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(|e| {
                    describe(
                        "UploadPartCopy",
                        &format!("{what} (part {number})"),
                        &endpoint,
                        &e,
                    )
                    .into_step_error()
                })?;
            let etag = out
                .copy_part_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default()
                .to_owned();
            parts.push(
                CompletedPart::builder()
                    .e_tag(etag)
                    .part_number(number)
                    .build(),
            );
            start = end + 1;
            number += 1;
        }
        let done = client
            .complete_multipart_upload()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                describe("CompleteMultipartUpload", &what, &endpoint, &e).into_step_error()
            })?;
        Ok::<_, StepError>(done.e_tag().map(unquote).unwrap_or_default())
    }
    .await;
    if result.is_err() {
        let _ = client
            .abort_multipart_upload()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    result
}

/// `bucket/key` for `x-amz-copy-source`, the key percent-encoded (but `/`).
pub(crate) fn copy_source(url: &S3Url) -> String {
    let mut out = String::with_capacity(url.bucket.len() + url.key.len() + 8);
    out.push_str(&url.bucket);
    out.push('/');
    for b in url.key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) async fn replication_status(
    aws: &Aws,
    request: &StepRequest<'_>,
    with: &S3BucketWith,
) -> Result<StepResult, StepError> {
    report_read(request, false);
    let client = aws.s3(with.region.as_deref()).await?;
    let out = client
        .get_bucket_replication()
        .bucket(&with.bucket)
        .send()
        .await;
    let config = match out {
        Ok(o) => o.replication_configuration,
        Err(e) => {
            let target = format!("s3://{}", with.bucket);
            let f = describe(
                "GetBucketReplication",
                &target,
                &aws.endpoint_description(),
                &e,
            );
            return match f.code.as_deref() {
                Some("ReplicationConfigurationNotFoundError") => {
                    Ok(json!({"enabled": false, "rules": [], "role": null}))
                }
                Some("NoSuchBucket") => Err(StepError::failed(format!(
                    "bucket `{}` does not exist: NoSuchBucket",
                    with.bucket
                ))),
                _ => Err(f.into_step_error()),
            };
        }
    };
    let Some(config) = config else {
        return Ok(json!({"enabled": false, "rules": [], "role": null}));
    };
    let rules: Vec<Value> = config
        .rules()
        .iter()
        .map(|r| {
            #[allow(deprecated)]
            let legacy_prefix = r.prefix().map(str::to_owned);
            let prefix = r
                .filter()
                .and_then(|f| f.prefix().map(str::to_owned).or_else(|| f.and().and_then(|a| a.prefix().map(str::to_owned))))
                .or(legacy_prefix);
            let dest = r.destination();
            json!({
                "id": r.id(),
                "status": r.status().as_str(),
                "priority": r.priority(),
                "prefix": prefix,
                "destination_bucket": dest.map(|d| d.bucket()),
                "destination_bucket_name": dest.map(|d| d.bucket().rsplit(':').next().unwrap_or(d.bucket())),
                "storage_class": dest.and_then(|d| d.storage_class()).map(|s| s.as_str()),
                "delete_marker_replication": r.delete_marker_replication().and_then(|d| d.status()).map(|s| s.as_str()),
            })
        })
        .collect();
    let enabled = rules.iter().any(|r| r["status"] == "Enabled");
    Ok(json!({"enabled": enabled, "rules": rules, "role": config.role()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://b/some/key", "source").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("b", "some/key"));
        let u = S3Url::parse("S3://b", "source").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("b", ""));
        assert_eq!(S3Url::parse("s3://b/p", "x").unwrap().as_dir().key, "p/");
        assert_eq!(S3Url::parse("s3://b/", "x").unwrap().as_dir().key, "");
        assert!(S3Url::parse("b/key", "source").is_err());
        assert!(S3Url::parse("s3:///key", "source").is_err());
        assert_eq!(
            S3Url::parse("s3://b/p/", "x").unwrap().to_string(),
            "s3://b/p/"
        );
    }

    #[test]
    fn copy_sources_are_encoded() {
        let u = S3Url {
            bucket: "b".into(),
            key: "dir/a b+c%é.txt".into(),
        };
        assert_eq!(copy_source(&u), "b/dir/a%20b%2Bc%25%C3%A9.txt");
    }
}
