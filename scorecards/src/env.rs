//! The one CEL environment every scorecard is compiled and evaluated with.

use std::sync::{Arc, LazyLock};

use cel::{Env, extensions};

/// The variables a rule or filter may use.
pub const VARIABLES: [&str; 4] = ["entity", "relations", "facts", "now"];

/// Type names CEL lets an expression mention as identifiers (`type(x) == string`).
pub(crate) const TYPE_NAMES: [&str; 10] = [
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
];

/// The standard library plus the string and list extensions that Kubernetes CEL users know
/// (`lowerAscii`, `split`, `join`, …). Built once: programs compiled with it are evaluated with
/// it, so it is shared rather than rebuilt per scorecard.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // The extensions only fail on a name clash with what is already declared, which the stdlib
    // does not have; a clash would surface as an unknown function at compile time, not a crash.
    let _ = env.add_extension(extensions::strings);
    let _ = env.add_extension(extensions::lists);
    Arc::new(env)
});

pub(crate) fn env() -> Arc<Env> {
    Arc::clone(&ENV)
}
