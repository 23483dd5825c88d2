//! Go `text/template`, written for Helm's use.
//!
//! Why not a crate: `gtmpl` (the only maintained-looking Rust port) lags Go's semantics
//! that charts rely on: lazy `and`/`or`, `break`/`continue`, `else with`, range over
//! integers, Helm's `missingkey=zero` printing `<no value>`, and Go's exact error texts
//! with file, line, column and the failing expression. Byte-identical output to
//! `helm template` needs all of them, so the engine is ours.

pub mod exec;
pub mod parse;

pub use exec::{ExecError, FuncError, TemplateError, Templates};
pub use parse::ParseError;
