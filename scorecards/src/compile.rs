//! Compiling a scorecard: every expression parsed once and checked before any entity sees it.

use std::fmt;

use cel::{
    Context, ExecutionError, IdedExpr, Program,
    common::ast::{EntryExpr, Expr, LiteralValue, SourceInfo},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use nexus_api::{
    conditions::{self, NewCondition},
    scorecards::{
        Gate, MAX_EXPRESSION_LEN, MAX_LEVELS, MAX_RULES, RuleErrorStatus, Scorecard, ScorecardSpec,
        scorecard::condition,
    },
};

use crate::env::{TYPE_NAMES, VARIABLES, env};

/// A compile error: which rule (or field), where in its expression, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// Rule id, or `appliesTo.filter`, `levels`, `gate.minLevel`, `rules`.
    pub rule: String,
    /// 1-based line in the expression; 0 when the error is not at a place in it.
    pub line: u32,
    /// 1-based column, in characters; 0 when the error is not at a place in it.
    pub column: u32,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.rule, self.message)
        } else {
            write!(
                f,
                "{} at {}:{}: {}",
                self.rule, self.line, self.column, self.message
            )
        }
    }
}

impl RuleError {
    fn whole(rule: &str, message: impl Into<String>) -> RuleError {
        RuleError {
            rule: rule.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }

    /// The shape kept in `Scorecard.status.ruleErrors`.
    pub fn to_status(&self) -> RuleErrorStatus {
        RuleErrorStatus {
            rule: self.rule.clone(),
            line: i32::try_from(self.line).unwrap_or(i32::MAX),
            column: i32::try_from(self.column).unwrap_or(i32::MAX),
            message: truncate(&self.message, 1024),
        }
    }
}

/// A scorecard ready to evaluate.
#[derive(Debug)]
pub struct Compiled {
    pub(crate) scorecard: String,
    pub(crate) generation: Option<i64>,
    pub(crate) levels: Vec<String>,
    pub(crate) kinds: Vec<String>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) selector: Option<LabelSelector>,
    pub(crate) filter: Option<Program>,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) gate: Option<Gate>,
    pub(crate) total_weight: u64,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) weight: u64,
    /// Index into the ladder.
    pub(crate) level: Option<usize>,
    /// Declared facts, split into path segments.
    pub(crate) facts: Vec<(String, Vec<String>)>,
    pub(crate) program: Program,
}

impl Compiled {
    /// `namespace/name` of the scorecard (empty when compiled from a bare spec).
    pub fn scorecard(&self) -> &str {
        &self.scorecard
    }

    pub fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// The ladder, lowest first.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    pub fn gate(&self) -> Option<&Gate> {
        self.gate.as_ref()
    }

    /// Rule ids in declaration order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// Sets who this is, so results name their scorecard and generation.
    pub fn with_identity(mut self, scorecard: impl Into<String>, generation: Option<i64>) -> Self {
        self.scorecard = scorecard.into();
        self.generation = generation;
        self
    }
}

/// Compiles a Scorecard object: like [`compile`], with its `namespace/name` and generation.
pub fn compile_scorecard(scorecard: &Scorecard) -> Result<Compiled, Vec<RuleError>> {
    let name = format!(
        "{}/{}",
        scorecard.metadata.namespace.as_deref().unwrap_or_default(),
        scorecard.metadata.name.as_deref().unwrap_or_default()
    );
    compile(&scorecard.spec).map(|c| c.with_identity(name, scorecard.metadata.generation))
}

/// Compiles every rule and the filter; returns every error found, not just the first.
///
/// Besides CEL syntax it rejects: variables other than [`VARIABLES`] (and comprehension
/// variables), functions the environment does not have, `facts.x.y` paths no declared fact
/// covers (so a rule cannot silently depend on a fact that is not declared), expressions that
/// plainly are not bool (a literal, a list, arithmetic), duplicate rule ids, levels missing from
/// the ladder, and the bounds the CRD schema enforces (for specs that did not pass an apiserver).
pub fn compile(spec: &ScorecardSpec) -> Result<Compiled, Vec<RuleError>> {
    let mut errors = Vec::new();
    let levels = spec.levels.clone();
    if levels.is_empty() || levels.len() > MAX_LEVELS {
        errors.push(RuleError::whole(
            "levels",
            format!("the ladder needs 1 to {MAX_LEVELS} levels"),
        ));
    }
    for (i, l) in levels.iter().enumerate() {
        if levels[..i].contains(l) {
            errors.push(RuleError::whole(
                "levels",
                format!("level {l:?} appears twice"),
            ));
        }
    }
    if spec.rules.is_empty() || spec.rules.len() > MAX_RULES {
        errors.push(RuleError::whole(
            "rules",
            format!("a scorecard needs 1 to {MAX_RULES} rules"),
        ));
    }
    if let Some(min) = spec.gate.as_ref().and_then(|g| g.min_level.as_ref())
        && !levels.contains(min)
    {
        errors.push(RuleError::whole(
            "gate.minLevel",
            format!("{min:?} is not one of the levels {levels:?}"),
        ));
    }
    if let Some(min) = spec.gate.as_ref().and_then(|g| g.min_score)
        && !(0..=100).contains(&min)
    {
        errors.push(RuleError::whole(
            "gate.minScore",
            "must be between 0 and 100",
        ));
    }

    let filter = spec
        .applies_to
        .filter
        .as_ref()
        .and_then(|src| compile_expression("appliesTo.filter", src, &[], &mut errors));

    let mut rules = Vec::with_capacity(spec.rules.len());
    for (i, rule) in spec.rules.iter().enumerate() {
        if spec.rules[..i].iter().any(|r| r.id == rule.id) {
            errors.push(RuleError::whole(
                &rule.id,
                "rule id appears twice; ids must be unique",
            ));
        }
        if !(1..=100).contains(&rule.weight) {
            errors.push(RuleError::whole(&rule.id, "weight must be 1 to 100"));
        }
        let level = match &rule.level {
            None => None,
            Some(l) => match levels.iter().position(|x| x == l) {
                Some(i) => Some(i),
                None => {
                    errors.push(RuleError::whole(
                        &rule.id,
                        format!("level {l:?} is not one of the levels {levels:?}"),
                    ));
                    None
                }
            },
        };
        let facts: Vec<(String, Vec<String>)> = rule
            .facts
            .iter()
            .map(|f| (f.clone(), f.split('.').map(String::from).collect()))
            .collect();
        for (name, path) in &facts {
            if path.iter().any(|s| !is_identifier(s)) {
                errors.push(RuleError::whole(
                    &rule.id,
                    format!("fact {name:?} must be a dotted path of identifiers"),
                ));
            }
        }
        let program = compile_expression(&rule.id, &rule.expression, &facts, &mut errors);
        if let Some(program) = program {
            rules.push(CompiledRule {
                id: rule.id.clone(),
                title: rule.title.clone(),
                message: rule.message.clone(),
                weight: u64::try_from(rule.weight).unwrap_or(0),
                level,
                facts,
                program,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let total_weight = rules.iter().map(|r| r.weight).sum();
    Ok(Compiled {
        scorecard: String::new(),
        generation: None,
        levels,
        kinds: spec.applies_to.kinds.clone(),
        namespaces: spec.applies_to.namespaces.clone(),
        selector: spec.applies_to.selector.clone(),
        filter,
        rules,
        gate: spec.gate.clone(),
        total_weight,
    })
}

/// The `Compiled` and `Ready` conditions for a compile outcome: on failure both `False` with
/// reason `CompileFailed` and the errors (rule, line:column, message) in the message.
pub fn compile_conditions(outcome: &Result<Compiled, Vec<RuleError>>) -> Vec<NewCondition> {
    match outcome {
        Ok(c) => vec![NewCondition::new(
            condition::COMPILED,
            conditions::TRUE,
            condition::COMPILED_OK,
            format!("{} rules compiled", c.rules.len()),
        )],
        Err(errors) => {
            let mut message = errors
                .iter()
                .take(20)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            if errors.len() > 20 {
                message.push_str(&format!("; and {} more", errors.len() - 20));
            }
            vec![
                NewCondition::new(
                    condition::COMPILED,
                    conditions::FALSE,
                    condition::COMPILE_FAILED,
                    message.clone(),
                ),
                NewCondition::new(
                    condition::READY,
                    conditions::FALSE,
                    condition::COMPILE_FAILED,
                    message,
                ),
            ]
        }
    }
}

fn compile_expression(
    rule: &str,
    source: &str,
    facts: &[(String, Vec<String>)],
    errors: &mut Vec<RuleError>,
) -> Option<Program> {
    if source.len() > MAX_EXPRESSION_LEN {
        errors.push(RuleError::whole(
            rule,
            format!("expression is longer than {MAX_EXPRESSION_LEN} bytes"),
        ));
        return None;
    }
    let program = match env().compile(source) {
        Ok(p) => p,
        Err(parse) => {
            errors.extend(parse.errors.iter().map(|e| RuleError {
                rule: rule.to_string(),
                line: u32::try_from(e.pos.0).unwrap_or(0),
                column: u32::try_from(e.pos.1).unwrap_or(0),
                message: e.msg.clone(),
            }));
            return None;
        }
    };
    let before = errors.len();
    let mut checker = Checker {
        rule,
        info: program.source_info(),
        facts,
        scopes: Vec::new(),
        in_presence_test: 0,
        errors,
    };
    checker.not_plainly_non_bool(program.expression());
    checker.walk(program.expression());
    (errors.len() == before).then_some(program)
}

/// Walks a parsed expression for what CEL itself only finds at evaluation time.
struct Checker<'a> {
    rule: &'a str,
    info: &'a SourceInfo,
    facts: &'a [(String, Vec<String>)],
    /// Comprehension variables in scope (`x` in `list.all(x, …)`, and the accumulator).
    scopes: Vec<&'a str>,
    /// Inside `has(…)`: testing for presence needs no declaration.
    in_presence_test: usize,
    errors: &'a mut Vec<RuleError>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, id: u64, message: String) {
        let start = self.info.offset_for(id).map(|(s, _)| s);
        self.error_at(start, message);
    }

    fn error_at(&mut self, start: Option<u32>, message: String) {
        let (line, column) = position(&self.info.source, start);
        self.errors.push(RuleError {
            rule: self.rule.to_string(),
            line,
            column,
            message,
        });
    }

    fn in_scope(&self, name: &str) -> bool {
        self.scopes.contains(&name)
    }

    fn not_plainly_non_bool(&mut self, e: &IdedExpr) {
        let got = match &e.expr {
            Expr::Literal(LiteralValue::Boolean(_)) => return,
            Expr::Literal(LiteralValue::Int(_)) => "int",
            Expr::Literal(LiteralValue::UInt(_)) => "uint",
            Expr::Literal(LiteralValue::Double(_)) => "double",
            Expr::Literal(LiteralValue::String(_)) => "string",
            Expr::Literal(LiteralValue::Bytes(_)) => "bytes",
            Expr::Literal(LiteralValue::Null) => "null",
            Expr::List(_) => "list",
            Expr::Map(_) => "map",
            Expr::Call(c)
                if matches!(
                    c.func_name.as_str(),
                    "_+_" | "_-_" | "_*_" | "_/_" | "_%_" | "-_"
                ) =>
            {
                "the result of arithmetic"
            }
            _ => return,
        };
        let message = format!("rule {} must return a bool, got {got}", self.rule);
        self.error(e.id, message);
    }

    fn walk(&mut self, e: &'a IdedExpr) {
        match &e.expr {
            Expr::Ident(name) => {
                if !self.in_scope(name)
                    && !VARIABLES.contains(&name.as_str())
                    && !TYPE_NAMES.contains(&name.as_str())
                {
                    self.error(
                        e.id,
                        format!(
                            "unknown variable '{name}': rules can use {}",
                            VARIABLES.join(", ")
                        ),
                    );
                }
            }
            Expr::Select(s) => {
                if s.test {
                    self.in_presence_test += 1;
                    self.walk(&s.operand);
                    self.in_presence_test -= 1;
                    return;
                }
                if self.in_presence_test == 0
                    && let Some((root, path)) = select_chain(e)
                    && root.1 == "facts"
                    && !self.in_scope("facts")
                {
                    // Reported at `facts`, the start of the path, not at its last dot.
                    self.check_fact_path(root.0, &path);
                    return;
                }
                self.walk(&s.operand);
            }
            Expr::Call(c) => {
                let mut walk_target = true;
                if is_function_name(&c.func_name) {
                    let probe = match c.target.as_deref() {
                        None => format!("{}()", c.func_name),
                        Some(t) => match select_chain(t) {
                            // `ns.f()` where `ns` is no variable: a namespaced function.
                            Some(((_, root), path))
                                if !self.in_scope(root) && !VARIABLES.contains(&root) =>
                            {
                                walk_target = false;
                                let mut q = vec![root];
                                q.extend(path);
                                format!("{}.{}()", q.join("."), c.func_name)
                            }
                            _ => format!("null.{}()", c.func_name),
                        },
                    };
                    if !function_exists(&probe) {
                        // A call node sits at its '('; point at the name instead.
                        let start = self.info.offset_for(e.id).map(|(s, _)| {
                            let at = usize::try_from(s).unwrap_or(0);
                            let src = &self.info.source;
                            match src.get(..at) {
                                Some(before)
                                    if before.ends_with(c.func_name.as_str())
                                        && src[at..].starts_with('(') =>
                                {
                                    s.saturating_sub(u32::try_from(c.func_name.len()).unwrap_or(0))
                                }
                                _ => s,
                            }
                        });
                        self.error_at(start, format!("unknown function '{}'", c.func_name));
                    }
                }
                if walk_target && let Some(t) = &c.target {
                    self.walk(t);
                }
                for a in &c.args {
                    self.walk(a);
                }
            }
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range);
                self.walk(&c.accu_init);
                let depth = self.scopes.len();
                self.scopes.push(&c.iter_var);
                if let Some(v) = &c.iter_var2 {
                    self.scopes.push(v);
                }
                self.scopes.push(&c.accu_var);
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.scopes.truncate(depth);
            }
            Expr::List(l) => {
                for x in &l.elements {
                    self.walk(x);
                }
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.walk(&me.key);
                        self.walk(&me.value);
                    }
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    match &entry.expr {
                        EntryExpr::StructField(f) => self.walk(&f.value),
                        EntryExpr::MapEntry(me) => {
                            self.walk(&me.key);
                            self.walk(&me.value);
                        }
                    }
                }
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    /// `facts.a.b.c` is fine when a declared fact is `a`, `a.b`, `a.b.c`, or longer than the path
    /// and starting with it (reading a parent object).
    fn check_fact_path(&mut self, id: u64, path: &[&str]) {
        let covered = self.facts.iter().any(|(_, declared)| {
            let n = declared.len().min(path.len());
            declared[..n].iter().zip(&path[..n]).all(|(a, b)| a == b)
        });
        if !covered {
            let name = path.join(".");
            let message = format!(
                "facts.{name} is used but not declared: add \"{name}\" (or the fact it belongs to) to the rule's facts"
            );
            self.error(id, message);
        }
    }
}

/// `a.b.c` as ((id of `a`, `a`), [`b`, `c`]) when the expression is a plain select chain on an
/// identifier.
fn select_chain(e: &IdedExpr) -> Option<((u64, &str), Vec<&str>)> {
    let mut fields = Vec::new();
    let mut cur = e;
    loop {
        match &cur.expr {
            Expr::Ident(name) => {
                fields.reverse();
                return Some(((cur.id, name.as_str()), fields));
            }
            Expr::Select(s) if !s.test => {
                fields.push(s.field.as_str());
                cur = &s.operand;
            }
            _ => return None,
        }
    }
}

/// Operators (`_&&_`, `@in`, `!_`) and internal helpers are not user functions.
fn is_function_name(name: &str) -> bool {
    is_identifier(name)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with('_')
}

/// Asks the environment whether a function exists: calling it with no (or null) arguments
/// fails with "no such overload" when it exists and "undeclared reference" when it does not.
/// The cel crate exposes no list of declared functions, so asking is the reliable way.
fn function_exists(probe: &str) -> bool {
    let Ok(program) = env().compile(probe) else {
        return true;
    };
    let context = Context::with_env(env());
    !matches!(
        program.execute(&context),
        Err(ExecutionError::UndeclaredReference(_))
    )
}

/// 1-based line and column (in characters) of a byte offset in the expression.
fn position(source: &str, start: Option<u32>) -> (u32, u32) {
    let Some(start) = start else {
        return (0, 0);
    };
    let start = usize::try_from(start).unwrap_or(0);
    let mut line = 1u32;
    let mut column = 1u32;
    for (i, ch) in source.char_indices() {
        if i >= start {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
