//! Diagnostics: what is wrong, where, and how to fix it, rendered like rustc.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config, termcolor};
use serde::Serialize;

use crate::source::{SourceFile, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A stable identifier per kind of problem (documented in docs/runbook-reference.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    Yaml,
    UnknownKey,
    DuplicateKey,
    WrongType,
    MissingField,
    BadValue,
    UnknownStepType,
    DuplicateStepId,
    UnknownNeeds,
    Cycle,
    NotAncestor,
    UnknownParam,
    UnknownStep,
    Template,
    UnusedOutput,
    Irreversible,
    BadParam,
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Yaml => "yaml",
            Code::UnknownKey => "unknown-key",
            Code::DuplicateKey => "duplicate-key",
            Code::WrongType => "wrong-type",
            Code::MissingField => "missing-field",
            Code::BadValue => "bad-value",
            Code::UnknownStepType => "unknown-step-type",
            Code::DuplicateStepId => "duplicate-step-id",
            Code::UnknownNeeds => "unknown-needs",
            Code::Cycle => "cycle",
            Code::NotAncestor => "not-ancestor",
            Code::UnknownParam => "unknown-param",
            Code::UnknownStep => "unknown-step",
            Code::Template => "template",
            Code::UnusedOutput => "unused-output",
            Code::Irreversible => "irreversible-unguarded",
            Code::BadParam => "bad-param",
        }
    }
}

/// One problem found in a runbook.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    /// Where the problem is and a short label for the caret.
    pub span: Span,
    pub label: String,
    /// Other places that explain it (the first definition of a duplicate, a cycle's edges).
    pub related: Vec<(Span, String)>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Render diagnostics rustc-style: `error[code]: message`, `--> file:line:col`, the source line,
/// a caret and a help line.
pub fn render(source: &SourceFile, diagnostics: &[Diagnostic], color: bool) -> String {
    let file = SimpleFile::new(source.name(), source.text());
    let config = Config::default();
    let mut buffer = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    for d in diagnostics {
        let cs = to_codespan(source, d);
        // Rendering into memory cannot fail for spans we clamp to the file.
        let _ = term::emit_to_write_style(&mut buffer, &config, &file, &cs);
    }
    String::from_utf8_lossy(buffer.as_slice()).into_owned()
}

fn clamp(source: &SourceFile, span: Span) -> std::ops::Range<usize> {
    let len = source.text().len();
    let mut start = span.start.min(len);
    while start > 0 && !source.text().is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end().clamp(start, len);
    while end < len && !source.text().is_char_boundary(end) {
        end += 1;
    }
    start..end
}

fn to_codespan(source: &SourceFile, d: &Diagnostic) -> CsDiagnostic<()> {
    let severity = match d.severity {
        Severity::Error => CsSeverity::Error,
        Severity::Warning => CsSeverity::Warning,
    };
    let mut labels = vec![Label::primary((), clamp(source, d.span)).with_message(d.label.clone())];
    labels.extend(
        d.related.iter().map(|(span, msg)| {
            Label::secondary((), clamp(source, *span)).with_message(msg.clone())
        }),
    );
    let mut cs = CsDiagnostic::new(severity)
        .with_code(d.code.as_str())
        .with_message(d.message.clone())
        .with_labels(labels);
    if let Some(help) = &d.help {
        cs = cs.with_notes(vec![format!("help: {help}")]);
    }
    cs
}

/// One line per diagnostic, `file:line:col: severity[code]: message`, for editors and grep.
pub fn render_short(source: &SourceFile, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let at = source.line_col(d.span.start);
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "{}:{}: {}[{}]: {}\n",
            source.name(),
            at,
            severity,
            d.code.as_str(),
            d.message
        ));
    }
    out
}
