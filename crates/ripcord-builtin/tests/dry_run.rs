//! Every core type in a dry run: it succeeds without touching anything, and its result holds only
//! fields the catalog declares (checked by `ripcord_engine::testing::execute`).

mod common;

use common::*;
use ripcord_spec::catalog::CoreKind;
use serde_json::{Value, json};

/// A `with` that would act (or wait) in a real run. Exhaustive: a new core type needs one.
fn acting_input(kind: CoreKind) -> Value {
    // Port 9 (discard) on loopback: nothing listens, so a request that were sent would fail.
    let url = "http://127.0.0.1:9/hook";
    match kind {
        CoreKind::Shell => json!({"argv": ["false"]}),
        CoreKind::Http => json!({"url": url, "method": "POST", "json": {"a": 1}}),
        CoreKind::Sleep => json!({"duration": "1h"}),
        CoreKind::Assert => json!({"expr": "1 + 1 == 2"}),
        CoreKind::Approval => json!({"prompt": "Go?"}),
        CoreKind::Notify => json!({"url": url, "message": "failing over"}),
    }
}

#[tokio::test]
async fn every_core_type_previews_with_declared_fields() {
    let ctx = TestContext::new();
    for &kind in CoreKind::ALL {
        let name = kind.kind().name();
        let out = run(&ctx, name, acting_input(kind), Opts::dry_run())
            .await
            .unwrap_or_else(|e| panic!("{name} in a dry run: {e}"));
        if kind != CoreKind::Assert {
            assert_eq!(out["dry_run"], true, "{name}: {out}");
        }
    }
}
