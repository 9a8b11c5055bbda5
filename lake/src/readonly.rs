//! Read-only SQL for endpoints that take SQL from the network (Flight SQL, the web app).
//!
//! A query from the network may read the lake's registered tables and nothing else: no DDL
//! (`CREATE EXTERNAL TABLE` over `/etc/passwd` would hand any client the host's files), no
//! DML or `COPY ... TO` (writes), no `SET` (session knobs), no table function that reads a
//! path. [`check_sql`] refuses by the parsed statement before anything is planned, so a
//! refused statement never touches a catalog; [`plan`] also verifies the planned plan with
//! DataFusion's [`SQLOptions`] (which catches `SELECT ... INTO`, a DDL in disguise);
//! [`restrict`] leaves a session only the table functions that compute rows. URL tables
//! (`SELECT * FROM 'file.csv'`) stay off: Pulse never enables DataFusion's dynamic file
//! catalog. The local `pulse sql` does not use this module: it runs with the user's rights.

use std::ops::ControlFlow;

use datafusion::execution::context::SQLOptions;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{SetExpr, Statement, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::{Error, Result};

/// Table functions a network query may call: they compute rows and read nothing.
pub const SAFE_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// Refuses `sql` unless it is one read-only statement (`SELECT`, `WITH`, `EXPLAIN`, `SHOW`,
/// `DESCRIBE`); the error names what is not allowed.
pub fn check_sql(sql: &str) -> Result<()> {
    let statements = DFParserBuilder::new(sql)
        .with_dialect(&GenericDialect {})
        .build()?
        .parse_statements()?;
    if statements.len() != 1 {
        return Err(not_allowed(format!(
            "{} statements in one request",
            statements.len()
        )));
    }
    for s in &statements {
        check_statement(s)?;
    }
    Ok(())
}

/// Plans `sql` in `state` after [`check_sql`], and verifies the plan holds no DDL, DML or
/// session statement anywhere (subqueries included).
pub async fn plan(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    check_sql(sql)?;
    let plan = state.create_logical_plan(sql).await?;
    check_plan(&plan)?;
    Ok(plan)
}

/// Refuses a plan with DDL, DML (`INSERT`, `COPY`) or a statement (`SET`, `PREPARE`).
pub fn check_plan(plan: &LogicalPlan) -> Result<()> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| not_allowed(e.strip_backtrace()))
}

/// Removes every table function but [`SAFE_TABLE_FUNCTIONS`] from `state`.
pub fn restrict(state: &mut SessionState) {
    let names: Vec<String> = state.table_functions().keys().cloned().collect();
    for name in names {
        if !SAFE_TABLE_FUNCTIONS.contains(&name.as_str()) {
            // Removing a name cannot fail; the removed function is dropped.
            let _ = state.deregister_udtf(&name);
        }
    }
}

fn not_allowed(what: impl Into<String>) -> Error {
    Error::NotAllowed { what: what.into() }
}

fn check_statement(s: &DfStatement) -> Result<()> {
    match s {
        DfStatement::Statement(s) => check_sql_statement(s),
        DfStatement::Explain(e) => check_statement(&e.statement),
        DfStatement::CreateExternalTable(_) => Err(not_allowed("CREATE EXTERNAL TABLE")),
        DfStatement::CopyTo(_) => Err(not_allowed("COPY ... TO")),
        DfStatement::Reset(_) => Err(not_allowed("RESET")),
    }
}

fn check_sql_statement(s: &Statement) -> Result<()> {
    match s {
        Statement::Query(q) => {
            let mut into = SelectInto(false);
            let _ = q.visit(&mut into);
            if into.0 {
                return Err(not_allowed("SELECT ... INTO"));
            }
            Ok(())
        }
        Statement::Explain { statement, .. } => check_sql_statement(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. } => Ok(()),
        other => Err(not_allowed(statement_kind(other))),
    }
}

/// Finds `SELECT ... INTO` anywhere in a query (DataFusion plans it as `CREATE TABLE`).
struct SelectInto(bool);

impl Visitor for SelectInto {
    type Break = ();

    fn pre_visit_query(&mut self, q: &datafusion::sql::sqlparser::ast::Query) -> ControlFlow<()> {
        if let SetExpr::Select(s) = q.body.as_ref()
            && s.into.is_some()
        {
            self.0 = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// The statement's leading keywords (`CREATE VIEW`, `DROP TABLE`, `INSERT INTO`, `SET`), as
/// a user would name it.
fn statement_kind(s: &Statement) -> String {
    let text = s.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_uppercase()))
        .take(2)
        .collect();
    if words.is_empty() {
        "this statement".into()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> String {
        match check_sql(sql) {
            Err(Error::NotAllowed { what }) => what,
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_pass_and_everything_else_is_named() {
        for ok in [
            "SELECT 1",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "EXPLAIN SELECT count(*) FROM streams",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM streams",
            "SHOW ALL",
            "DESCRIBE streams",
            "SELECT * FROM generate_series(1, 3)",
        ] {
            check_sql(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let cases = [
            (
                "CREATE EXTERNAL TABLE pw (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("DROP TABLE streams", "DROP TABLE"),
            ("DROP VIEW v", "DROP VIEW"),
            ("INSERT INTO streams SELECT * FROM streams", "INSERT INTO"),
            ("DELETE FROM streams", "DELETE FROM"),
            ("COPY streams TO '/tmp/x.csv'", "COPY ... TO"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("RESET datafusion.execution.batch_size", "RESET"),
            ("EXPLAIN CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("EXPLAIN COPY streams TO '/tmp/x'", "COPY ... TO"),
            ("SELECT 1 INTO t", "SELECT ... INTO"),
            ("SELECT 1; SELECT 2", "2 statements in one request"),
        ];
        for (sql, what) in cases {
            assert_eq!(refused(sql), what, "{sql}");
        }
    }

    #[tokio::test]
    async fn planned_statements_are_verified_and_path_reading_functions_are_gone() {
        let mut state = datafusion::execution::SessionStateBuilder::new()
            .with_default_features()
            .build();
        restrict(&mut state);
        let mut names: Vec<&String> = state.table_functions().keys().collect();
        names.sort();
        assert!(
            names
                .iter()
                .all(|n| SAFE_TABLE_FUNCTIONS.contains(&n.as_str()))
        );
        plan(&state, "SELECT * FROM range(3)").await.unwrap();
        // A URL table is not a table: the dynamic file catalog is off.
        let err = plan(&state, "SELECT * FROM '/etc/passwd'")
            .await
            .unwrap_err();
        assert!(format!("{err}").contains("not found"), "{err}");
        // A statement that the parser check lets through is still verified once planned.
        let set = state
            .create_logical_plan("SET datafusion.execution.batch_size = 1")
            .await
            .unwrap();
        assert!(matches!(check_plan(&set), Err(Error::NotAllowed { .. })));
    }
}
