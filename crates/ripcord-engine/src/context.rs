//! What templates and expressions see during a run: `params`, `steps`, `run`, `result`.
//!
//! `steps` is a live view of the run's state rather than a copy, so building a step's context
//! costs the same with ten steps or ten thousand.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use minijinja::Environment;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

/// Status of a step as templates see it (`steps.<id>.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started yet.
    Pending,
    /// An attempt is under way.
    Running,
    /// Its gates passed; `outputs` are set.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Did not run (`when` false, or blocked by a failure or cancel).
    Skipped,
    /// A running attempt was cancelled.
    Cancelled,
    /// Succeeded, then undone by its compensation.
    Compensated,
}

impl Status {
    /// The lowercase name templates compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
            Status::Compensated => "compensated",
        }
    }

    /// Whether the step is done for this run (neither pending nor running).
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }
}

/// The shared, mutable record of each step's status and outputs.
#[derive(Debug, Default)]
pub struct Board {
    ids: HashMap<String, usize>,
    cells: RwLock<Vec<Cell>>,
}

#[derive(Debug, Clone)]
/// One step's entry on the [`Board`].
pub struct Cell {
    /// Where the step is.
    pub status: Status,
    /// The step's declared outputs once it succeeded.
    pub outputs: Option<serde_json::Value>,
}

impl Board {
    /// A board with every step `pending`, indexed by position in `ids` (the runbook's step order).
    pub fn new(ids: impl IntoIterator<Item = String>) -> Self {
        let ids: HashMap<String, usize> =
            ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect();
        let cells = vec![
            Cell {
                status: Status::Pending,
                outputs: None
            };
            ids.len()
        ];
        Self {
            ids,
            cells: RwLock::new(cells),
        }
    }

    /// Replace a step's status and outputs at once. Panics if `index` is out of range.
    pub fn set(&self, index: usize, status: Status, outputs: Option<serde_json::Value>) {
        let mut cells = self.cells.write().expect("board lock");
        cells[index] = Cell { status, outputs };
    }

    /// Change a step's status, keeping its outputs. Panics if `index` is out of range.
    pub fn set_status(&self, index: usize, status: Status) {
        self.cells.write().expect("board lock")[index].status = status;
    }

    /// A copy of a step's entry. Panics if `index` is out of range.
    pub fn get(&self, index: usize) -> Cell {
        self.cells.read().expect("board lock")[index].clone()
    }

    /// A step's status. Panics if `index` is out of range.
    pub fn status(&self, index: usize) -> Status {
        self.cells.read().expect("board lock")[index].status
    }
}

/// `steps` in templates.
#[derive(Debug)]
struct StepsView(Arc<Board>);

impl Object for StepsView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let index = *self.0.ids.get(key.as_str()?)?;
        let cell = self.0.get(index);
        let outputs = cell.outputs.unwrap_or_else(|| serde_json::json!({}));
        Some(to_value(serde_json::json!({
            "status": cell.status.as_str(),
            "outputs": outputs,
        })))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<&String> = self.0.ids.keys().collect();
        keys.sort();
        Enumerator::Values(keys.into_iter().map(|k| Value::from(k.as_str())).collect())
    }
}

/// Builds the template context of any step from the run's fixed parts and the live board.
#[derive(Clone)]
pub struct Contexts {
    params: Value,
    run: Value,
    steps: Value,
}

impl Contexts {
    /// Contexts over fixed `params` and `run` values and a live view of `board` as `steps`.
    pub fn new(params: serde_json::Value, run: serde_json::Value, board: Arc<Board>) -> Self {
        Self {
            params: to_value(params),
            run: to_value(run),
            steps: Value::from_object(StepsView(board)),
        }
    }

    /// The context for a step's inputs (`with`, `when`).
    pub fn base(&self) -> Value {
        minijinja::context! { params => self.params.clone(), run => self.run.clone(), steps => self.steps.clone() }
    }

    /// The context for a step's gates and outputs: also `result`.
    pub fn with_result(&self, result: &serde_json::Value) -> Value {
        minijinja::context! {
            params => self.params.clone(),
            run => self.run.clone(),
            steps => self.steps.clone(),
            result => to_value(result),
        }
    }
}

/// Any serializable value as a template value.
pub fn to_value<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// Evaluate an expression to JSON.
pub fn eval(
    env: &Environment<'_>,
    expr: &str,
    context: &Value,
) -> Result<serde_json::Value, String> {
    let compiled = env.compile_expression(expr).map_err(|e| describe(&e))?;
    let value = compiled.eval(context.clone()).map_err(|e| describe(&e))?;
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

/// Evaluate an expression to a truth value.
pub fn truthy(env: &Environment<'_>, expr: &str, context: &Value) -> Result<bool, String> {
    let compiled = env.compile_expression(expr).map_err(|e| describe(&e))?;
    compiled
        .eval(context.clone())
        .map(|v| v.is_true())
        .map_err(|e| describe(&e))
}

/// A minijinja error in one line: kind and detail.
pub fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}
