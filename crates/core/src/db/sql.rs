//! The portable statement text: `{name}` table names and `$1` placeholders, rewritten
//! for a module instance and a backend in one pass that leaves string literals, quoted
//! identifiers and comments untouched.

use super::DbError;

/// PostgreSQL's limit on identifier length (longer names are silently truncated there,
/// which could merge two tables; we refuse them instead).
const MAX_IDENTIFIER: usize = 63;

/// The SQL dialect a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `$1` becomes `?1`.
    Sqlite,
    /// `$1` stays.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code, reason = "spoken by the PostgreSQL backend only"))]
    Postgres,
}

/// Where a module instance's tables live: every `{name}` becomes `mod_<id>__name`.
#[derive(Clone, Debug)]
pub(crate) struct Namespace {
    id: String,
}

impl Namespace {
    /// The namespace of instance `id` (checked by the config loader: `[a-z0-9_]`).
    pub(crate) fn new(id: &str) -> Self {
        Self { id: id.to_owned() }
    }

    /// The instance id, as recorded in the migrations table.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The real name of the instance's table `name`.
    pub(crate) fn table(&self, name: &str) -> Result<String, DbError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(DbError::Sql(format!("table name `{{{name}}}`: use lowercase letters, digits and `_`")));
        }
        let full = format!("mod_{}__{name}", self.id);
        if full.len() > MAX_IDENTIFIER {
            return Err(DbError::Sql(format!(
                "table name `{full}` is longer than {MAX_IDENTIFIER} bytes; shorten `{{{name}}}` or the instance id"
            )));
        }
        Ok(full)
    }
}

/// Rewrites `sql` for `dialect`, with `{name}` resolved in `namespace` (`None`: braces
/// are refused, for the server's own statements).
pub(crate) fn rewrite(sql: &str, namespace: Option<&Namespace>, dialect: Dialect) -> Result<String, DbError> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 32);
    let mut i = 0;
    // Copies bytes[i..end] verbatim (always on char boundaries: every delimiter is ASCII).
    let copy = |out: &mut String, from: usize, to: usize| out.push_str(&sql[from..to]);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                let end = bytes[i + 1..].iter().position(|&b| b == quote).map_or(bytes.len(), |p| i + 2 + p);
                copy(&mut out, i, end);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p);
                copy(&mut out, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = sql[i + 2..].find("*/").map_or(bytes.len(), |p| i + 4 + p);
                copy(&mut out, i, end);
                i = end;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                out.push(if dialect == Dialect::Sqlite { '?' } else { '$' });
                copy(&mut out, i + 1, i + 1 + digits);
                i += 1 + digits;
            }
            b'?' => {
                return Err(DbError::Sql("write placeholders as `$1`, `$2`, ...: `?` is not portable".to_owned()));
            }
            b'{' => {
                let close = sql[i..].find('}').map(|p| i + p);
                let (Some(close), Some(namespace)) = (close, namespace) else {
                    return Err(DbError::Sql(format!(
                        "unexpected `{{` at byte {i}: table names are written `{{name}}` on a module's handle"
                    )));
                };
                out.push_str(&namespace.table(&sql[i + 1..close])?);
                i = close + 1;
            }
            _ => {
                let start = i;
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'\'' | b'"' | b'-' | b'/' | b'$' | b'?' | b'{') {
                    i += 1;
                }
                copy(&mut out, start, i);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_placeholders_are_rewritten_outside_literals() {
        let ns = Namespace::new("av");
        let sql = "SELECT x FROM {expiry} WHERE a = $1 AND b = '{not} $2 ?' -- {c} ?\n AND \"{q}\" = $12 /* ? */";
        assert_eq!(
            rewrite(sql, Some(&ns), Dialect::Sqlite).unwrap(),
            "SELECT x FROM mod_av__expiry WHERE a = ?1 AND b = '{not} $2 ?' -- {c} ?\n AND \"{q}\" = ?12 /* ? */"
        );
        assert_eq!(
            rewrite("INSERT INTO {t} VALUES ($1, 'é')", Some(&ns), Dialect::Postgres).unwrap(),
            "INSERT INTO mod_av__t VALUES ($1, 'é')"
        );
    }

    #[test]
    fn unportable_or_unsafe_text_is_refused() {
        let ns = Namespace::new("av");
        for bad in ["SELECT ?", "SELECT * FROM {Bad}", "SELECT * FROM {a b}", "SELECT {x", "SELECT * FROM {}"] {
            assert!(rewrite(bad, Some(&ns), Dialect::Sqlite).is_err(), "{bad}");
        }
        assert!(rewrite("SELECT * FROM {t}", None, Dialect::Sqlite).is_err(), "no namespace, no braces");
        let long = format!("SELECT * FROM {{{}}}", "t".repeat(60));
        assert!(rewrite(&long, Some(&ns), Dialect::Postgres).unwrap_err().to_string().contains("longer than 63"));
    }
}
