//! placeholder, filled below
use super::{Plan, PlanContext};
use crate::error::Result;

pub(crate) fn plan(_sql: &str, _ctx: &PlanContext<'_>) -> Result<Option<Plan>> {
    Ok(None)
}
