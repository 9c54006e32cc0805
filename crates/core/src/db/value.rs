//! The values statements bind and rows hold, the same on every backend.

use std::sync::Arc;

use super::DbError;

/// A bound parameter or a column value: SQLite's five storage classes, which every
/// backend maps its column types onto (PostgreSQL `BOOLEAN` reads as `Integer` 0/1,
/// `BIGINT`/`INTEGER`/`SMALLINT` as `Integer`, `DOUBLE PRECISION`/`REAL` as `Real`,
/// `TEXT`/`VARCHAR` as `Text`, `BYTEA` as `Blob`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer (also booleans: 0 or 1).
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The storage class's name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

macro_rules! value_from {
    ($($from:ty => |$v:ident| $to:expr;)*) => {
        $(impl From<$from> for Value {
            fn from($v: $from) -> Self {
                $to
            }
        })*
    };
}

value_from! {
    i64 => |v| Value::Integer(v);
    i32 => |v| Value::Integer(v.into());
    u32 => |v| Value::Integer(v.into());
    bool => |v| Value::Integer(v.into());
    f64 => |v| Value::Real(v);
    String => |v| Value::Text(v);
    &str => |v| Value::Text(v.to_owned());
    &String => |v| Value::Text(v.clone());
    Vec<u8> => |v| Value::Blob(v);
    &[u8] => |v| Value::Blob(v.to_vec());
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// A Rust type a column value converts into ([`Row::get`]).
pub trait FromValue: Sized {
    /// Converts, or says what was found instead.
    fn from_value(value: &Value) -> Result<Self, &'static str>;
}

macro_rules! from_value {
    ($($to:ty => { $($pattern:pat => $result:expr),* $(,)? })*) => {
        $(impl FromValue for $to {
            fn from_value(value: &Value) -> Result<Self, &'static str> {
                match value {
                    $($pattern => $result,)*
                    #[allow(unreachable_patterns)]
                    other => Err(other.kind()),
                }
            }
        })*
    };
}

from_value! {
    i64 => { Value::Integer(v) => Ok(*v) }
    i32 => { Value::Integer(v) => i32::try_from(*v).map_err(|_| "integer out of range") }
    u32 => { Value::Integer(v) => u32::try_from(*v).map_err(|_| "integer out of range") }
    bool => { Value::Integer(v) => Ok(*v != 0) }
    f64 => { Value::Real(v) => Ok(*v), Value::Integer(v) => Ok(*v as f64) }
    String => { Value::Text(v) => Ok(v.clone()) }
    Vec<u8> => { Value::Blob(v) => Ok(v.clone()) }
    Value => { v => Ok(v.clone()) }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row: its column names and values, read with typed getters.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code, reason = "backends build rows"))]
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// Column `index` (0-based) as `T`; [`DbError::Decode`] if it is missing or of
    /// another type (a `NULL` needs `Option<T>`).
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, DbError> {
        let value = self.values.get(index).ok_or_else(|| DbError::Decode(format!("no column {index}")))?;
        T::from_value(value).map_err(|found| {
            DbError::Decode(format!(
                "column {index} ({}) is {found}, not {}",
                self.columns.get(index).map_or("?", String::as_str),
                std::any::type_name::<T>()
            ))
        })
    }

    /// The column `name` as `T` (see [`Row::get`]).
    pub fn get_named<T: FromValue>(&self, name: &str) -> Result<T, DbError> {
        let index = self
            .columns
            .iter()
            .position(|column| column == name)
            .ok_or_else(|| DbError::Decode(format!("no column `{name}`")))?;
        self.get(index)
    }

    /// The column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_convert_and_refuse_other_types() {
        let row = Row::new(
            vec!["a".into(), "b".into(), "c".into()].into(),
            vec![Value::Integer(1), Value::Null, Value::Text("x".into())],
        );
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get::<Option<i64>>(1).unwrap(), None);
        assert_eq!(row.get_named::<String>("c").unwrap(), "x");
        let error = row.get::<i64>(2).unwrap_err().to_string();
        assert!(error.contains("column 2 (c) is text"), "{error}");
        assert!(row.get::<i64>(1).is_err(), "NULL needs Option");
        assert!(row.get::<i64>(3).is_err());
        assert_eq!(Value::from(Some(3_i32)), Value::Integer(3));
        assert_eq!(Value::from(None::<String>), Value::Null);
    }
}
