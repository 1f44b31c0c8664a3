//! The catalog's families: one spelling per family, and per-family kinds that agree with the
//! rows' `family:`.

use std::collections::HashSet;

use ripcord_spec::StepKind;
use ripcord_spec::catalog::{CoreKind, Family, FamilyKind, KubeKind, Route53Kind, S3Kind};

#[test]
fn a_family_is_spelled_once_and_reads_back() {
    for &family in Family::ALL {
        assert_eq!(Family::from_name(family.as_str()), Some(family));
        assert_eq!(family.to_string(), family.as_str());
        assert_eq!(
            serde_json::to_value(family).unwrap(),
            serde_json::Value::from(family.as_str())
        );
    }
    assert_eq!(Family::from_name("aws"), None);
}

#[test]
fn a_type_name_starts_with_its_family_except_in_core() {
    for &kind in StepKind::ALL {
        let family = kind.info().family;
        match family {
            Family::Core => assert!(!kind.name().contains('.'), "{}", kind.name()),
            _ => assert!(
                kind.name().starts_with(&format!("{family}.")),
                "{} is not named `{family}.*`",
                kind.name()
            ),
        }
    }
}

#[test]
fn the_families_partition_the_catalog() {
    let mut seen = HashSet::new();
    for &family in Family::ALL {
        for &kind in family.kinds() {
            assert_eq!(kind.info().family, family, "{}", kind.name());
            assert!(seen.insert(kind), "{} listed twice", kind.name());
        }
    }
    assert_eq!(
        seen.len(),
        StepKind::ALL.len(),
        "Family::ALL misses a family"
    );
}

#[test]
fn family_kinds_agree_with_the_rows() {
    fn check<K>(all: &[K], family: Family)
    where
        K: Copy
            + Into<StepKind>
            + TryFrom<StepKind, Error = StepKind>
            + PartialEq
            + std::fmt::Debug,
    {
        let kinds: Vec<StepKind> = all.iter().map(|&k| k.into()).collect();
        assert_eq!(kinds, family.kinds(), "{family}");
        for &kind in StepKind::ALL {
            let back = K::try_from(kind);
            assert_eq!(
                back.is_ok(),
                kind.info().family == family,
                "{}",
                kind.name()
            );
            if let Ok(k) = back {
                assert_eq!(k.into(), kind);
            }
        }
    }
    check(CoreKind::ALL, CoreKind::FAMILY);
    check(KubeKind::ALL, KubeKind::FAMILY);
    check(S3Kind::ALL, S3Kind::FAMILY);
    check(Route53Kind::ALL, Route53Kind::FAMILY);
    for &kind in StepKind::ALL {
        let family = match kind.family_kind() {
            FamilyKind::Core(_) => Family::Core,
            FamilyKind::Kube(_) => Family::Kube,
            FamilyKind::S3(_) => Family::S3,
            FamilyKind::Route53(_) => Family::Route53,
        };
        assert_eq!(family, kind.info().family, "{}", kind.name());
    }
}

/// A dry-run-only field that is also a real one would be readable in a runbook yet missing from
/// previews, or the other way round.
#[test]
fn dry_run_fields_are_not_result_fields() {
    for &kind in StepKind::ALL {
        let info = kind.info();
        for field in info.dry_run_fields {
            assert!(
                !info.result_fields.contains(field),
                "{}: `{field}` is declared twice",
                kind.name()
            );
        }
    }
}
