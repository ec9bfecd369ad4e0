//! The shared history: PostgreSQL, for CI shards and several machines writing one history.

use postgres::types::ToSql;

use super::{HistoryError, Store, Value};

pub(super) struct Postgres {
    url: String,
    client: postgres::Client,
}

impl Postgres {
    pub(super) fn connect(url: &str) -> Result<Postgres, HistoryError> {
        let client = postgres::Client::connect(url, postgres::NoTls)
            .map_err(|source| HistoryError::Postgres { url: redacted(url), source })?;
        Ok(Postgres { url: redacted(url), client })
    }

    fn error(&self) -> impl Fn(postgres::Error) -> HistoryError + '_ {
        |source| HistoryError::Postgres { url: self.url.clone(), source }
    }
}

/// The URL without its password, for error messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn parameters(params: &[Value]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Value::Int(n) => Box::new(*n),
                Value::Text(text) => Box::new(text.clone()),
                Value::Null => Box::new(None::<String>),
            }
        })
        .collect()
}

impl Store for Postgres {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), HistoryError> {
        let owned = parameters(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|p| p.as_ref()).collect();
        self.client
            .execute(sql, &refs)
            .map(|_| ())
            .map_err(|source| HistoryError::Postgres { url: self.url.clone(), source })
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError> {
        let owned = parameters(params);
        let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(|p| p.as_ref()).collect();
        let rows =
            self.client.query(sql, &refs).map_err(|source| HistoryError::Postgres { url: self.url.clone(), source })?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let column = &row.columns()[i];
                        let value = match *column.type_() {
                            postgres::types::Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                            postgres::types::Type::INT4 => {
                                row.try_get::<_, Option<i32>>(i).map(|v| v.map(|n| Value::Int(n.into())))
                            }
                            _ => row.try_get::<_, Option<String>>(i).map(|v| v.map(Value::Text)),
                        };
                        value.map(|v| v.unwrap_or(Value::Null)).map_err(self.error())
                    })
                    .collect()
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), HistoryError> {
        self.client.batch_execute(sql).map_err(|source| HistoryError::Postgres { url: self.url.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_messages_do_not_carry_the_password() {
        assert_eq!(super::redacted("postgres://faultline:s3cret@db:5432/h"), "postgres://faultline:***@db:5432/h");
        assert_eq!(super::redacted("postgres://db/h"), "postgres://db/h");
    }
}
