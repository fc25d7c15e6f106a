//! Functions gavel adds to CEL, for rules that plain string tests get wrong:
//!
//! - `path_within(path, dir)`: whether `path` is `dir` or below it, after lexical normalisation;
//! - `sql_kinds(sql, dialect)`: the kinds of statement a SQL text holds, from a real SQL parser;
//! - `email_domains(recipients)`: the domain of every address in an RFC 5322 address list.
//!
//! Each fails (an evaluation error, which never loosens policy) rather than guess: a NUL byte, a
//! relative directory, SQL that does not parse, an address list that does not parse or is empty.

use std::ops::ControlFlow;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cel::{ExecutionError, Value};
use sqlparser::ast::{Query, SetExpr, Statement, Visit, Visitor};

use super::strict::type_name;

pub const PATH_WITHIN: &str = "path_within";
pub const SQL_KINDS: &str = "sql_kinds";
pub const EMAIL_DOMAINS: &str = "email_domains";

/// What each function returns, for the start-up check that a condition is boolean.
pub const RETURNS: &[(&str, &str)] = &[
    (PATH_WITHIN, "bool"),
    (SQL_KINDS, "list"),
    (EMAIL_DOMAINS, "list"),
];

/// The SQL dialects `sql_kinds` knows, by the names it takes.
pub const SQL_DIALECTS: &[&str] = &[
    "ansi",
    "bigquery",
    "clickhouse",
    "databricks",
    "duckdb",
    "generic",
    "hive",
    "mssql",
    "mysql",
    "oracle",
    "postgres",
    "redshift",
    "snowflake",
    "sqlite",
];

pub fn register(ctx: &mut cel::Context<'static, 'static>) -> Result<(), cel::DeclarationError> {
    ctx.add_function(PATH_WITHIN, |path: Value, dir: Value| {
        let path = string_arg(PATH_WITHIN, "path", &path)?;
        let dir = string_arg(PATH_WITHIN, "dir", &dir)?;
        path_within(&path, &dir)
            .map(Value::Bool)
            .map_err(|e| ExecutionError::function_error(PATH_WITHIN, e))
    })?;
    ctx.add_function(SQL_KINDS, |sql: Value, dialect: Value| {
        let sql = string_arg(SQL_KINDS, "sql", &sql)?;
        let dialect = string_arg(SQL_KINDS, "dialect", &dialect)?;
        sql_kinds(&sql, &dialect)
            .map(strings)
            .map_err(|e| ExecutionError::function_error(SQL_KINDS, e))
    })?;
    ctx.add_function(EMAIL_DOMAINS, |recipients: Value| {
        let mut domains = Vec::new();
        match &recipients {
            Value::String(s) => domains.extend(email_domains(s).map_err(email_error)?),
            Value::List(items) => {
                for item in items.iter() {
                    let s = string_arg(EMAIL_DOMAINS, "recipients", item)?;
                    domains.extend(email_domains(&s).map_err(email_error)?);
                }
            }
            other => {
                return Err(ExecutionError::function_error(
                    EMAIL_DOMAINS,
                    format!(
                        "needs a string or a list of strings, not {}",
                        type_name(other)
                    ),
                ))
            }
        }
        if domains.is_empty() {
            return Err(email_error("no address".to_string()));
        }
        Ok(strings(domains))
    })?;
    Ok(())
}

fn email_error(e: String) -> ExecutionError {
    ExecutionError::function_error(EMAIL_DOMAINS, e)
}

fn string_arg(function: &str, what: &str, v: &Value) -> Result<Arc<String>, ExecutionError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(ExecutionError::function_error(
            function,
            format!("`{what}` must be a string, not {}", type_name(other)),
        )),
    }
}

fn strings(items: Vec<String>) -> Value {
    Value::List(Arc::new(
        items
            .into_iter()
            .map(|s| Value::String(Arc::new(s)))
            .collect(),
    ))
}

/// `path` lexically normalised against `dir`: `.` and empty segments dropped, `..` removes the
/// previous segment (never above `/`), a relative `path` is taken relative to `dir`.
fn normalise(path: &str, dir: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let joined = dir.join(path);
    for c in joined.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(seg) => out.push(seg),
        }
    }
    out
}

/// Whether `path` is `dir` or inside it, by the text alone (symbolic links are not followed:
/// a link inside `dir` that points elsewhere is not seen). `dir` must be absolute; NUL bytes
/// and empty values are refused.
pub fn path_within(path: &str, dir: &str) -> Result<bool, String> {
    if path.contains('\0') || dir.contains('\0') {
        return Err("a path with a NUL byte".into());
    }
    if path.is_empty() || dir.is_empty() {
        return Err("an empty path".into());
    }
    if !dir.starts_with('/') {
        return Err(format!("the directory `{dir}` is not absolute"));
    }
    let root = normalise(".", Path::new(dir));
    let target = normalise(path, &root);
    Ok(target.starts_with(&root))
}

/// The kinds of statement in `sql` as `dialect` parses it, including statements nested in
/// others (a data-modifying `WITH`, `EXPLAIN ANALYZE`, `PREPARE`): `select`, `insert`, `update`,
/// `delete`, `drop`, `truncate`, `create_table`, `alter_table`, `grant`, … (the parser's statement
/// name in snake case; a query is `select`, and `select_into` when it creates a table).
pub fn sql_kinds(sql: &str, dialect: &str) -> Result<Vec<String>, String> {
    let d = sql_dialect(dialect)?;
    let statements = sqlparser::parser::Parser::parse_sql(d.as_ref(), sql)
        .map_err(|e| format!("the SQL does not parse as {dialect}: {e}"))?;
    if statements.is_empty() {
        return Err("no SQL statement".into());
    }
    let mut kinds = Kinds(Vec::new());
    let _ = statements.visit(&mut kinds);
    let mut kinds = kinds.0;
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

pub fn sql_dialect(name: &str) -> Result<Box<dyn sqlparser::dialect::Dialect>, String> {
    if !SQL_DIALECTS.contains(&name) {
        return Err(format!(
            "unknown SQL dialect `{name}` (known: {})",
            SQL_DIALECTS.join(", ")
        ));
    }
    sqlparser::dialect::dialect_from_str(name)
        .ok_or_else(|| format!("unknown SQL dialect `{name}`"))
}

struct Kinds(Vec<String>);

impl Visitor for Kinds {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.0.push(statement_kind(statement));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if selects_into(&query.body) {
            self.0.push("select_into".into());
        }
        ControlFlow::Continue(())
    }
}

fn selects_into(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(s) => s.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => selects_into(left) || selects_into(right),
        _ => false,
    }
}

/// `CreateTable` → `create_table`; a query is `select`.
fn statement_kind(statement: &Statement) -> String {
    if matches!(statement, Statement::Query(_)) {
        return "select".into();
    }
    let debug = format!("{statement:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The lower-cased domain of every address in `list`, an RFC 5322 address list (display
/// names, quoted local parts, groups). Refused: anything that does not parse, an address
/// without exactly one domain, source routes, domain literals.
pub fn email_domains(list: &str) -> Result<Vec<String>, String> {
    if list.contains(['\0', '\r', '\n']) {
        return Err("an address list with a line break or NUL".into());
    }
    let parsed =
        mailparse::addrparse(list).map_err(|e| format!("`{list}` is not an address list: {e}"))?;
    let mut out = Vec::new();
    for addr in parsed.iter() {
        let singles: Vec<&mailparse::SingleInfo> = match addr {
            mailparse::MailAddr::Single(s) => vec![s],
            mailparse::MailAddr::Group(g) => g.addrs.iter().collect(),
        };
        for s in singles {
            out.push(domain_of(&s.addr)?);
        }
    }
    Ok(out)
}

fn domain_of(addr: &str) -> Result<String, String> {
    let bad = || format!("`{addr}` is not a plain address");
    // The domain follows the last `@`; a quoted local part may hold `@` itself.
    let (local, domain) = addr.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.starts_with('@')
        || domain.is_empty()
        || domain.starts_with('[')
        || addr.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    if local.contains(':') && !local.starts_with('"') {
        return Err(bad());
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty()
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        || domain.split('.').any(str::is_empty)
    {
        return Err(bad());
    }
    Ok(domain.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_within_normalises_lexically() {
        let dir = "/home/u/proj";
        for (path, inside) in [
            ("/home/u/proj/src/main.rs", true),
            ("/home/u/proj", true),
            ("/home/u/proj/", true),
            ("src/main.rs", true),
            ("./src/../README.md", true),
            ("/home/u/proj//src///x", true),
            ("/home/u/proj/a/../../proj/b", true),
            ("/home/u/proj/../proj2/x", false),
            ("/home/u/proj2/x", false),
            ("/home/u/proj2", false),
            ("/home/u/projX", false),
            ("../proj2/x", false),
            ("../../../../etc/passwd", false),
            ("/etc/passwd", false),
            ("/home/u/proj/src/../../x", false),
            ("/", false),
        ] {
            assert_eq!(path_within(path, dir), Ok(inside), "{path}");
        }
        assert_eq!(path_within("/home/u/proj/x", "/home/u/proj/"), Ok(true));
        assert_eq!(path_within("/home/u/x", "/home/u/proj/.."), Ok(true));
        assert!(path_within("/home/u/proj/x\0", dir).is_err());
        assert!(path_within("x", "relative/dir").is_err());
        assert!(path_within("", dir).is_err());
        assert!(path_within("x", "").is_err());
    }

    #[test]
    fn sql_kinds_classify_with_a_real_parser() {
        let k = |sql: &str| sql_kinds(sql, "postgres");
        assert_eq!(k("SELECT 1").unwrap(), ["select"]);
        assert_eq!(k("DROP TABLE users").unwrap(), ["drop"]);
        assert_eq!(k("DROP/**/TABLE users").unwrap(), ["drop"]);
        assert_eq!(k("drop\n\ttable users").unwrap(), ["drop"]);
        assert_eq!(k("TRUNCATE users").unwrap(), ["truncate"]);
        assert_eq!(
            k("SELECT 1; DELETE FROM users").unwrap(),
            ["delete", "select"]
        );
        assert_eq!(k("UPDATE t SET x = 1 WHERE id = 2").unwrap(), ["update"]);
        assert!(
            k("WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d")
                .unwrap()
                .contains(&"delete".to_string())
        );
        assert!(k("EXPLAIN ANALYZE DELETE FROM users")
            .unwrap()
            .contains(&"delete".to_string()));
        assert!(k("SELECT * INTO copy FROM users")
            .unwrap()
            .contains(&"select_into".to_string()));
        assert_eq!(
            k("ALTER TABLE t ADD COLUMN c int").unwrap(),
            ["alter_table"]
        );
        assert!(k("DROP TABLE").is_err());
        assert!(k("").is_err());
        assert!(k("-- nothing").is_err());
        assert!(sql_kinds("SELECT 1", "postgresql").is_err());
        assert!(sql_kinds("SELECT 1", "nosuch").is_err());
    }

    #[test]
    fn email_domains_parse_address_lists() {
        let d = |s: &str| email_domains(s);
        assert_eq!(d("a@example.com").unwrap(), ["example.com"]);
        assert_eq!(
            d("a@evil.com, b@example.com").unwrap(),
            ["evil.com", "example.com"]
        );
        assert_eq!(
            d("\"Bob, at example.com\" <b@Evil.COM>").unwrap(),
            ["evil.com"]
        );
        // An address in the display name is not where the mail goes: refused or the real one.
        assert!(d("b@example.com <x@evil.com>")
            .map(|v| v == ["evil.com"])
            .unwrap_or(true));
        assert!(d("\"x@example.com\"@evil.com")
            .map(|v| v == ["evil.com"])
            .unwrap_or(true));
        assert!(d("<@evil.com:b@example.com>").is_err());
        assert_eq!(
            d("team: a@example.com, b@evil.com;").unwrap(),
            ["example.com", "evil.com"]
        );
        assert_eq!(d("a@example.com.").unwrap(), ["example.com"]);
        for bad in [
            "",
            "nobody",
            "a@",
            "@example.com",
            "a@[10.0.0.1]",
            "a@example.com\r\nBcc: x@evil.com",
            "a@exa mple.com",
        ] {
            assert!(d(bad).map(|v| v.is_empty()).unwrap_or(true), "{bad:?}");
        }
    }
}
