//! Named, typed job parameters and their rendering into SQL.
//!
//! A step's SQL names its parameters as `{{name}}`. Values are typed Rust values (times,
//! integers, floats, dates) parsed from flags by [`Params::set`]; rendering writes each one as
//! a SQL literal of its type. No text a user typed is ever pasted into SQL: a value that does
//! not parse as its declared type is an error.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::{Error, Result};

/// A parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UTC instant, rendered as a `Timestamp(µs, "UTC")` literal.
    Time(DateTime<Utc>),
    /// A date, rendered as a `'YYYY-MM-DD'` string (the `dt` partition format).
    Date(NaiveDate),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A duration, rendered as whole microseconds.
    Duration(Duration),
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Time(t) => format!(
                "arrow_cast({}, 'Timestamp(µs, \"UTC\")')",
                t.timestamp_micros()
            ),
            Value::Date(d) => format!("'{}'", d.format("%Y-%m-%d")),
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_finite() => format!("{f:?}"),
            Value::Float(_) => "NULL".to_string(),
            Value::Duration(d) => d.as_micros().to_string(),
        }
    }
}

/// A job's parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(BTreeMap<String, Value>);

/// Parses a time: RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

impl Params {
    /// Sets a value.
    pub fn insert(&mut self, name: &str, v: Value) {
        self.0.insert(name.to_string(), v);
    }

    /// A value by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A duration parameter.
    pub fn duration(&self, name: &str) -> Result<Duration> {
        match self.get(name) {
            Some(Value::Duration(d)) => Ok(*d),
            _ => Err(Error::Usage(format!("parameter {name} must be a duration"))),
        }
    }

    /// A time parameter.
    pub fn time(&self, name: &str) -> Result<DateTime<Utc>> {
        match self.get(name) {
            Some(Value::Time(t)) => Ok(*t),
            _ => Err(Error::Usage(format!("parameter {name} must be a time"))),
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<i64> {
        match self.get(name) {
            Some(Value::Int(i)) => Ok(*i),
            _ => Err(Error::Usage(format!("parameter {name} must be an integer"))),
        }
    }

    /// Overrides an existing parameter from text, parsed as the type it already has.
    pub fn set(&mut self, name: &str, text: &str) -> Result<()> {
        let bad = |what: &str| Error::Usage(format!("parameter {name}: {text:?} is not {what}"));
        let v = match self.0.get(name) {
            None => {
                let known: Vec<&String> = self.0.keys().collect();
                return Err(Error::Usage(format!(
                    "unknown parameter {name}; this job takes {known:?}"
                )));
            }
            Some(Value::Time(_)) => Value::Time(parse_time(text).ok_or_else(|| bad("a time"))?),
            Some(Value::Date(_)) => {
                Value::Date(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad("a date"))?)
            }
            Some(Value::Int(_)) => Value::Int(text.parse().map_err(|_| bad("an integer"))?),
            Some(Value::Float(_)) => Value::Float(text.parse().map_err(|_| bad("a number"))?),
            Some(Value::Duration(_)) => Value::Duration(
                humantime::parse_duration(text).map_err(|_| bad("a duration like 30s or 5m"))?,
            ),
        };
        self.0.insert(name.to_string(), v);
        Ok(())
    }

    /// Replaces every `{{name}}` in `sql` with its value's literal.
    pub fn render(&self, sql: &str) -> Result<String> {
        let mut out = String::with_capacity(sql.len());
        let mut rest = sql;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let j = after
                .find("}}")
                .ok_or_else(|| Error::Usage("unclosed {{ in job SQL".into()))?;
            let name = after[..j].trim();
            let v = self
                .0
                .get(name)
                .ok_or_else(|| Error::Usage(format!("job SQL names unknown parameter {name}")))?;
            out.push_str(&v.render());
            rest = &after[j + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_typed_literals_and_text_never_pastes() {
        let mut p = Params::default();
        p.insert("start", Value::Time(parse_time("2026-01-05").unwrap()));
        p.insert("size", Value::Duration(Duration::from_secs(20)));
        p.insert("k", Value::Int(10));
        assert_eq!(
            p.render("x >= {{start}} AND s = {{ size }} LIMIT {{k}}")
                .unwrap(),
            "x >= arrow_cast(1767571200000000, 'Timestamp(µs, \"UTC\")') AND s = 20000000 LIMIT 10"
        );
        assert!(p.set("k", "1; DROP TABLE x").is_err());
        assert!(p.set("nope", "1").is_err());
        p.set("size", "5m").unwrap();
        assert_eq!(p.duration("size").unwrap(), Duration::from_secs(300));
        assert!(p.render("{{missing}}").is_err());
    }
}
