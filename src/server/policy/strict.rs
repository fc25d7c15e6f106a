//! Relations that refuse to compare values of different types.
//!
//! CEL as the `cel` crate evaluates it answers `['x'] != 'production'` with `true` and
//! `null == 'x'` with `false`: a list or a null where a string was meant silently makes a
//! condition true or false. The crate hard-wires `==` and `!=` in its interpreter, so conditions
//! are rewritten after parsing: every `==`, `!=`, `<`, `<=`, `>`, `>=` and `in` becomes a call to
//! one of the functions below, which give an evaluation error for operands of different types
//! (which never loosens policy). Numbers compare with numbers whatever their kind (int, uint,
//! double), exactly, as CEL specifies.

use std::cmp::Ordering;
use std::sync::Arc;

use cel::common::ast::{operators, Expr, IdedExpr};
use cel::objects::Key;
use cel::{ExecutionError, Value};

pub const EQ: &str = "@gavel_eq";
pub const NE: &str = "@gavel_ne";
pub const LT: &str = "@gavel_lt";
pub const LE: &str = "@gavel_le";
pub const GT: &str = "@gavel_gt";
pub const GE: &str = "@gavel_ge";
pub const IN: &str = "@gavel_in";

/// The strict function standing in for a CEL relation operator.
fn strict_name(operator: &str) -> Option<&'static str> {
    Some(match operator {
        operators::EQUALS => EQ,
        operators::NOT_EQUALS => NE,
        operators::LESS => LT,
        operators::LESS_EQUALS => LE,
        operators::GREATER => GT,
        operators::GREATER_EQUALS => GE,
        operators::IN => IN,
        _ => return None,
    })
}

/// Rewrites every relation in `expr` (macro expansions included) into its strict function.
pub fn rewrite(expr: &mut IdedExpr) {
    match &mut expr.expr {
        Expr::Call(call) => {
            if call.target.is_none() && call.args.len() == 2 {
                if let Some(name) = strict_name(&call.func_name) {
                    call.func_name = name.to_string();
                }
            }
            if let Some(t) = call.target.as_deref_mut() {
                rewrite(t);
            }
            call.args.iter_mut().for_each(rewrite);
        }
        Expr::Comprehension(c) => {
            for e in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                rewrite(e);
            }
        }
        Expr::List(l) => l.elements.iter_mut().for_each(rewrite),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(e) = &mut entry.expr {
                    rewrite(&mut e.key);
                    rewrite(&mut e.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let cel::common::ast::EntryExpr::StructField(f) = &mut entry.expr {
                    rewrite(&mut f.value);
                }
            }
        }
        Expr::Select(s) => rewrite(&mut s.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// Registers the strict relations on a context.
pub fn register(ctx: &mut cel::Context<'static, 'static>) -> Result<(), cel::DeclarationError> {
    ctx.add_function(EQ, |a: Value, b: Value| {
        equal("==", &a, &b).map(Value::Bool)
    })?;
    ctx.add_function(NE, |a: Value, b: Value| {
        equal("!=", &a, &b).map(|e| Value::Bool(!e))
    })?;
    ctx.add_function(LT, |a: Value, b: Value| {
        order("<", &a, &b).map(|o| Value::Bool(o == Ordering::Less))
    })?;
    ctx.add_function(LE, |a: Value, b: Value| {
        order("<=", &a, &b).map(|o| Value::Bool(o != Ordering::Greater))
    })?;
    ctx.add_function(GT, |a: Value, b: Value| {
        order(">", &a, &b).map(|o| Value::Bool(o == Ordering::Greater))
    })?;
    ctx.add_function(GE, |a: Value, b: Value| {
        order(">=", &a, &b).map(|o| Value::Bool(o != Ordering::Less))
    })?;
    ctx.add_function(IN, |a: Value, b: Value| {
        contains("in", &b, &a).map(Value::Bool)
    })?;
    Ok(())
}

/// The CEL type name of a value, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Duration(_) => "duration",
        Value::Timestamp(_) => "timestamp",
        Value::Opaque(_) => "opaque",
        Value::Struct(_) => "struct",
        Value::Null => "null",
    }
}

fn mismatch(op: &str, a: &Value, b: &Value) -> ExecutionError {
    ExecutionError::function_error(
        op,
        format!(
            "cannot compare {} with {} (values of different types never compare)",
            type_name(a),
            type_name(b)
        ),
    )
}

/// A number of any CEL kind, for exact comparison.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn number(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::Int(*i as i128)),
        Value::UInt(u) => Some(Num::Int(*u as i128)),
        Value::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

/// Exact comparison of two numbers; `None` when one is NaN.
fn compare_numbers(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
        (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
        (Num::Int(i), Num::Float(f)) => compare_int_float(i, f),
        (Num::Float(f), Num::Int(i)) => compare_int_float(i, f).map(Ordering::reverse),
    }
}

/// `i` against `f` without rounding `i` (an i128 holds every i64 and u64).
fn compare_int_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Beyond ±2^100 no i64/u64 can reach; below, the float's floor is an exact i128.
    const LIMIT: f64 = 1.267_650_600_228_229_4e30;
    if f >= LIMIT {
        return Some(Ordering::Less);
    }
    if f <= -LIMIT {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    let fi = floor as i128;
    Some(match i.cmp(&fi) {
        Ordering::Equal if floor < f => Ordering::Less,
        other => other,
    })
}

/// `a == b`, or an error when they are of different types.
pub fn equal(op: &str, a: &Value, b: &Value) -> Result<bool, ExecutionError> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Ok(compare_numbers(x, y) == Some(Ordering::Equal));
    }
    Ok(match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Timestamp(x), Value::Timestamp(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                return Ok(false);
            }
            for (p, q) in x.iter().zip(y.iter()) {
                if !equal(op, p, q)? {
                    return Ok(false);
                }
            }
            true
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.map.len() != y.map.len() {
                return Ok(false);
            }
            for (k, v) in x.map.iter() {
                match y.map.get(k) {
                    Some(w) => {
                        if !equal(op, v, w)? {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            true
        }
        // Type values (`type(x) == string`) and other opaque values of one kind.
        (Value::Opaque(_), Value::Opaque(_)) => a == b,
        _ => return Err(mismatch(op, a, b)),
    })
}

/// The order of `a` and `b`, or an error when they are of different or unordered types.
pub fn order(op: &str, a: &Value, b: &Value) -> Result<Ordering, ExecutionError> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return compare_numbers(x, y)
            .ok_or_else(|| ExecutionError::function_error(op, "NaN is not ordered"));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Ok(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        _ if type_name(a) == type_name(b) => Err(ExecutionError::function_error(
            op,
            format!("{} values are not ordered", type_name(a)),
        )),
        _ => Err(mismatch(op, a, b)),
    }
}

/// `needle in haystack`: a list holds it (compared strictly, element by element), or a map has
/// it as a key of the same type.
pub fn contains(op: &str, haystack: &Value, needle: &Value) -> Result<bool, ExecutionError> {
    match haystack {
        Value::List(items) => {
            for item in items.iter() {
                if equal(op, needle, item)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Value::Map(map) => {
            for key in map.map.keys() {
                let key = Value::from(key);
                if equal(op, needle, &key)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        other => Err(ExecutionError::function_error(
            op,
            format!(
                "`in` needs a list or a map on its right, not {}",
                type_name(other)
            ),
        )),
    }
}

/// An agent's JSON as a CEL value: integers are `int` when they fit (as CEL literals are), `uint`
/// above, other numbers `double`.
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (None, None, Some(f)) => Value::Float(f),
            // Unreachable without serde_json's arbitrary precision: refuse to compare it.
            (None, None, None) => Value::Float(f64::NAN),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(from_json).collect())),
        serde_json::Value::Object(o) => {
            let map: std::collections::HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), from_json(v)))
                .collect();
            Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
    }
}
