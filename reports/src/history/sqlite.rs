//! The default history: one SQLite file (bundled SQLite, no system library to match).

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{HistoryError, Store, Value};

pub(super) struct Sqlite {
    path: String,
    connection: rusqlite::Connection,
}

impl Sqlite {
    pub(super) fn open(path: &str) -> Result<Sqlite, HistoryError> {
        let error = |source| HistoryError::Sqlite { path: path.to_string(), source };
        let connection = rusqlite::Connection::open(path).map_err(error)?;
        // Shards on one machine may write at once: wait for the lock rather than fail.
        connection.busy_timeout(std::time::Duration::from_secs(30)).map_err(error)?;
        Ok(Sqlite { path: path.to_string(), connection })
    }

    fn error(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        |source| HistoryError::Sqlite { path: self.path.clone(), source }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(n) => ToSqlOutput::from(*n),
            Value::Text(text) => ToSqlOutput::from(text.as_str()),
            Value::Null => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

impl Store for Sqlite {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), HistoryError> {
        self.connection.execute(sql, rusqlite::params_from_iter(params)).map(|_| ()).map_err(self.error())
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError> {
        let mut statement = self.connection.prepare(sql).map_err(self.error())?;
        let columns = statement.column_count();
        let rows = statement
            .query_map(rusqlite::params_from_iter(params), |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Integer(n) => Value::Int(n),
                            ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                            _ => Value::Null,
                        })
                    })
                    .collect::<rusqlite::Result<Vec<Value>>>()
            })
            .map_err(self.error())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.error());
        rows
    }

    fn batch(&mut self, sql: &str) -> Result<(), HistoryError> {
        self.connection.execute_batch(sql).map_err(self.error())
    }
}
