//! watch: where a deployment is now, for `greenlight promote --wait`: its phase and weight
//! from its record, and whether it has ended — by its recorded outcome, or by its execution
//! ending without one.

use crate::ports::{ExecutionStatus, Executions, Outcome, Phase, PortError, StateStore};

/// One look at a deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Look {
    /// Its phase and the new colour's weight, once it has a record.
    pub at: Option<(Phase, u8)>,
    /// The canary analysis's last verdict, in one line, when there is one.
    pub analysis: Option<String>,
    pub end: Option<End>,
}

/// How a deployment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Its recorded outcome, and why.
    Outcome {
        outcome: Outcome,
        reason: Option<String>,
    },
    /// Its execution ended with no successful outcome recorded (stopped, failed before
    /// recording, timed out).
    ExecutionEnded { status: ExecutionStatus },
}

impl End {
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            End::Outcome {
                outcome: Outcome::Succeeded,
                ..
            }
        )
    }
}

/// Looks at `deployment` (and its execution, when its ARN is known).
pub async fn look<P>(p: &P, deployment: &str, execution: Option<&str>) -> Result<Look, PortError>
where
    P: StateStore + Executions,
{
    let record = p.get_deployment(deployment).await?;
    let at = record.as_ref().map(|r| (r.phase, r.weight));
    let analysis = record
        .as_ref()
        .and_then(|r| r.analysis.as_ref())
        .map(crate::analysis::AnalysisReport::summary);
    if let Some(r) = record.filter(|r| r.outcome.is_some()) {
        let end = r.outcome.map(|outcome| End::Outcome {
            outcome,
            reason: r.reason,
        });
        return Ok(Look { at, analysis, end });
    }
    let Some(arn) = execution else {
        return Ok(Look {
            at,
            analysis,
            end: None,
        });
    };
    let info = p.describe(arn).await?;
    if info.status == ExecutionStatus::Running {
        return Ok(Look {
            at,
            analysis,
            end: None,
        });
    }
    // The record may have been written just before the end: read it once more.
    let end = match p.get_deployment(deployment).await?.and_then(|r| {
        r.outcome.map(|outcome| End::Outcome {
            outcome,
            reason: r.reason,
        })
    }) {
        Some(end) if end.succeeded() => end,
        _ => End::ExecutionEnded {
            status: info.status,
        },
    };
    Ok(Look {
        at,
        analysis,
        end: Some(end),
    })
}
