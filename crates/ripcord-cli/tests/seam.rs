//! The step-type seam: every type of the catalog reaches an arm of the executor registered for
//! its family, and docs/runbook-reference.md describes it. Adds nothing; proves that a new row
//! in the catalog cannot ship half wired.

use std::time::{Duration, Instant};

use ripcord_engine::testing::TestContext;
use ripcord_engine::{Executor, Registry, StepError, StepRequest};
use ripcord_spec::StepKind;
use ripcord_spec::catalog::Family;
use tokio_util::sync::CancellationToken;

/// The executor crates the CLI registers (crates/ripcord-cli/src/runs.rs), with default
/// settings: nothing connects before a step needs it.
fn registry() -> Registry {
    // As `main` does: kube, reqwest and the AWS SDK share rustls with aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut registry = Registry::new();
    ripcord_builtin::register(&mut registry);
    ripcord_aws::register(&mut registry, ripcord_aws::Settings::default());
    ripcord_kube::register(&mut registry, ripcord_kube::KubeOptions::default());
    registry
}

/// One attempt of `kind` with the input of another type: an executor with an arm for `kind`
/// refuses the input (`StepError::Input`) before doing anything; one without says `Unsupported`.
async fn probe(executor: &dyn Executor, ctx: &TestContext, kind: StepKind) -> StepError {
    let (other, with) = match kind {
        StepKind::Sleep => (StepKind::Assert, serde_json::json!({"expr": "true"})),
        _ => (StepKind::Sleep, serde_json::json!({"duration": "1s"})),
    };
    let with = other.decode_json(with).expect("a valid `with`");
    let request = StepRequest {
        run_id: "run-1",
        step_id: "probe",
        attempt: 1,
        kind,
        with: &with,
        effect: kind.info().effect,
        dry_run: true,
        deadline: Instant::now() + Duration::from_secs(30),
        cancel: CancellationToken::new(),
        context: ctx,
    };
    match executor.execute(request).await {
        Ok(result) => panic!("{} ran with a foreign input: {result}", kind.name()),
        Err(e) => e,
    }
}

#[tokio::test]
async fn every_type_reaches_an_arm_of_its_family_executor_only() {
    let registry = registry();
    assert_eq!(registry.families(), Family::ALL, "a family has no executor");
    let ctx = TestContext::new();
    for &kind in StepKind::ALL {
        let executor = registry.executor(kind).expect("an executor");
        assert_eq!(executor.family(), kind.info().family, "{}", kind.name());
        match probe(executor.as_ref(), &ctx, kind).await {
            StepError::Input(m) if m.contains(&format!("`{}` step", kind.name())) => {}
            other => panic!("{} did not reach its arm: {other:?}", kind.name()),
        }
        // Every other family's executor refuses it.
        for &family in Family::ALL.iter().filter(|&&f| f != kind.info().family) {
            let foreign = registry.executor(family.kinds()[0]).expect("an executor");
            match probe(foreign.as_ref(), &ctx, kind).await {
                StepError::Unsupported(name, f) if name == kind.name() && f == family.as_str() => {}
                other => panic!("the {family} executor took {}: {other:?}", kind.name()),
            }
        }
    }
}

/// The reference's "Step catalog" chapter: the text from its heading to the next chapter.
fn catalog_chapter() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/runbook-reference.md"
    );
    let text = std::fs::read_to_string(path).expect("docs/runbook-reference.md");
    let start = text
        .find("\n## Step catalog\n")
        .expect("a `## Step catalog` chapter");
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// The family a `### ...` section of the catalog chapter documents.
fn section_family(title: &str) -> Family {
    match title {
        "Core" => Family::Core,
        "Kubernetes" => Family::Kube,
        "S3" => Family::S3,
        "Route53" => Family::Route53,
        other => panic!("an unknown family section `### {other}` in the step catalog"),
    }
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn the_reference_describes_every_type_in_its_family_section() {
    let chapter = catalog_chapter();
    let count = format!("{} step types in", StepKind::ALL.len());
    assert!(chapter.contains(&count), "the chapter should say `{count}`");

    let mut family = None;
    let mut headings = Vec::new();
    for line in chapter.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            family = Some(section_family(title));
        } else if let Some(heading) = line.strip_prefix("#### ") {
            let name = heading.trim_matches('`');
            let kind = StepKind::from_name(name)
                .unwrap_or_else(|| panic!("`#### {heading}` names no step type"));
            assert_eq!(
                Some(kind.info().family),
                family,
                "{name} is in the wrong section"
            );
            headings.push(kind);
        }
    }
    let mut want = StepKind::ALL.to_vec();
    want.sort();
    headings.sort();
    assert_eq!(headings, want, "one `#### `type`` heading per step type");

    for &kind in StepKind::ALL {
        let name = kind.name();
        let row = format!("| [`{name}`](#{}) |", anchor(&format!("`{name}`")));
        assert!(chapter.contains(&row), "no summary table row `{row}`");
    }
}
