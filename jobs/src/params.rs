//! Named, typed job parameters and their rendering into SQL.
//!
//! A step's SQL names its parameters as `{{name}}`. Values are typed Rust values (times,
//! integers, floats, dates, text) parsed as their manifest declares them
//! ([`crate::manifest::parse_value`]); rendering writes each one as a SQL literal of its
//! type. No text a user typed is ever pasted into SQL as SQL: a value that does not parse as
//! its declared type is an error, and text becomes a quoted string literal.

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
    /// A boolean.
    Bool(bool),
    /// Text, rendered as a string literal (quotes doubled).
    Text(String),
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
            Value::Bool(b) => b.to_string(),
            Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        }
    }

    /// The value as a user writes it (`30m`, `2026-01-05`), for messages and names.
    pub fn display(&self) -> String {
        match self {
            Value::Time(t) => t.to_rfc3339(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Duration(d) => pulse_lake::schema::duration_text(*d),
            Value::Bool(b) => b.to_string(),
            Value::Text(t) => t.clone(),
        }
    }

    /// True when both are numbers, durations, dates or times and `self` is the smaller.
    pub fn less_than(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a < b,
            (Value::Float(a), Value::Float(b)) => a < b,
            (Value::Duration(a), Value::Duration(b)) => a < b,
            (Value::Date(a), Value::Date(b)) => a < b,
            (Value::Time(a), Value::Time(b)) => a < b,
            _ => false,
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

    /// A float parameter.
    pub fn float(&self, name: &str) -> Result<f64> {
        match self.get(name) {
            Some(Value::Float(f)) => Ok(*f),
            _ => Err(Error::Usage(format!("parameter {name} must be a number"))),
        }
    }

    /// A boolean parameter.
    pub fn bool(&self, name: &str) -> Result<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(Error::Usage(format!(
                "parameter {name} must be true or false"
            ))),
        }
    }

    /// A text parameter, `None` when unset.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
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
        use crate::manifest::{ParamType, parse_value};
        assert!(parse_value(ParamType::Int, "1; DROP TABLE x").is_err());
        p.insert("size", parse_value(ParamType::Duration, "5m").unwrap());
        assert_eq!(p.duration("size").unwrap(), Duration::from_secs(300));
        p.insert("who", parse_value(ParamType::Text, "o'brien").unwrap());
        assert_eq!(p.render("{{who}}").unwrap(), "'o''brien'");
        assert!(p.render("{{missing}}").is_err());
    }
}
