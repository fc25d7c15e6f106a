//! Rule conditions: CEL, parsed and checked at start, evaluated strictly.
//!
//! At start a condition must parse, use only known variables and functions, and be boolean as
//! far as that can be known without the call (a literal, arithmetic, a string or list at its
//! root is refused). After parsing, relations are rewritten into strict ones (see `strict`).
//! At run time anything but a boolean result is an evaluation error.

use std::sync::{Arc, LazyLock};

use cel::common::ast::{operators, Expr, IdedExpr, LiteralValue, SourceInfo};
use cel::{Env, Value};

use super::functions;
use super::strict;
use super::EvalInput;

/// Variables a condition may use.
pub const CEL_VARIABLES: &[&str] = &[
    "args",
    "agent",
    "tool",
    "session",
    "context",
    "on_behalf_of",
    "cost",
    "rationale",
    "now",
    "usage",
];

/// A set of [`CEL_VARIABLES`]: those a condition names, so a call's context holds only what
/// some condition can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vars(u16);

impl Vars {
    /// Whether it holds the variable `name`.
    pub fn has(self, name: &str) -> bool {
        CEL_VARIABLES
            .iter()
            .position(|v| *v == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }

    pub fn union(self, other: Vars) -> Vars {
        Vars(self.0 | other.0)
    }

    /// The variables `expr` names (a comprehension's own name that shadows one counts too,
    /// which only adds a variable the condition never reads).
    fn of(expr: &IdedExpr) -> Vars {
        let refs = expr.references();
        let names: Vec<&str> = refs.variables();
        Vars(
            CEL_VARIABLES
                .iter()
                .enumerate()
                .filter(|(_, v)| names.contains(v))
                .fold(0, |set, (i, _)| set | (1 << i)),
        )
    }
}

/// Variables whose type is known: what a condition made of one of them alone would be.
const TYPED_VARIABLES: &[(&str, &str)] = &[
    ("agent", "string"),
    ("tool", "string"),
    ("session", "string"),
    ("on_behalf_of", "string"),
    ("rationale", "string"),
    ("cost", "double"),
    ("now", "timestamp"),
    ("usage", "map"),
];

/// CEL's type names, which a condition may use as values (`type(args.x) == string`).
const TYPE_NAMES: &[&str] = &[
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

/// Standard functions that never return a boolean.
const NON_BOOL_FUNCTIONS: &[(&str, &str)] = &[
    ("size", "int"),
    ("int", "int"),
    ("uint", "uint"),
    ("double", "double"),
    ("string", "string"),
    ("bytes", "bytes"),
    ("type", "type"),
    ("dyn", "dyn"),
    ("duration", "duration"),
    ("timestamp", "timestamp"),
    ("lowerAscii", "string"),
    ("upperAscii", "string"),
    ("trim", "string"),
    ("replace", "string"),
    ("split", "list"),
    ("join", "string"),
    ("substring", "string"),
    ("charAt", "string"),
    ("indexOf", "int"),
    ("lastIndexOf", "int"),
    ("format", "string"),
    ("max", "number"),
    ("min", "number"),
    (operators::ADD, "a sum"),
    (operators::SUBSTRACT, "a difference"),
    (operators::MULTIPLY, "a product"),
    (operators::DIVIDE, "a quotient"),
    (operators::MODULO, "a remainder"),
    (operators::NEGATE, "a number"),
];

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

thread_local! {
    // The CEL standard library and gavel's functions, built once per thread, not per call:
    // building them dominated evaluation time.
    static ROOT: cel::Context<'static, 'static> = root_context();
}

fn root_context() -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::with_env(ENV.clone());
    // Names are fixed and distinct from the standard library's (a test checks it).
    strict::register(&mut ctx).expect("strict relations register");
    functions::register(&mut ctx).expect("gavel's CEL functions register");
    ctx
}

/// A parsed, rewritten, checked condition.
pub struct Condition {
    expr: IdedExpr,
    uses: Vars,
}

/// A start-up error: byte offset in the condition, and what is wrong.
pub type CompileError = (usize, String);

impl Condition {
    pub fn compile(text: &str) -> Result<Condition, CompileError> {
        let (mut expr, info) = ENV.parser().parse_with_source_info(text).map_err(|errs| {
            let first = errs.errors.first();
            let offset = first
                .map(|e| line_col_offset(text, e.pos.0, e.pos.1))
                .unwrap_or(0);
            let msg = first
                .map(|e| e.msg.clone())
                .unwrap_or_else(|| errs.to_string());
            (
                offset.min(text.len()),
                format!("condition does not parse: {msg}"),
            )
        })?;
        check_names(&expr, text, &info)?;
        if let Some(what) = non_boolean(&expr) {
            return Err((
                offset_of(&info, expr.id),
                format!("the condition must be true or false, and this one is {what}"),
            ));
        }
        check_literal_arguments(&expr, &info)?;
        let uses = Vars::of(&expr);
        strict::rewrite(&mut expr);
        Ok(Condition { expr, uses })
    }

    /// The variables it names.
    pub fn uses(&self) -> Vars {
        self.uses
    }

    /// Evaluates against a call; anything but `true` or `false` is an error.
    pub fn eval(&self, ctx: &cel::Context<'_, '_>) -> Result<bool, String> {
        match Value::resolve(&self.expr, ctx) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "the condition gave {}, not true or false",
                strict::type_name(&other)
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Runs `f` with this thread's root context (the standard library and gavel's functions).
pub fn with_root<R>(f: impl FnOnce(&cel::Context<'static, 'static>) -> R) -> R {
    ROOT.with(f)
}

/// A context holding those of `input`'s variables in `uses`, on top of the root: building the
/// others (a JSON tree converted, a string copied) would be work no condition reads.
pub fn context<'r>(
    root: &'r cel::Context<'static, 'static>,
    input: &EvalInput<'_>,
    uses: Vars,
) -> cel::Context<'r, 'static> {
    let mut ctx = root.new_inner_scope();
    let mut add = |name: &str, value: &dyn Fn() -> Value| {
        if uses.has(name) {
            ctx.add_variable_from_value(name, value());
        }
    };
    add("args", &|| strict::from_json(input.args));
    add("context", &|| strict::from_json(input.context));
    add("agent", &|| input.agent.to_string().into());
    add("tool", &|| input.tool.to_string().into());
    add("session", &|| input.session.to_string().into());
    add("on_behalf_of", &|| {
        input.on_behalf_of.unwrap_or("").to_string().into()
    });
    add("rationale", &|| {
        input.rationale.unwrap_or("").to_string().into()
    });
    add("cost", &|| input.cost.unwrap_or(0.0).into());
    // Absent, they are unknown to the condition: using one is an evaluation error, never a
    // guess.
    if let Some(now) = input.now {
        add("now", &|| Value::Timestamp(now.fixed_offset()));
    }
    if let Some(usage) = input.usage {
        add("usage", &|| strict::from_json(usage));
    }
    ctx
}

fn line_col_offset(text: &str, line: isize, col: isize) -> usize {
    let (line, col) = (line.max(1) as usize, col.max(0) as usize);
    text.split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum::<usize>()
        + col
}

fn offset_of(info: &SourceInfo, id: u64) -> usize {
    info.offset_for(id)
        .map(|(start, _)| start as usize)
        .unwrap_or(0)
}

/// Unknown variables and functions are refused at start rather than failing every call.
fn check_names(expr: &IdedExpr, text: &str, info: &SourceInfo) -> Result<(), CompileError> {
    let refs = expr.references();
    // Names a comprehension binds (`k` in `args.all(k, ...)`), and type names (`string`).
    let mut bound: Vec<&str> = TYPE_NAMES.to_vec();
    visit(expr, &mut |e| {
        if let Expr::Comprehension(c) = &e.expr {
            bound.push(&c.iter_var);
            bound.extend(c.iter_var2.as_deref());
            bound.push(&c.accu_var);
        }
    });
    for v in refs.variables() {
        if !CEL_VARIABLES.contains(&v) && !bound.contains(&v) {
            return Err((
                text.find(v).unwrap_or(0),
                format!(
                    "the condition uses an unknown variable `{v}` (known: {})",
                    CEL_VARIABLES.join(", ")
                ),
            ));
        }
    }
    for f in refs.functions() {
        if !known_function(f) {
            return Err((
                find_call(expr, f)
                    .map(|id| offset_of(info, id))
                    .or_else(|| text.find(f))
                    .unwrap_or(0),
                format!("the condition calls an unknown function `{f}`"),
            ));
        }
    }
    Ok(())
}

fn known_function(name: &str) -> bool {
    if name.starts_with('_') || name.starts_with('@') || name.starts_with('!') || name == "-_" {
        return true; // operators
    }
    if functions::RETURNS.iter().any(|(n, _)| *n == name) {
        return true;
    }
    // The environment declares it exactly when a context refuses a function of that name.
    let mut probe = cel::Context::with_env(ENV.clone());
    probe.add_function(name, || true).is_err()
}

fn find_call(expr: &IdedExpr, name: &str) -> Option<u64> {
    let mut found = None;
    visit(expr, &mut |e| {
        if let Expr::Call(c) = &e.expr {
            if c.func_name == name && found.is_none() {
                found = Some(e.id);
            }
        }
    });
    found
}

fn visit<'e>(expr: &'e IdedExpr, f: &mut impl FnMut(&'e IdedExpr)) {
    f(expr);
    match &expr.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                visit(t, f);
            }
            c.args.iter().for_each(|a| visit(a, f));
        }
        Expr::Comprehension(c) => {
            for e in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                visit(e, f);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|e| visit(e, f)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(e) = &entry.expr {
                    visit(&e.key, f);
                    visit(&e.value, f);
                }
            }
        }
        Expr::Select(s) => visit(&s.operand, f),
        _ => {}
    }
}

/// What the condition certainly is when it is certainly not a boolean; `None` when it is or
/// may be one (a field of `args` may hold anything; that is checked at run time).
fn non_boolean(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::Null) => Some("null".into()),
        Expr::Literal(LiteralValue::String(_)) => Some("a string".into()),
        Expr::Literal(LiteralValue::Bytes(_)) => Some("bytes".into()),
        Expr::Literal(LiteralValue::Int(_)) => Some("an int".into()),
        Expr::Literal(LiteralValue::UInt(_)) => Some("a uint".into()),
        Expr::Literal(LiteralValue::Double(_)) => Some("a double".into()),
        Expr::List(_) => Some("a list".into()),
        Expr::Map(_) => Some("a map".into()),
        Expr::Struct(_) => Some("a message".into()),
        Expr::Ident(name) => TYPED_VARIABLES
            .iter()
            .find(|(v, _)| v == name)
            .map(|(_, t)| format!("a {t} (`{name}`)")),
        Expr::Call(c) => {
            if c.func_name == operators::CONDITIONAL && c.args.len() == 3 {
                return non_boolean(&c.args[1]).or_else(|| non_boolean(&c.args[2]));
            }
            NON_BOOL_FUNCTIONS
                .iter()
                .chain(functions::RETURNS.iter())
                .find(|(n, t)| *n == c.func_name && *t != "bool")
                .map(|(n, t)| format!("{t} (from `{}`)", n.trim_matches('_')))
        }
        Expr::Comprehension(c) => match &c.accu_init.expr {
            // `map` and `filter` build a list; `all`, `exists`, `exists_one` a boolean.
            Expr::List(_) => Some("a list (from `map` or `filter`)".into()),
            _ => None,
        },
        Expr::Select(_) | Expr::Unspecified => None,
    }
}

/// Arguments that must be literals are checked at start: `sql_kinds`' dialect.
fn check_literal_arguments(expr: &IdedExpr, info: &SourceInfo) -> Result<(), CompileError> {
    let mut err = None;
    visit(expr, &mut |e| {
        let Expr::Call(c) = &e.expr else { return };
        if c.func_name != functions::SQL_KINDS || err.is_some() {
            return;
        }
        let at = offset_of(info, e.id);
        err = match c.args.get(1).map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::String(d))) => {
                functions::sql_dialect(d.as_ref()).err().map(|m| (at, m))
            }
            _ => Some((
                at,
                "sql_kinds(sql, dialect) needs the dialect as a string literal, e.g. 'postgres'"
                    .into(),
            )),
        };
    });
    err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_names_the_variables_its_context_is_built_with() {
        let uses = |text: &str| Condition::compile(text).unwrap().uses();
        let u = uses("args.amount > 1.0 && agent == 'x' && args.all(k, k != 'tool')");
        assert!(u.has("args") && u.has("agent"), "{u:?}");
        for absent in ["tool", "session", "context", "cost", "usage", "now"] {
            assert!(!u.has(absent), "{absent}: {u:?}");
        }
        let both = uses("tool == 'x'").union(uses("has(context.env)"));
        assert!(both.has("tool") && both.has("context") && !both.has("args"));
    }

    #[test]
    fn gavel_functions_do_not_shadow_the_standard_library() {
        ROOT.with(|_| {});
        for (name, _) in functions::RETURNS {
            let mut probe = cel::Context::with_env(ENV.clone());
            assert!(probe.add_function(name, || true).is_ok(), "{name}");
        }
    }
}
