//! The journal's database, behind one small interface: statements with `?N` parameters, values
//! of four kinds, rows read by position or name, and write transactions. Every query of the
//! journal, the outbox and the events is written once against it; what differs between
//! databases (how a connection is opened, tuned and migrated) stays with the connection.

use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};

/// A value in or out of a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// What a statement failed with.
#[derive(Debug, Clone)]
pub struct DbError {
    pub message: String,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl DbError {
    pub fn new(message: impl ToString) -> DbError {
        DbError { message: message.to_string() }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::new(e)
    }
}

/// A Rust value as a statement's parameter.
pub trait Param {
    fn value(&self) -> Value;
}

/// A Rust value from a column.
pub trait FromValue: Sized {
    fn from_value(value: Value) -> Result<Self, String>;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl Param for i64 {
    fn value(&self) -> Value {
        Value::Int(*self)
    }
}

impl Param for u32 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl Param for u8 {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl Param for bool {
    fn value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Param for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl Param for [u8] {
    fn value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value {
        Value::Bytes(self.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Int(n) => Ok(n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromValue for u32 {
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).and_then(|n| u32::try_from(n).map_err(|e| e.to_string()))
    }
}

impl FromValue for u8 {
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).and_then(|n| u8::try_from(n).map_err(|e| e.to_string()))
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, String> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Bytes(b) => Ok(b),
            Value::Text(s) => Ok(s.into_bytes()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}

/// The parameters of a statement: `args![id, name, None::<i64>]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        [$($crate::journal::db::Param::value(&$value)),*]
    };
}

pub(crate) use args;

/// One row of a result.
#[derive(Debug, Clone)]
pub struct Row {
    values: Vec<Value>,
    names: Arc<[String]>,
}

impl Row {
    /// The value of column `index`.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, DbError> {
        let value = self.values.get(index).cloned().unwrap_or(Value::Null);
        T::from_value(value).map_err(|why| DbError::new(format!("column {index}: {why}")))
    }

    /// The value of the column called `name`.
    pub fn named<T: FromValue>(&self, name: &str) -> Result<T, DbError> {
        let index = self.names.iter().position(|n| n == name);
        let index = index.ok_or_else(|| DbError::new(format!("no column {name}")))?;
        self.get(index).map_err(|e| DbError::new(format!("{name}: {e}")))
    }
}

impl rusqlite::types::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Int(f as i64),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

/// Runs statements on a SQLite connection.
pub trait Statements {
    fn sqlite(&self) -> &rusqlite::Connection;

    /// Runs `sql` with `args`; the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self.sqlite().prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(args))? as u64)
    }

    /// The rows `sql` with `args` selects.
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.sqlite().prepare_cached(sql)?;
        let names: Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
        let count = names.len();
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..count).map(|i| row.get_ref(i).map(from_sqlite)).collect::<Result<_, _>>()?;
            out.push(Row { values, names: Arc::clone(&names) });
        }
        Ok(out)
    }

    /// The first row `sql` selects, if any.
    fn query_opt(&self, sql: &str, args: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// `INSERT ... RETURNING id`: the id of the row it inserted.
    fn insert(&self, sql: &str, args: &[Value]) -> Result<i64, DbError> {
        let row = self.query_opt(sql, args)?.ok_or_else(|| DbError::new("the insert returned no id"))?;
        row.get(0)
    }
}

impl Statements for rusqlite::Connection {
    fn sqlite(&self) -> &rusqlite::Connection {
        self
    }
}

/// A write transaction (SQLite: `BEGIN IMMEDIATE`, so it waits for the write lock up front).
pub struct Tx<'c> {
    conn: &'c rusqlite::Connection,
}

impl Statements for Tx<'_> {
    fn sqlite(&self) -> &rusqlite::Connection {
        self.conn
    }
}

/// Runs `f` in a write transaction on `conn`: committed when it returns `Ok`, else rolled back.
pub fn write<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&Tx<'_>) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let value = f(&Tx { conn })?;
    tx.commit()?;
    Ok(value)
}
