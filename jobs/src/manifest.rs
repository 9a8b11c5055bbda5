//! A job's definition, `job.toml`: what it is called and computes, its typed parameters
//! with defaults and checks, the interval it works on, what it reads and writes (with the
//! outputs' columns), the jobs it depends on and its place in the nightly DAG. SQL jobs are a
//! folder of this manifest and numbered SQL files (the steps); jobs written in Rust carry the
//! same manifest (without steps). docs/jobs.md describes the format.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::params::{Params, Value};
use crate::{Error, Result};

/// `job.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The job's name (`pulse run <name>`): lower case letters, digits and `-`.
    pub name: String,
    /// What it computes, one line.
    pub description: String,
    /// Whether it runs over any range of days at once or one day at a time.
    #[serde(default)]
    pub interval: IntervalKind,
    /// Whether each day continues the job's own output of the day before (a day cannot be
    /// skipped; the nightly plan chains the days). Needs `interval = "day"`.
    #[serde(default)]
    pub chain: bool,
    /// Another job whose outputs this one writes too, computed another way (e.g. rebuilt from
    /// all history).
    #[serde(default)]
    pub variant_of: Option<String>,
    /// The tables it reads: raw tables, reference tables, other jobs' outputs.
    #[serde(default)]
    pub reads: Vec<String>,
    /// Jobs that must have run for the same date before this one (the nightly order).
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Its part in the nightly DAG; absent: not run nightly.
    #[serde(default)]
    pub nightly: Option<Nightly>,
    /// The suffix of output names (`{suffix}` in them): text with `{param}` placeholders.
    #[serde(default)]
    pub suffix: String,
    /// Typed parameters, set with `--set NAME=VALUE`.
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    /// How far before the interval the input starts (a SQL expression in microseconds over
    /// the parameters): gives `read_from`, `read_from_us` and `read_from_date`.
    #[serde(default)]
    pub lookback: Option<String>,
    /// Parameters derived from the others, in order: SQL expressions over the parameters.
    #[serde(default)]
    pub derived: Vec<Derived>,
    /// Parameters computed from the data before the steps run: SQL returning one integer.
    #[serde(default)]
    pub data: Vec<Derived>,
    /// Conditions the parameters must meet (SQL over them), with the message if not.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The SQL steps, in order (SQL jobs only).
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// The tables it writes, under `agg/`.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// Tables it reads that may not exist (reference files): empty with these columns then.
    #[serde(default)]
    pub optional_inputs: Vec<OutputSpec>,
}

/// The interval a job works on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalKind {
    /// Any range of whole days, in one run.
    #[default]
    Range,
    /// One day at a time: a longer range runs day by day, in order.
    Day,
}

/// A job's part in the nightly DAG.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nightly {
    /// Its parameters in the DAG, over the defaults (`NAME = "VALUE"`).
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Runs after every other nightly job of the date (e.g. vacuum).
    #[serde(default)]
    pub last: bool,
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A duration like `30s` or `1h`, in SQL whole microseconds.
    Duration,
    /// A 64-bit integer.
    Int,
    /// A 64-bit float.
    Float,
    /// `true` or `false`.
    Bool,
    /// Text, in SQL a string literal.
    Text,
    /// A date `YYYY-MM-DD`, in SQL the string `'YYYY-MM-DD'`.
    Date,
}

/// A parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ParamType,
    /// Its value unless set; absent: unset unless given.
    #[serde(default)]
    pub default: Option<toml::Value>,
    /// The smallest value allowed (numbers and durations).
    #[serde(default)]
    pub min: Option<toml::Value>,
    /// The largest value allowed.
    #[serde(default)]
    pub max: Option<toml::Value>,
    /// What it means, one line.
    #[serde(default)]
    pub doc: String,
}

/// A named SQL expression (`derived`) or query (`data`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    /// The parameter it sets.
    pub name: String,
    /// The SQL.
    pub sql: String,
}

/// A condition on the parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A SQL boolean expression over the parameters.
    pub sql: String,
    /// The error when it is false; `{param}` shows a parameter's value.
    pub message: String,
}

/// What a step does with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Registered as a view for later steps (recomputed by each step that reads it).
    View,
    /// Computed once and written to a scratch table (`tmp/<job>-<suffix>-<run>/<name>/` in the
    /// lake) that later steps read; removed when the run ends.
    Materialize,
    /// Written to `agg/<name>/dt=D/` for each day of the interval (the result needs a `dt`
    /// column), then registered under its name: one of the job's outputs.
    Output,
}

/// A SQL step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The SQL file, in the job's folder.
    pub file: String,
    /// The view or table it makes; `{suffix}` is replaced by the job's suffix.
    pub name: String,
    /// View, materialize or output.
    pub kind: StepKind,
}

/// A table the job writes (or an optional input), with its columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The table; `{suffix}` is replaced by the job's suffix.
    pub name: String,
    /// Its columns besides `dt`, in order: `"name type"` (string, bigint, int, ubigint,
    /// double, boolean, date, timestamp, or an Arrow type such as `Float32`).
    pub columns: Vec<String>,
    /// The partition column: `dt`, the day (`YYYY-MM-DD`) a row belongs to.
    #[serde(default = "dt")]
    pub partition_by: String,
}

fn dt() -> String {
    "dt".into()
}

impl Manifest {
    /// Parses `text` (the file `origin`, named in errors with the line).
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let m: Manifest =
            toml::from_str(text).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        m.validate(origin)?;
        Ok(m)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |what: String| Err(Error::Usage(format!("{origin}: {what}")));
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !name_ok(&self.name) {
            return bad(format!(
                "job name {:?}: use lower case letters, digits and -",
                self.name
            ));
        }
        if self.chain && self.interval != IntervalKind::Day {
            return bad("chain = true needs interval = \"day\"".into());
        }
        for (name, spec) in &self.params {
            if !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return bad(format!(
                    "parameter {name:?}: use lower case letters, digits and _"
                ));
            }
            for v in [&spec.default, &spec.min, &spec.max].into_iter().flatten() {
                parse_value(spec.kind, &toml_text(v))
                    .map_err(|e| Error::Usage(format!("{origin}: parameter {name}: {e}")))?;
            }
            if SHARED.contains(&name.as_str()) {
                return bad(format!("parameter {name:?} is set by every run: rename it"));
            }
        }
        if let Some(n) = &self.nightly {
            for k in n.set.keys() {
                if !self.params.contains_key(k) {
                    return bad(format!("[nightly] set names unknown parameter {k:?}"));
                }
            }
        }
        let outputs: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
        for o in self.outputs.iter().chain(&self.optional_inputs) {
            if o.partition_by != "dt" {
                return bad(format!(
                    "output {}: partition_by {:?}: outputs are partitioned by dt",
                    o.name, o.partition_by
                ));
            }
            columns(o).map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        }
        for o in &outputs {
            let plain = o.replace("{suffix}", "");
            if !plain
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return bad(format!(
                    "output {o:?}: use lower case letters, digits and _"
                ));
            }
        }
        for s in &self.steps {
            if s.kind == StepKind::Output && !outputs.contains(&s.name.as_str()) {
                return bad(format!(
                    "step {} ({}) writes an output not listed in [[outputs]]",
                    s.name, s.file
                ));
            }
        }
        Ok(())
    }

    /// The parameters of a run over `[start, end)`: the defaults, then `set` (`NAME=VALUE`
    /// pairs, each parsed as its parameter's type), then `start` and `end`.
    pub fn params(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        set: &[(String, String)],
    ) -> Result<Params> {
        let mut p = Params::default();
        for (name, spec) in &self.params {
            if let Some(d) = &spec.default {
                p.insert(name, parse_value(spec.kind, &toml_text(d))?);
            }
        }
        for (k, v) in set {
            let spec = self.params.get(k).ok_or_else(|| {
                let known: Vec<&String> = self.params.keys().collect();
                Error::Usage(format!(
                    "unknown parameter {k}; {} takes {known:?}",
                    self.name
                ))
            })?;
            let value = parse_value(spec.kind, v)
                .map_err(|e| Error::Usage(format!("parameter {k}: {e}")))?;
            p.insert(k, value);
        }
        for (name, spec) in &self.params {
            let Some(v) = p.get(name) else { continue };
            for (bound, below) in [(&spec.min, true), (&spec.max, false)] {
                let Some(b) = bound else { continue };
                let b = parse_value(spec.kind, &toml_text(b))?;
                let out = match below {
                    true => v.less_than(&b),
                    false => b.less_than(v),
                };
                if out {
                    let word = if below { "at least" } else { "at most" };
                    return Err(Error::Usage(format!(
                        "{name} must be {word} {}",
                        b.display()
                    )));
                }
            }
        }
        p.insert("start", Value::Time(start));
        p.insert("end", Value::Time(end));
        Ok(p)
    }

    /// The parameters the nightly DAG gives the job, as `NAME=VALUE` pairs.
    pub fn nightly_set(&self) -> Vec<(String, String)> {
        self.nightly
            .iter()
            .flat_map(|n| &n.set)
            .map(|(k, v)| (k.clone(), toml_text(v)))
            .collect()
    }

    /// The output names' suffix for parameters `p`: lower case letters, digits and `_`
    /// only, since it becomes part of table names and of the SQL that names them.
    pub fn suffix(&self, p: &Params) -> Result<String> {
        let s = render_text(&self.suffix, p, "{", "}")?;
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(Error::Usage(format!(
                "{}: the suffix {s:?} (from {:?}) may hold only lower case letters, digits and _",
                self.name, self.suffix
            )));
        }
        Ok(s)
    }

    /// The suffix with the parameters the nightly DAG gives the job over its defaults.
    pub fn nightly_suffix(&self) -> Result<String> {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let p = self.params(
            start,
            start + chrono::Duration::days(1),
            &self.nightly_set(),
        )?;
        self.suffix(&p)
    }
}

/// Parameters every run has, derived from its interval.
pub const SHARED: [&str; 6] = [
    "start",
    "end",
    "start_us",
    "end_us",
    "start_date",
    "last_date",
];

/// A TOML value as the text `--set` would give.
pub fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `text` as a value of `kind`.
pub fn parse_value(kind: ParamType, text: &str) -> Result<Value> {
    let bad = |what: &str| Error::Usage(format!("{text:?} is not {what}"));
    Ok(match kind {
        ParamType::Duration => Value::Duration(
            humantime::parse_duration(text).map_err(|_| bad("a duration like 30s or 5m"))?,
        ),
        ParamType::Int => Value::Int(text.parse().map_err(|_| bad("an integer"))?),
        ParamType::Float => Value::Float(text.parse().map_err(|_| bad("a number"))?),
        ParamType::Bool => Value::Bool(match text {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
        ParamType::Text => Value::Text(text.to_string()),
        ParamType::Date => Value::Date(
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad("a date"))?,
        ),
    })
}

/// Replaces each `{open}name{close}` in `text` with the parameter's display text.
pub fn render_text(text: &str, p: &Params, open: &str, close: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        let after = &rest[i + open.len()..];
        let j = after
            .find(close)
            .ok_or_else(|| Error::Usage(format!("unclosed {open} in {text:?}")))?;
        let name = after[..j].trim();
        let v = p
            .get(name)
            .ok_or_else(|| Error::Usage(format!("{text:?} names unknown parameter {name}")))?;
        out.push_str(&v.display());
        rest = &after[j + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An output's columns as a schema (its declared columns, then `dt`).
pub fn columns(o: &OutputSpec) -> Result<SchemaRef> {
    let mut fields = Vec::new();
    for c in &o.columns {
        let (name, ty) = c.trim().split_once(' ').ok_or_else(|| {
            Error::Usage(format!(
                "output {}: column {c:?} is not \"name type\"",
                o.name
            ))
        })?;
        let ty = data_type(ty.trim()).ok_or_else(|| {
            Error::Usage(format!(
                "output {}: column {name}: unknown type {ty:?}",
                o.name
            ))
        })?;
        if name == "dt" {
            return Err(Error::Usage(format!(
                "output {}: dt is the partition column, not listed in columns",
                o.name
            )));
        }
        fields.push(Field::new(name, ty, true));
    }
    fields.push(Field::new("dt", DataType::Utf8, true));
    Ok(Arc::new(Schema::new(fields)))
}

/// A column type by its name in `columns`.
pub fn data_type(name: &str) -> Option<DataType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "string" => DataType::Utf8,
        "bigint" => DataType::Int64,
        "int" => DataType::Int32,
        "ubigint" => DataType::UInt64,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        _ => return name.parse().ok(),
    })
}

/// True when a planned column type matches a declared one (strings of any layout match).
pub fn same_type(planned: &DataType, declared: &DataType) -> bool {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    planned == declared || (text(planned) && text(declared))
}

/// Reads a value back from a one-row SQL result column (derived parameters).
pub fn value_of(array: &dyn arrow::array::Array) -> Result<Option<Value>> {
    use datafusion::common::ScalarValue as S;
    let v = S::try_from_array(array, 0)?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match v {
        S::Int8(Some(i)) => Value::Int(i.into()),
        S::Int16(Some(i)) => Value::Int(i.into()),
        S::Int32(Some(i)) => Value::Int(i.into()),
        S::Int64(Some(i)) => Value::Int(i),
        S::UInt8(Some(i)) => Value::Int(i.into()),
        S::UInt16(Some(i)) => Value::Int(i.into()),
        S::UInt32(Some(i)) => Value::Int(i.into()),
        S::UInt64(Some(i)) => Value::Int(i as i64),
        S::Float32(Some(f)) => Value::Float(f.into()),
        S::Float64(Some(f)) => Value::Float(f),
        S::Boolean(Some(b)) => Value::Bool(b),
        S::Utf8(Some(s)) | S::Utf8View(Some(s)) | S::LargeUtf8(Some(s)) => Value::Text(s),
        S::Date32(Some(d)) => Value::Date(
            chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                .map(|t| t.date_naive())
                .unwrap_or_default(),
        ),
        S::TimestampMicrosecond(Some(t), _) => {
            Value::Time(chrono::DateTime::from_timestamp_micros(t).unwrap_or_default())
        }
        other => {
            return Err(Error::Usage(format!(
                "a derived parameter is of type {}: use an integer, float, boolean, text, \
                 date or timestamp",
                other.data_type()
            )));
        }
    }))
}
