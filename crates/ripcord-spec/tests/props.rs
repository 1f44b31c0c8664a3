//! Property tests: validation never panics, whatever the text; and on structurally plausible
//! runbooks (random ids, needs, types, `with` maps and templates) the validator, the renderer
//! and the plan keep their promises.
//!
//! Runs are deterministic (a fixed seed, no persistence files) and small enough for debug builds.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use ripcord_spec::diagnostic::{Code, render, render_short};
use ripcord_spec::validate::Phase;
use ripcord_spec::{SourceFile, StepKind, Validated, Validation, validate};
use serde_json::Value;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x7269_7063_6f72_6421),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

// ---- checks every outcome must pass ------------------------------------------------------------

/// Validate, render every diagnostic both ways, and check what holds for any input.
fn validate_and_render(name: &str, text: &str) -> Validation {
    let outcome = validate(SourceFile::new(name, text));
    let len = text.len();
    for d in &outcome.diagnostics {
        assert!(
            d.span.start <= len && d.span.end() <= len,
            "diagnostic outside the file ({len} bytes): {d:?}"
        );
        assert!(!d.message.is_empty(), "empty message: {d:?}");
    }
    let human = render(&outcome.source, &outcome.diagnostics, false);
    let short = render_short(&outcome.source, &outcome.diagnostics);
    assert_eq!(short.lines().count(), outcome.diagnostics.len());
    if !outcome.diagnostics.is_empty() {
        assert!(!human.is_empty());
    }
    if let Some(v) = &outcome.validated {
        assert!(
            !outcome.has_errors(),
            "validated despite errors: {:?}",
            outcome.diagnostics
        );
        check_plan(v);
    }
    outcome
}

/// Plan with default params (filling required ones when there is no default) and check waves.
fn check_plan(v: &Validated) -> Option<ripcord_spec::plan::Plan> {
    use ripcord_spec::params::resolve;
    let params = match resolve(&v.runbook.params, &[], |_| None) {
        Ok(p) => p,
        Err(_) => {
            let given: Vec<(String, String)> = v
                .runbook
                .params
                .iter()
                .map(|(name, p)| {
                    let value = match p.param_type {
                        ripcord_spec::model::ParamType::Int => "3",
                        ripcord_spec::model::ParamType::Bool => "true",
                        ripcord_spec::model::ParamType::Duration => "5s",
                        ripcord_spec::model::ParamType::List => "a,b",
                        _ => "value",
                    };
                    (name.clone(), value.to_owned())
                })
                .collect();
            match resolve(&v.runbook.params, &given, |_| None) {
                Ok(p) => p,
                Err(_) => return None, // e.g. an `enum` the filler does not match
            }
        }
    };
    let plan = ripcord_spec::plan::plan(v, &params);
    assert_eq!(plan.steps.len(), v.steps.len());

    let mut wave_of: HashMap<&str, usize> = HashMap::new();
    let mut seen_finally = false;
    for (i, wave) in plan.waves.iter().enumerate() {
        assert_eq!(wave.index, i, "wave indices are 0..n");
        if wave.phase == Phase::Finally {
            seen_finally = true;
        } else {
            assert!(!seen_finally, "a main wave after a finally wave");
        }
        for id in &wave.steps {
            assert!(wave_of.insert(id, i).is_none(), "`{id}` is in two waves");
        }
    }
    for step in &plan.steps {
        let wave = wave_of.get(step.id.as_str()).copied();
        assert_eq!(
            wave,
            Some(step.wave),
            "`{}` is in no wave or in the wrong one",
            step.id
        );
        assert_eq!(
            plan.waves[step.wave].phase, step.phase,
            "`{}` phase",
            step.id
        );
        for need in &step.needs {
            assert!(
                wave_of[need.as_str()] < step.wave,
                "`{}` runs with or before `{need}`",
                step.id
            );
        }
    }
    assert_eq!(
        wave_of.len(),
        plan.steps.len(),
        "every step in exactly one wave"
    );
    let _ = serde_json::to_string(&plan).expect("a plan serializes");
    Some(plan)
}

// ---- (a) arbitrary text ------------------------------------------------------------------------

/// YAML-ish pieces, so random text reaches past the first line of the parser.
const YAMLISH: &[&str] = &[
    "apiVersion: ripcord/v1\n",
    "kind: Runbook\n",
    "metadata:\n",
    "  name: x\n",
    "  version: 1.0.0\n",
    "steps:\n",
    "finally:\n",
    "params:\n",
    "  - id: a\n",
    "  - id: b\n",
    "    type: http\n",
    "    type: shell\n",
    "    needs: [a]\n",
    "    needs: [b]\n",
    "    with:\n",
    "      url: x\n",
    "      argv: [a]\n",
    "    when: params.x\n",
    "    outputs: {o: \"{{ result.status }}\"}\n",
    "{{ steps.a.outputs.o }}",
    "{{",
    "}}",
    "{%",
    "%}",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "---\n",
    "...\n",
    "|\n",
    ">-\n",
    "# c\n",
    "\t",
    "  ",
    "\n",
    "\r\n",
    "ü",
    "✓",
    "\u{feff}",
    "\0",
    "~",
    "null",
    "true",
    "1e999",
    "-0x1F",
    "0o17",
    "<<: *a\n",
    "? complex\n",
    ": value\n",
    "%YAML 1.2\n",
    "\\",
    "\\u00e9",
    "𝔘",
];

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(YAMLISH).prop_map(str::to_owned),
            1 => "[a-z_{}%.|: -]{0,12}",
            1 => any::<String>(),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        validate_and_render("p.yaml", &text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        validate_and_render("p.yaml", &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yamlish_text_never_panics(text in yamlish()) {
        validate_and_render("p.yaml", &text);
    }
}

// ---- mutated example runbooks ------------------------------------------------------------------

fn example_runbooks() -> &'static [(String, String)] {
    static RUNBOOKS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    RUNBOOKS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runbooks");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("runbooks/ exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        files.sort();
        assert!(!files.is_empty());
        files
    })
}

#[derive(Debug, Clone)]
enum Edit {
    /// Delete `len` chars at a relative position.
    Delete(f64, usize),
    /// Insert a YAML-ish piece at a relative position.
    Insert(f64, &'static str),
    /// Duplicate the line at a relative position (duplicate keys, repeated steps).
    DuplicateLine(f64),
    /// Swap two lines.
    SwapLines(f64, f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0, 1usize..20).prop_map(|(p, n)| Edit::Delete(p, n)),
        (0.0..1.0, prop::sample::select(YAMLISH)).prop_map(|(p, s)| Edit::Insert(p, s)),
        (0.0..1.0).prop_map(Edit::DuplicateLine),
        (0.0..1.0, 0.0..1.0).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |p: f64| ((chars.len() as f64) * p) as usize;
    match edit {
        Edit::Delete(p, n) => {
            let start = at(*p).min(chars.len());
            let end = (start + n).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Edit::Insert(p, s) => {
            let i = at(*p).min(chars.len());
            let mut out: String = chars[..i].iter().collect();
            out.push_str(s);
            out.extend(&chars[i..]);
            out
        }
        Edit::DuplicateLine(p) | Edit::SwapLines(p, _) => {
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let i = ((lines.len() as f64) * p) as usize % lines.len();
            match edit {
                Edit::SwapLines(_, q) => {
                    let j = ((lines.len() as f64) * q) as usize % lines.len();
                    lines.swap(i, j);
                }
                _ => lines.insert(i, lines[i]),
            }
            lines.concat()
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn mutated_example_runbooks_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (name, text) = which.get(example_runbooks());
        let text = edits.iter().fold(text.clone(), |t, e| apply(&t, e));
        validate_and_render(name, &text);
    }
}

// ---- (b) structurally plausible runbooks -------------------------------------------------------
//
// A runbook is generated as a spec of small numbers, turned into YAML by [`Builder`]. Each step
// is either clean (unique id, catalog type, a `with` taken from the examples, references only to
// declared params and to outputs of steps it needs) or noisy (ids from a pool with duplicates and
// invalid ones, misspelt types, `needs` on any step or none, random `with` maps, broken
// templates). A runbook-level noise level decides how many steps are noisy, so that both valid
// and invalid runbooks come out often.

const ID_POOL: &[&str] = &[
    "a",
    "b",
    "fetch",
    "restore",
    "verify_1",
    "s0",
    "s1",
    "s2",
    "bad-id",
    "1st",
    "with space",
    "",
    "Ab_9",
    "x.y",
];
const UNKNOWN_IDS: &[&str] = &["zzz", "fetchh", "s99", "restor"];
const PARAM_NAMES: &[&str] = &[
    "host", "bucket", "count", "token", "flag", "window", "items", "bad-name",
];
const PARAM_TYPES: &[&str] = &[
    "string", "int", "bool", "duration", "list", "secret", "strnig",
];
const OUTPUT_NAMES: &[&str] = &["out", "count", "latest", "x", "bad name"];
const RESULT_FIELDS: &[&str] = &[
    "status",
    "body",
    "count",
    "keys",
    "exit_code",
    "stdout",
    "nope",
];
const RUN_FIELDS: &[&str] = &["id", "runbook", "user", "dry_run", "nope"];
const BROKEN: &[&str] = &[
    "{{ params. }}",
    "{{ }}",
    "{% if x %}",
    "{{ a | }}",
    "{{ 1 + }}",
    "{{ steps..outputs }}",
    "{{ params.host",
    "{% endfor %}",
    "{{ (((( }}",
];
const BROKEN_EXPR: &[&str] = &[
    "a ==",
    "",
    "{{ params.flag }}",
    "(",
    "result.",
    "1 +",
    "not",
];
const WITH_KEYS: &[&str] = &[
    "url",
    "argv",
    "namespace",
    "selector",
    "name",
    "bucket",
    "prefix",
    "source",
    "dest",
    "delete",
    "node",
    "duration",
    "expr",
    "prompt",
    "message",
    "key",
    "min_ready",
    "method",
    "expect",
    "headers",
    "concurrency",
    "urll",
    "argvv",
    "nmae",
];
const LITERALS: &[&str] = &[
    "http://127.0.0.1:8080/health",
    "s3://bucket/prefix/",
    "plain",
    "",
    "a: b",
    "ü ✓",
];

/// A string in the runbook: literal text, references (valid or not), broken templates.
#[derive(Debug, Clone)]
enum Text {
    Literal(u8),
    Param(u8),
    Step(u8, u8),
    StepStatus(u8),
    Result(u8),
    Run(u8),
    Broken(u8),
    Concat(Vec<Text>),
}

fn text() -> impl Strategy<Value = Text> {
    let leaf = prop_oneof![
        8 => any::<u8>().prop_map(Text::Literal),
        6 => any::<u8>().prop_map(Text::Param),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(s, o)| Text::Step(s, o)),
        1 => any::<u8>().prop_map(Text::StepStatus),
        2 => any::<u8>().prop_map(Text::Result),
        2 => any::<u8>().prop_map(Text::Run),
        1 => any::<u8>().prop_map(Text::Broken),
    ];
    prop_oneof![
        6 => leaf.clone(),
        1 => prop::collection::vec(leaf, 2..4).prop_map(Text::Concat),
    ]
}

/// An expression (`when`, `verify`, `until`).
#[derive(Debug, Clone)]
enum Expr {
    Param(u8),
    StepOutput(u8, u8),
    Result(u8),
    Literal(bool),
    Broken(u8),
}

fn expr() -> impl Strategy<Value = Expr> {
    prop_oneof![
        4 => any::<u8>().prop_map(Expr::Param),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(s, o)| Expr::StepOutput(s, o)),
        2 => any::<u8>().prop_map(Expr::Result),
        2 => any::<bool>().prop_map(Expr::Literal),
        1 => any::<u8>().prop_map(Expr::Broken),
    ]
}

/// A YAML value of any type.
#[derive(Debug, Clone)]
enum Scalar {
    Text(Text),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<Text>),
    Map(Vec<(u8, Text)>),
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        5 => text().prop_map(Scalar::Text),
        2 => prop_oneof![Just(0i64), Just(1), Just(-1), Just(64), any::<i64>()].prop_map(Scalar::Int),
        1 => prop::num::f64::NORMAL.prop_map(Scalar::Float),
        1 => any::<bool>().prop_map(Scalar::Bool),
        1 => Just(Scalar::Null),
        1 => prop::collection::vec(text(), 0..3).prop_map(Scalar::List),
        1 => prop::collection::vec((any::<u8>(), text()), 0..3).prop_map(Scalar::Map),
    ]
}

/// Other keys a step may carry.
#[derive(Debug, Clone)]
enum Extra {
    Timeout(u8),
    Expected(u8),
    Retry(u8, u8),
    OnFailure(u8),
    Name(Text),
    Until(Expr, u8),
    Compensate(u16),
    /// An unknown, misspelt or repeated key (noisy steps only).
    Unknown(u8, Scalar),
}

impl Extra {
    fn key(&self) -> u8 {
        match self {
            Extra::Timeout(_) => 0,
            Extra::Expected(_) => 1,
            Extra::Retry(..) => 2,
            Extra::OnFailure(_) => 3,
            Extra::Name(_) => 4,
            Extra::Until(..) => 5,
            Extra::Compensate(_) => 6,
            Extra::Unknown(..) => 7,
        }
    }
}

fn extra() -> impl Strategy<Value = Extra> {
    prop_oneof![
        any::<u8>().prop_map(Extra::Timeout),
        any::<u8>().prop_map(Extra::Expected),
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Extra::Retry(a, b)),
        any::<u8>().prop_map(Extra::OnFailure),
        text().prop_map(Extra::Name),
        (expr(), any::<u8>()).prop_map(|(e, t)| Extra::Until(e, t)),
        any::<u16>().prop_map(Extra::Compensate),
        (any::<u8>(), scalar()).prop_map(|(k, v)| Extra::Unknown(k, v)),
    ]
}

#[derive(Debug, Clone)]
struct StepSpec {
    /// Below the runbook's noise level: a noisy step.
    roll: u8,
    /// Noisy steps: < 200 a unique `s<i>`, else one of [`ID_POOL`] (duplicates, invalid ids).
    id: u8,
    /// A catalog type; noisy steps: some misspelt, missing, or (with `numeric`) a number.
    kind: u16,
    /// (how, which): an earlier step; noisy steps also any step (cycles) or an unknown id.
    needs: Vec<(u8, u16)>,
    with_mode: u8,
    with_texts: Vec<Text>,
    with_random: Vec<(u8, Scalar)>,
    when: Option<Expr>,
    outputs: Vec<(u8, Text)>,
    verify: Vec<Expr>,
    extras: Vec<Extra>,
}

fn step_spec() -> impl Strategy<Value = StepSpec> {
    (
        (any::<u8>(), any::<u8>(), any::<u16>()),
        prop::collection::vec((any::<u8>(), any::<u16>()), 0..4),
        any::<u8>(),
        prop::collection::vec(text(), 1..4),
        prop::collection::vec((any::<u8>(), scalar()), 0..4),
        prop::option::weighted(0.3, expr()),
        prop::collection::vec((any::<u8>(), text()), 0..3),
        prop::collection::vec(expr(), 0..2),
        prop::collection::vec(extra(), 0..3),
    )
        .prop_map(
            |(
                (roll, id, kind),
                needs,
                with_mode,
                with_texts,
                with_random,
                when,
                outputs,
                verify,
                extras,
            )| {
                StepSpec {
                    roll,
                    id,
                    kind,
                    needs,
                    with_mode,
                    with_texts,
                    with_random,
                    when,
                    outputs,
                    verify,
                    extras,
                }
            },
        )
}

#[derive(Debug, Clone)]
struct ParamSpec {
    name: u8,
    ty: u8,
    default: Option<Scalar>,
    required: bool,
}

#[derive(Debug, Clone)]
struct RunbookSpec {
    /// 0: every step clean; 255: nearly every step noisy.
    noise: u8,
    params: Vec<ParamSpec>,
    steps: Vec<StepSpec>,
    /// How many of the steps (from the end) are `finally` steps.
    finally: usize,
    /// Add an unknown top-level key.
    stray_key: bool,
    /// Allow numeric `id`/`type` values in noisy steps (see `no_errors_means_validated`).
    numeric: bool,
}

fn runbook_spec(numeric: bool) -> impl Strategy<Value = RunbookSpec> {
    let param = (
        any::<u8>(),
        any::<u8>(),
        prop::option::of(scalar()),
        any::<bool>(),
    )
        .prop_map(|(name, ty, default, required)| ParamSpec {
            name,
            ty,
            default,
            required,
        });
    (
        prop_oneof![2 => Just(0u8), 1 => 1u8..16, 1 => any::<u8>()],
        prop::collection::vec(param, 0..4),
        prop::collection::vec(step_spec(), 1..40),
        0usize..4,
        prop::bool::weighted(0.05),
    )
        .prop_map(move |(noise, params, steps, finally, stray_key)| {
            let finally = finally.min(steps.len() - 1);
            RunbookSpec {
                noise,
                params,
                steps,
                finally,
                stray_key,
                numeric,
            }
        })
}

/// Valid `with` maps by step type, taken from the example runbooks (templates in them are
/// replaced by generated ones) plus the types the examples do not use.
fn valid_withs() -> &'static HashMap<String, Vec<Value>> {
    static WITHS: OnceLock<HashMap<String, Vec<Value>>> = OnceLock::new();
    WITHS.get_or_init(|| {
        let mut map: HashMap<String, Vec<Value>> = HashMap::new();
        let mut add = |step: &Value| {
            if let (Some(t), Some(w)) = (step["type"].as_str(), step.get("with")) {
                map.entry(t.to_owned()).or_default().push(w.clone());
            }
        };
        for (name, text) in example_runbooks() {
            let root = ripcord_spec::node::parse(&SourceFile::new(name.as_str(), text.as_str()))
                .expect("example runbooks parse")
                .to_json();
            for key in ["steps", "finally"] {
                for step in root[key].as_array().into_iter().flatten() {
                    add(step);
                    if let Some(c) = step.get("compensate") {
                        add(c);
                    }
                }
            }
        }
        let json = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        add(&json(r#"{"type": "sleep", "with": {"duration": "1s"}}"#));
        add(&json(
            r#"{"type": "assert", "with": {"expr": "1 < 2", "message": "m"}}"#,
        ));
        add(&json(
            r#"{"type": "s3.copy", "with": {"source": "s3://a/b", "dest": "s3://c/d"}}"#,
        ));
        map
    })
}

/// Misspell a type name.
fn misspell(name: &str, how: u16) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let i = usize::from(how) % chars.len();
    match how % 3 {
        0 => {
            chars.remove(i);
        }
        1 => chars.insert(i, 'x'),
        _ => {
            let j = (i + 1) % chars.len();
            chars.swap(i, j);
        }
    }
    chars.into_iter().collect()
}

/// JSON is YAML: a quoted string that is safe in any YAML context.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn pick<'s>(pool: &'s [&'s str], i: impl Into<usize>) -> &'s str {
    pool[i.into() % pool.len()]
}

/// Where a string is generated: decides what a clean step may reference.
#[derive(Clone, Copy)]
struct Site<'c> {
    clean: bool,
    /// `outputs`, `verify`, `until`: `result` is known.
    gate: bool,
    kind: Option<StepKind>,
    /// Steps this one needs (clean steps reference only their outputs).
    needs: &'c [usize],
}

/// Turns a [`RunbookSpec`] into YAML text.
struct Builder<'a> {
    spec: &'a RunbookSpec,
    ids: Vec<String>,
    /// Declared params: (name, valid type).
    params: Vec<(String, Option<&'static str>)>,
    /// Declared outputs per step index.
    outputs: Vec<Vec<String>>,
    out: String,
}

impl<'a> Builder<'a> {
    fn new(spec: &'a RunbookSpec) -> Self {
        let mut params: Vec<(String, Option<&'static str>)> = Vec::new();
        for p in &spec.params {
            let name = pick(PARAM_NAMES, p.name).to_owned();
            if spec.noise < 16 && (name == "bad-name" || params.iter().any(|(n, _)| *n == name)) {
                continue;
            }
            let ty = pick(PARAM_TYPES, p.ty);
            params.push((name, (ty != "strnig").then_some(ty)));
        }
        let mut builder = Self {
            spec,
            ids: Vec::new(),
            params,
            outputs: Vec::new(),
            out: String::new(),
        };
        for (i, s) in spec.steps.iter().enumerate() {
            let id = if builder.noisy(i) && s.id >= 200 {
                pick(ID_POOL, s.id).to_owned()
            } else {
                format!("s{i}")
            };
            builder.ids.push(id);
            let mut names: Vec<String> = Vec::new();
            for (o, _) in &s.outputs {
                let name = pick(OUTPUT_NAMES, *o).to_owned();
                if !builder.noisy(i) && (name == "bad name" || names.contains(&name)) {
                    continue;
                }
                names.push(name);
            }
            builder.outputs.push(names);
        }
        builder
    }

    fn noisy(&self, step: usize) -> bool {
        self.spec.steps[step].roll < self.spec.noise
    }

    fn clean_params(&self) -> bool {
        self.spec.noise < 16
    }

    fn param_name(&self, i: u8, clean: bool) -> Option<String> {
        if clean {
            (!self.params.is_empty())
                .then(|| self.params[usize::from(i) % self.params.len()].0.clone())
        } else if !self.params.is_empty() && !i.is_multiple_of(8) {
            Some(self.params[usize::from(i) % self.params.len()].0.clone())
        } else {
            Some(pick(&["nope", "hots", "bukcet"], i).to_owned())
        }
    }

    /// (id, output) of a step: for clean sites one that this step needs and that has outputs.
    fn step_ref(&self, s: u8, o: u8, site: Site<'_>) -> Option<(String, String)> {
        let i = if site.clean {
            let with_outputs: Vec<usize> = site
                .needs
                .iter()
                .copied()
                .filter(|&n| !self.outputs[n].is_empty())
                .collect();
            *with_outputs.get(usize::from(s) % with_outputs.len().max(1))?
        } else {
            usize::from(s) % self.ids.len()
        };
        let output = match self.outputs[i].get(usize::from(o) % self.outputs[i].len().max(1)) {
            Some(o) => o.clone(),
            None => "missing".into(),
        };
        Some((self.ids[i].clone(), output))
    }

    fn result_field(&self, i: u8, site: Site<'_>) -> Option<String> {
        if !site.clean {
            return Some(pick(RESULT_FIELDS, i).to_owned());
        }
        let fields = site.kind?.info().result_fields;
        (site.gate && !fields.is_empty()).then(|| fields[usize::from(i) % fields.len()].to_owned())
    }

    /// A string; for clean sites with `template` set, always a (valid) template.
    fn text(&self, t: &Text, site: Site<'_>, template: bool) -> String {
        let fallback = || {
            if template || !site.clean {
                "{{ run.id }}".to_owned()
            } else {
                "plain".to_owned()
            }
        };
        match t {
            Text::Literal(i) if template && site.clean => self
                .param_name(*i, true)
                .map_or_else(fallback, |p| format!("{{{{ params.{p} }}}}")),
            Text::Literal(i) => pick(LITERALS, *i).to_owned(),
            Text::Param(i) => self
                .param_name(*i, site.clean)
                .map_or_else(fallback, |p| format!("{{{{ params.{p} }}}}")),
            Text::Step(s, o) => self
                .step_ref(*s, *o, site)
                .map_or_else(fallback, |(id, out)| {
                    format!("{{{{ steps.{id}.outputs.{out} }}}}")
                }),
            Text::StepStatus(s) => {
                let id = if site.clean {
                    site.needs
                        .get(usize::from(*s) % site.needs.len().max(1))
                        .map(|&n| self.ids[n].clone())
                } else {
                    Some(self.ids[usize::from(*s) % self.ids.len()].clone())
                };
                id.map_or_else(fallback, |id| format!("{{{{ steps.{id}.status }}}}"))
            }
            Text::Result(i) => self
                .result_field(*i, site)
                .map_or_else(fallback, |f| format!("{{{{ result.{f} }}}}")),
            Text::Run(i) if site.clean => format!("{{{{ run.{} }}}}", pick(&RUN_FIELDS[..4], *i)),
            Text::Run(i) => format!("{{{{ run.{} }}}}", pick(RUN_FIELDS, *i)),
            Text::Broken(_) if site.clean => fallback(),
            Text::Broken(i) => pick(BROKEN, *i).to_owned(),
            Text::Concat(parts) => parts
                .iter()
                .map(|p| self.text(p, site, template))
                .collect::<Vec<_>>()
                .join("/"),
        }
    }

    fn expr(&self, e: &Expr, site: Site<'_>) -> String {
        match e {
            Expr::Param(i) => self
                .param_name(*i, site.clean)
                .map_or_else(|| "true".into(), |p| format!("params.{p}")),
            Expr::StepOutput(s, o) => self.step_ref(*s, *o, site).map_or_else(
                || "false".into(),
                |(id, out)| format!("steps.{id}.outputs.{out} == 1"),
            ),
            Expr::Result(i) => self
                .result_field(*i, site)
                .map_or_else(|| "true".into(), |f| format!("result.{f} != 0")),
            Expr::Literal(b) => b.to_string(),
            Expr::Broken(_) if site.clean => "1 < 2".into(),
            Expr::Broken(i) => pick(BROKEN_EXPR, *i).to_owned(),
        }
    }

    fn scalar(&self, s: &Scalar, site: Site<'_>) -> String {
        match s {
            Scalar::Text(t) => quote(&self.text(t, site, false)),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f:?}"),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".into(),
            Scalar::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|t| quote(&self.text(t, site, false)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Scalar::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!(
                        "{}: {}",
                        quote(pick(WITH_KEYS, *k)),
                        quote(&self.text(v, site, false))
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// A JSON value from the examples, with template strings replaced by generated ones.
    fn retemplate(
        &self,
        value: &Value,
        texts: &[Text],
        next: &mut usize,
        site: Site<'_>,
    ) -> String {
        match value {
            Value::String(s) if s.contains("{{") || s.contains("{%") => {
                let t = &texts[*next % texts.len()];
                *next += 1;
                quote(&self.text(t, site, true))
            }
            Value::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| self.retemplate(i, texts, next, site))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Object(map) => format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!(
                        "{}: {}",
                        quote(k),
                        self.retemplate(v, texts, next, site)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        }
    }

    fn kind_name(&self, kind: u16, noisy: bool) -> Option<String> {
        let all = StepKind::ALL;
        let name = all[usize::from(kind) % all.len()].name();
        if !noisy {
            return Some(name.to_owned());
        }
        match kind % 40 {
            0..=31 => Some(name.to_owned()),
            32..=35 => Some(misspell(name, kind / 40)),
            36 => None,
            37 => Some("nope".into()),
            _ => Some(if self.spec.numeric {
                "5".into()
            } else {
                "shell".into()
            }),
        }
    }

    fn line(&mut self, indent: usize, text: &str) {
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn build(mut self) -> String {
        let spec = self.spec;
        self.line(0, "apiVersion: ripcord/v1");
        self.line(0, "kind: Runbook");
        self.line(0, "metadata:");
        self.line(2, "name: generated");
        self.line(2, "version: 1.0.0");
        if spec.stray_key {
            self.line(0, "stpes: []");
        }
        if !self.params.is_empty() {
            self.line(0, "params:");
            let no_site = Site {
                clean: false,
                gate: false,
                kind: None,
                needs: &[],
            };
            for (i, (name, ty)) in self.params.clone().into_iter().enumerate() {
                let p = &spec.params[i.min(spec.params.len() - 1)];
                self.line(2, &format!("{}:", quote(&name)));
                if self.clean_params() {
                    // A valid declaration: a default of the right type, or none.
                    let ty = ty.unwrap_or("string");
                    self.line(4, &format!("type: {ty}"));
                    let default = match ty {
                        "int" => "3",
                        "bool" => "true",
                        "duration" => "\"5s\"",
                        "list" => "[a, b]",
                        "secret" => "",
                        _ => "\"value\"",
                    };
                    if p.default.is_some() && !default.is_empty() {
                        self.line(4, &format!("default: {default}"));
                    }
                } else {
                    self.line(4, &format!("type: {}", pick(PARAM_TYPES, p.ty)));
                    if let Some(d) = &p.default {
                        let d = self.scalar(d, no_site);
                        self.line(4, &format!("default: {d}"));
                    }
                }
                if p.required {
                    self.line(4, "required: true");
                }
            }
        }
        let main = spec.steps.len() - spec.finally;
        self.line(0, "steps:");
        for i in 0..spec.steps.len() {
            if i == main {
                self.line(0, "finally:");
            }
            self.step(i);
        }
        self.out
    }

    #[expect(
        clippy::too_many_lines,
        reason = "writes one generated step field by field, in the order the YAML reads"
    )]
    fn step(&mut self, i: usize) {
        let spec = self.spec;
        let s = &spec.steps[i];
        let noisy = self.noisy(i);
        let id = if noisy && self.spec.numeric && s.id.is_multiple_of(16) {
            "7".to_owned()
        } else {
            quote(&self.ids[i])
        };
        self.line(2, &format!("- id: {id}"));
        let kind_name = self.kind_name(s.kind, noisy);
        let kind = kind_name.as_deref().and_then(StepKind::from_name);
        if let Some(name) = &kind_name {
            let shown = if name.parse::<u32>().is_ok() {
                name.clone()
            } else {
                quote(name)
            };
            self.line(4, &format!("type: {shown}"));
        }

        let n = self.ids.len();
        // `finally` steps run after every main step: they need only other `finally` steps.
        let main = spec.steps.len() - spec.finally;
        let first = if i >= main { main } else { 0 };
        let mut needs: Vec<usize> = Vec::new();
        let mut need_names: Vec<String> = Vec::new();
        for &(how, which) in &s.needs {
            let target = match how % 10 {
                // An earlier step of the same phase (a DAG) ...
                0..=6 if i > first => Some(first + usize::from(which) % (i - first)),
                // ... any step, itself included (cycles) ...
                0..=8 if noisy => Some(usize::from(which) % n),
                // ... or no step at all.
                9 if noisy => None,
                _ => continue,
            };
            match target {
                Some(t) => {
                    needs.push(t);
                    need_names.push(quote(&self.ids[t]));
                }
                None => need_names.push(quote(pick(UNKNOWN_IDS, which))),
            }
        }
        if !need_names.is_empty() {
            self.line(4, &format!("needs: [{}]", need_names.join(", ")));
        }
        let input = Site {
            clean: !noisy,
            gate: false,
            kind,
            needs: &needs,
        };
        let gate = Site {
            gate: true,
            ..input
        };

        // `with`: a valid map for the type (possibly damaged), or random entries.
        let known = kind_name.as_deref().and_then(|k| valid_withs().get(k));
        let mode = if noisy { s.with_mode % 10 } else { 0 };
        let entries: Vec<(String, String)> = match known {
            Some(examples) if mode < 9 => {
                let example = &examples[usize::from(s.with_mode) % examples.len()];
                let mut next = 0;
                let mut entries: Vec<(String, String)> = example
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    self.retemplate(v, &s.with_texts, &mut next, input),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                match mode {
                    7 => entries.push(("concurrrency".into(), "16".into())),
                    8 if !entries.is_empty() => {
                        let k = usize::from(s.with_mode) % entries.len();
                        entries.remove(k);
                    }
                    _ => {}
                }
                entries
            }
            _ => s
                .with_random
                .iter()
                .map(|(k, v)| (pick(WITH_KEYS, *k).to_owned(), self.scalar(v, input)))
                .collect(),
        };
        if entries.is_empty() {
            self.line(4, "with: {}");
        } else {
            self.line(4, "with:");
            for (k, v) in &entries {
                self.line(6, &format!("{}: {v}", quote(k)));
            }
        }

        if let Some(w) = &s.when {
            let w = self.expr(w, input);
            self.line(4, &format!("when: {}", quote(&w)));
        }
        if !self.outputs[i].is_empty() {
            self.line(4, "outputs:");
            let names = self.outputs[i].clone();
            for (name, (_, t)) in names.iter().zip(&s.outputs) {
                let value = self.text(t, gate, false);
                self.line(6, &format!("{}: {}", quote(name), quote(&value)));
            }
        }
        if !s.verify.is_empty() {
            self.line(4, "verify:");
            for e in &s.verify {
                let e = self.expr(e, gate);
                self.line(6, &format!("- expr: {}", quote(&e)));
            }
        }
        let mut seen = HashSet::new();
        for extra in &s.extras {
            if !noisy && (!seen.insert(extra.key()) || matches!(extra, Extra::Unknown(..))) {
                continue; // clean steps: each key once, no strangers
            }
            let pool = |noisy_pool: &'static [&'static str], clean: usize| {
                if noisy {
                    noisy_pool
                } else {
                    &noisy_pool[..clean]
                }
            };
            let line = match extra {
                Extra::Timeout(d) => format!(
                    "timeout: {}",
                    pick(pool(&["5s", "1m", "0s", "soon", "5"], 3), *d)
                ),
                Extra::Expected(d) => format!(
                    "expected: {}",
                    pick(pool(&["1s", "2m", "1h30m", "x"], 3), *d)
                ),
                Extra::Retry(a, b) => format!(
                    "retry: {{attempts: {}, backoff: {}, initial: 1s}}",
                    if noisy {
                        usize::from(*a)
                    } else {
                        usize::from(*a) % 4 + 1
                    },
                    pick(pool(&["fixed", "exponential", "linear"], 2), *b)
                ),
                Extra::OnFailure(o) => {
                    format!(
                        "on_failure: {}",
                        pick(pool(&["continue", "abort", "explode"], 2), *o)
                    )
                }
                Extra::Name(t) => format!("name: {}", quote(&self.text(t, input, false))),
                Extra::Until(e, t) => format!(
                    "until: {{expr: {}, timeout: {}}}",
                    quote(&self.expr(e, gate)),
                    pick(pool(&["1m", "30s", "never"], 2), *t)
                ),
                Extra::Compensate(k) => match self.kind_name(*k, noisy) {
                    Some(kind) => {
                        let with = valid_withs()
                            .get(&kind)
                            .and_then(|w| w.first())
                            .map(|w| self.retemplate(w, &s.with_texts, &mut 0, input))
                            .unwrap_or_else(|| "{}".into());
                        let shown = if kind.parse::<u32>().is_ok() {
                            kind.clone()
                        } else {
                            quote(&kind)
                        };
                        format!("compensate: {{type: {shown}, with: {with}}}")
                    }
                    None => "compensate: {}".into(),
                },
                Extra::Unknown(k, v) => format!(
                    "{}: {}",
                    pick(&["neds", "tiemout", "whne", "timeout", "extra"], *k),
                    self.scalar(v, input)
                ),
            };
            self.line(4, &line);
        }
    }
}

/// Whether the generated `needs` form a cycle, worked out the way the language defines it:
/// ids resolve to their first definition (main steps, then `finally`), main steps cannot need
/// `finally` steps, unknown ids are no edge.
fn has_cycle(text: &str) -> bool {
    let Ok(root) = ripcord_spec::node::parse(&SourceFile::new("g.yaml", text)) else {
        return false;
    };
    let mut items: Vec<(Phase, &ripcord_spec::node::Node)> = Vec::new();
    for (phase, key) in [(Phase::Main, "steps"), (Phase::Finally, "finally")] {
        for item in root.get(key).and_then(|n| n.as_seq()).unwrap_or(&[]) {
            items.push((phase, item));
        }
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, (_, item)) in items.iter().enumerate() {
        if let Some(id) = item.get("id").and_then(|n| n.as_str()) {
            first.entry(id).or_insert(i);
        }
    }
    let edges: Vec<Vec<usize>> = items
        .iter()
        .map(|(phase, item)| {
            let mut out: Vec<usize> = item
                .get("needs")
                .and_then(|n| n.as_seq())
                .unwrap_or(&[])
                .iter()
                .filter_map(|n| n.as_str())
                .filter_map(|id| first.get(id).copied())
                .filter(|&t| !(*phase == Phase::Main && items[t].0 == Phase::Finally))
                .collect();
            out.dedup();
            out
        })
        .collect();
    // Depth-first search for a back edge.
    fn visit(i: usize, edges: &[Vec<usize>], state: &mut [u8]) -> bool {
        state[i] = 1;
        for &j in &edges[i] {
            if state[j] == 1 || (state[j] == 0 && visit(j, edges, state)) {
                return true;
            }
        }
        state[i] = 2;
        false
    }
    let mut state = vec![0u8; items.len()];
    (0..items.len()).any(|i| state[i] == 0 && visit(i, &edges, &mut state))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn plausible_runbooks_validate_and_plan(spec in runbook_spec(false)) {
        let text = Builder::new(&spec).build();
        let outcome = validate_and_render("g.yaml", &text);
        let cycle = has_cycle(&text);
        let reported = outcome.diagnostics.iter().any(|d| d.code == Code::Cycle);
        prop_assert_eq!(
            cycle, reported,
            "cycle in the needs: {}, cycle diagnostic: {}\n{}\n{:#?}",
            cycle, reported, text, outcome.diagnostics
        );
        if cycle {
            prop_assert!(outcome.validated.is_none());
        }
        prop_assert!(
            outcome.validated.is_some() || outcome.has_errors(),
            "no error but no runbook:\n{}\n{:#?}", text, outcome.diagnostics
        );
    }

    /// A wave is a set of steps that run together: none is empty. Fails today when a `finally`
    /// step needs a main step (see the report).
    #[test]
    fn plans_have_no_empty_waves(spec in runbook_spec(false)) {
        let text = Builder::new(&spec).build();
        let outcome = validate(SourceFile::new("g.yaml", text.as_str()));
        if let Some(plan) = outcome.validated.as_ref().and_then(check_plan) {
            for wave in &plan.waves {
                prop_assert!(
                    !wave.steps.is_empty(),
                    "wave {} ({:?}) is empty: {:?}\n{}", wave.index, wave.phase, plan.waves, text
                );
            }
        }
    }

    /// The contract callers rely on (`ripcord plan` expects it): no error means a validated
    /// runbook. Numeric `id`/`type` values break it (see the report).
    #[test]
    fn no_errors_means_validated(spec in runbook_spec(true)) {
        let text = Builder::new(&spec).build();
        let outcome = validate(SourceFile::new("g.yaml", text.as_str()));
        prop_assert_eq!(
            outcome.validated.is_some(),
            !outcome.has_errors(),
            "\n{}\n{:#?}", text, outcome.diagnostics
        );
    }
}

/// The generator reaches both outcomes often enough to be meaningful.
#[test]
fn generator_produces_valid_and_invalid_runbooks() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(config(1));
    let strategy = runbook_spec(false);
    let (mut valid, mut cycles, mut invalid) = (0, 0, 0);
    for _ in 0..200 {
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let text = Builder::new(&spec).build();
        let outcome = validate(SourceFile::new("g.yaml", text.as_str()));
        if outcome.validated.is_some() {
            valid += 1;
        } else {
            invalid += 1;
        }
        if outcome.diagnostics.iter().any(|d| d.code == Code::Cycle) {
            cycles += 1;
        }
    }
    assert!(
        valid >= 10,
        "only {valid} of 200 generated runbooks validated"
    );
    assert!(
        invalid >= 10,
        "only {invalid} of 200 generated runbooks were invalid"
    );
    assert!(
        cycles >= 5,
        "only {cycles} of 200 generated runbooks had a cycle"
    );
}
