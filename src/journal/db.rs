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

/// What runs statements: a connection, or a transaction on one. `sql` is written once for both
/// databases, with `?N` parameters (PostgreSQL gets them as `$N`).
pub trait Statements {
    /// Runs `sql` with `args`; the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError>;

    /// The rows `sql` with `args` selects.
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError>;

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

/// A connection to the journal's database.
pub enum Db {
    Sqlite(rusqlite::Connection),
    /// `postgres::Client` wants `&mut` for every statement; the journal is used by one thread
    /// at a time, so a `RefCell` gives it that behind `&self`.
    Postgres(std::cell::RefCell<postgres::Client>),
}

/// A write transaction: SQLite's `BEGIN IMMEDIATE` (the write lock taken up front, where the
/// busy timeout applies), PostgreSQL's `BEGIN`.
pub enum Tx<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(std::cell::RefCell<postgres::Transaction<'c>>),
}

impl Statements for Db {
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(conn) => sqlite_execute(conn, sql, args),
            Db::Postgres(client) => pg_execute(&mut *client.borrow_mut(), sql, args),
        }
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(conn) => sqlite_query(conn, sql, args),
            Db::Postgres(client) => pg_query(&mut *client.borrow_mut(), sql, args),
        }
    }
}

impl Statements for Tx<'_> {
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match self {
            Tx::Sqlite(conn) => sqlite_execute(conn, sql, args),
            Tx::Postgres(tx) => pg_execute(&mut *tx.borrow_mut(), sql, args),
        }
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Tx::Sqlite(conn) => sqlite_query(conn, sql, args),
            Tx::Postgres(tx) => pg_query(&mut *tx.borrow_mut(), sql, args),
        }
    }
}

impl Db {
    /// Runs `f` in a write transaction: committed when it returns `Ok`, else rolled back.
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, DbError>) -> Result<T, DbError> {
        match self {
            Db::Sqlite(conn) => {
                let tx =
                    rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
                let value = f(&Tx::Sqlite(conn))?;
                tx.commit()?;
                Ok(value)
            }
            Db::Postgres(client) => {
                let mut client = client.borrow_mut();
                let tx = Tx::Postgres(std::cell::RefCell::new(client.transaction()?));
                let value = f(&tx)?;
                let Tx::Postgres(tx) = tx else { unreachable!("made as Postgres above") };
                tx.into_inner().commit()?;
                Ok(value)
            }
        }
    }
}

fn sqlite_execute(conn: &rusqlite::Connection, sql: &str, args: &[Value]) -> Result<u64, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(args))? as u64)
}

fn sqlite_query(conn: &rusqlite::Connection, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
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

/// `?N` as PostgreSQL writes it: `$N`. (The journal's SQL has no `?` inside a string.)
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// `sql` on a PostgreSQL connection or transaction; the number of rows it changed.
fn pg_execute(client: &mut impl postgres::GenericClient, sql: &str, args: &[Value]) -> Result<u64, DbError> {
    Ok(client.execute(pg_sql(sql).as_str(), &pg_args(args))?)
}

/// The rows `sql` selects on a PostgreSQL connection or transaction.
fn pg_query(
    client: &mut impl postgres::GenericClient,
    sql: &str,
    args: &[Value],
) -> Result<Vec<Row>, DbError> {
    let rows = client.query(pg_sql(sql).as_str(), &pg_args(args))?;
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    let names: Arc<[String]> = first.columns().iter().map(|c| c.name().to_owned()).collect();
    rows.iter()
        .map(|row| {
            let values = (0..names.len()).map(|i| row.try_get::<_, Value>(i)).collect::<Result<_, _>>()?;
            Ok(Row { values, names: Arc::clone(&names) })
        })
        .collect()
}

fn pg_args(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync)).collect()
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        // The server's own words (with the failing detail) when it gave some.
        match e.as_db_error() {
            Some(db) => DbError::new(format!("{}: {}", db.severity(), db.message())),
            None => DbError::new(e),
        }
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Text(s) if *ty == Type::BYTEA => s.as_bytes().to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Bytes(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned().to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> postgres::types::FromSql<'a> for Value {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::BYTEA => Value::Bytes(Vec::<u8>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &postgres::types::Type) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}
