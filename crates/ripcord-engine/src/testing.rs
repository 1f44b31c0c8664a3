//! Test support for executor crates: a [`StepContext`] that records notes, with a real approval
//! mailbox in a temporary directory and expression evaluation over a given context.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::approvals::Approvals;
use crate::executor::StepContext;
use crate::redact::Redactor;

/// What an executor sees of the engine, in a test.
pub struct TestContext {
    /// The temporary directory holding the run directory; removed on drop.
    pub dir: tempfile::TempDir,
    notes: Mutex<Vec<(String, Value)>>,
    reports: Mutex<Vec<crate::preview::DryRunReport>>,
    redactor: Redactor,
    approvals: Approvals,
    env: minijinja::Environment<'static>,
    vars: minijinja::Value,
}

impl TestContext {
    /// No secrets, an empty template context.
    pub fn new() -> Arc<Self> {
        Self::with(json!({}), Vec::new())
    }

    /// `vars` is the template context (`{"params": ..., "steps": ...}`); `secrets` are redacted.
    pub fn with(vars: Value, secrets: Vec<String>) -> Arc<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let approvals = Approvals::new(
            &dir.path().join("run"),
            HashSet::new(),
            "tester".into(),
            false,
        );
        Arc::new(Self {
            dir,
            notes: Mutex::new(Vec::new()),
            reports: Mutex::new(Vec::new()),
            redactor: Redactor::new(secrets),
            approvals,
            env: ripcord_spec::template::environment(),
            vars: crate::context::to_value(vars),
        })
    }

    /// The temporary directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The run directory whose `approvals/` the context's mailbox reads.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// Every note recorded so far, as `(kind, data)` in order.
    pub fn notes(&self) -> Vec<(String, Value)> {
        self.notes.lock().expect("notes lock").clone()
    }

    /// Every dry-run report an executor gave so far ([`StepContext::dry_run`]), in order.
    pub fn dry_run_reports(&self) -> Vec<crate::preview::DryRunReport> {
        self.reports.lock().expect("reports lock").clone()
    }

    /// The last dry-run report, if an executor gave one.
    pub fn last_dry_run_report(&self) -> Option<crate::preview::DryRunReport> {
        self.dry_run_reports().pop()
    }

    /// The `data` of the notes of `kind` recorded so far, in order.
    pub fn notes_of(&self, kind: &str) -> Vec<Value> {
        self.notes()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| v)
            .collect()
    }

    /// The `n`th note of `kind` (1-based), waiting for it up to 5 s.
    pub async fn wait_note(&self, kind: &str, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(note) = self.notes_of(kind).get(n.saturating_sub(1)) {
                return note.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no note #{n} `{kind}` within 5 s: {:?}",
                self.notes()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl StepContext for TestContext {
    async fn note(&self, kind: &str, data: Value) {
        self.notes
            .lock()
            .expect("notes lock")
            .push((kind.to_owned(), data));
    }

    fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    fn runbook_dir(&self) -> &Path {
        self.dir.path()
    }

    fn eval(&self, expr: &str) -> Result<Value, String> {
        crate::context::eval(&self.env, expr, &self.vars)
    }

    fn dry_run(&self, report: crate::preview::DryRunReport) {
        self.reports.lock().expect("reports lock").push(report);
    }
}

/// How one step is run by [`execute`].
pub struct Attempt<'a> {
    /// The step's id, as the request gives it.
    pub step_id: &'a str,
    /// Run in dry-run mode: mutations previewed, not applied.
    pub dry_run: bool,
    /// The attempt's timeout.
    pub timeout: Duration,
    /// Cancel it to cancel the attempt.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// Decode `with` for `kind` (as the engine does after rendering) and run one attempt.
///
/// A result is checked against the catalog before it is returned ([`assert_result_fields`],
/// or [`assert_dry_run_result_fields`] in a dry run), so every executor test checks it.
pub async fn execute(
    executor: &dyn crate::Executor,
    ctx: &TestContext,
    kind: &str,
    with: Value,
    attempt: Attempt<'_>,
) -> Result<Value, crate::StepError> {
    let kind = ripcord_spec::StepKind::from_name(kind).expect("a known step type");
    let typed = kind.decode_json(with).expect("a valid `with`");
    let request = crate::StepRequest {
        run_id: "run-1",
        step_id: attempt.step_id,
        attempt: 1,
        kind,
        with: &typed,
        effect: kind.effect(Some(&typed)),
        dry_run: attempt.dry_run,
        deadline: Instant::now() + attempt.timeout,
        cancel: attempt.cancel,
        context: ctx,
    };
    let dry_run = attempt.dry_run;
    let result = executor.execute(request).await;
    if let Ok(value) = &result {
        if dry_run {
            assert_dry_run_result_fields(kind.name(), value);
        } else {
            assert_result_fields(kind.name(), value);
        }
    }
    result
}

/// A result holds exactly the fields the catalog declares for its type (what `validate` lets
/// runbooks read).
pub fn assert_result_fields(kind: &str, result: &Value) {
    let kind = ripcord_spec::StepKind::from_name(kind).expect("a known step type");
    let got = sorted_keys(result);
    let mut want: Vec<&str> = kind.info().result_fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{} returned {result}", kind.name());
}

/// A dry-run result is either shaped like a real one ([`assert_result_fields`]: reads run for
/// real, and many mutations are previewed by the API itself), or a preview marked by some of the
/// type's `dry_run_fields` (`dry_run`, `skipped`, ...) that holds no field the catalog does not
/// declare for the type.
pub fn assert_dry_run_result_fields(kind: &str, result: &Value) {
    let kind = ripcord_spec::StepKind::from_name(kind).expect("a known step type");
    let info = kind.info();
    let got = sorted_keys(result);
    if !got.iter().any(|k| info.dry_run_fields.contains(k)) {
        return assert_result_fields(kind.name(), result);
    }
    let undeclared: Vec<&str> = got
        .into_iter()
        .filter(|k| !info.result_fields.contains(k) && !info.dry_run_fields.contains(k))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{} returned fields its catalog entry does not declare, {undeclared:?}, in a dry run: {result}",
        kind.name()
    );
}

fn sorted_keys(result: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = result
        .as_object()
        .expect("a result is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
