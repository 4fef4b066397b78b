//! `sql`: run SQL and optionally compare the result, retrying until a deadline.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Call, StepError, StepKind, StepResult, StepRunner};
use crate::diag::YPath;
use crate::duration::HumanDuration;
use crate::scenario::SqlEndpoint;
use crate::scenario::against::Ctx as InventoryCheck;
use crate::scenario::condition::fmt_values;
use crate::scenario::refs::TargetRef;

/// Run SQL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlStep {
    /// Where.
    pub on: SqlEndpoint,
    /// The statement(s).
    pub query: String,
    /// Expected first column of the first row, as text.
    #[serde(default)]
    pub expect: Option<String>,
    /// Retry until this deadline while the query fails or differs.
    #[serde(default)]
    pub within: Option<HumanDuration>,
    /// A name for the step.
    #[serde(default)]
    pub id: Option<String>,
}

pub(crate) struct Sql;

impl StepKind for Sql {
    const NAME: &'static str = "sql";
    #[cfg(test)]
    const SAMPLE: &'static str = "{on: leader, query: q}";
    type Body = SqlStep;

    fn id(s: &SqlStep) -> Option<&str> {
        s.id.as_deref()
    }

    fn targets(s: &SqlStep) -> Vec<TargetRef<'_>> {
        s.on.target_refs()
    }

    fn check_inventory(s: &SqlStep, cx: &mut InventoryCheck<'_>, base: &YPath) {
        cx.need_endpoint(&base.key("on"), &s.on);
    }

    fn describe(s: &SqlStep) -> String {
        format!("SQL on {}: {}", s.on, s.query)
    }

    async fn execute<R: StepRunner>(s: &SqlStep, _call: Call<'_>, run: &mut R) -> StepResult {
        let deadline = s.within.map(|d| d.get()).unwrap_or_default();
        let started = Instant::now();
        loop {
            let res = run.sql_values(&s.on, &s.query).await;
            let outcome = match (&res, &s.expect) {
                (Ok(vals), Some(want)) => {
                    if !vals.is_empty()
                        && vals
                            .iter()
                            .all(|(_, v)| v.as_deref() == Some(want.as_str()))
                    {
                        Ok(fmt_values(vals))
                    } else {
                        Err(StepError::Failed(format!(
                            "expected {want:?}, got {}",
                            fmt_values(vals)
                        )))
                    }
                }
                (Ok(vals), None) => Ok(fmt_values(vals)),
                (Err(e), _) => Err(StepError::Failed(e.clone())),
            };
            match outcome {
                Ok(d) => return Ok(Some(d)),
                Err(e) if started.elapsed() >= deadline || run.cancelled() => return Err(e),
                Err(_) => {
                    run.waiting(&format!("SQL {}", s.query), started.elapsed(), deadline);
                    run.wait_news(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
