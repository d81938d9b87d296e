//! `Executions` on AWS Step Functions.

use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use chrono::{DateTime, Utc};
use greenlight_core::ports::{
    ExecutionInfo, ExecutionStatus, Executions, PortError, PortResult, StartOutcome,
};
use greenlight_core::Arn;

use crate::error::{classify, missing};
use crate::AwsCloud;

fn status(s: &SfnStatus) -> ExecutionStatus {
    match s {
        SfnStatus::Running => ExecutionStatus::Running,
        SfnStatus::Succeeded => ExecutionStatus::Succeeded,
        SfnStatus::Failed => ExecutionStatus::Failed,
        SfnStatus::TimedOut => ExecutionStatus::TimedOut,
        SfnStatus::PendingRedrive => ExecutionStatus::PendingRedrive,
        _ => ExecutionStatus::Aborted,
    }
}

fn time(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

fn json(op: &str, text: Option<&str>) -> PortResult<Option<serde_json::Value>> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| PortError::Other {
            operation: op.to_string(),
            message: format!("not JSON: {e}"),
        })
    })
    .transpose()
}

/// The ARN an execution of `state_machine` named `name` has.
pub use greenlight_core::arn::execution_arn;

/// How Step Functions refuses an answer to a task token: a token nobody waits on any more
/// is not an AWS failure, it is an answer that came late.
fn token_refusal<E>(
    op: &str,
    e: crate::error::SdkError<E>,
    does_not_exist: bool,
    timed_out: bool,
    invalid: bool,
) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    if does_not_exist {
        token_gone("it does not exist")
    } else if timed_out {
        token_gone("it timed out")
    } else if invalid {
        PortError::Invalid {
            operation: op.into(),
            message: "invalid task token".into(),
        }
    } else {
        classify(op, e)
    }
}

/// A token the service no longer waits on: not an AWS failure, an answer that came late.
fn token_gone(what: &str) -> PortError {
    PortError::NotFound {
        what: format!("waiting task ({what})"),
    }
}

impl Executions for AwsCloud {
    async fn start(
        &self,
        state_machine: &Arn,
        name: &str,
        input: &serde_json::Value,
    ) -> PortResult<StartOutcome> {
        const OP: &str = "states:StartExecution";
        // StartExecution answers a running execution of the same name and input with that
        // execution, as if it had started it: ask first, so a duplicate is reported as one.
        if let Some(existing) = execution_arn(state_machine, name) {
            match self.describe(&existing).await {
                Ok(_) => {
                    return Ok(StartOutcome::AlreadyExists {
                        name: name.to_string(),
                    })
                }
                Err(PortError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        match self
            .sfn
            .start_execution()
            .state_machine_arn(state_machine.as_str())
            .name(name)
            .input(input.to_string())
            .send()
            .await
        {
            Ok(out) => Ok(StartOutcome::Started {
                arn: out.execution_arn().to_string(),
            }),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_execution_already_exists() => Ok(StartOutcome::AlreadyExists {
                    name: name.to_string(),
                }),
                Some(se) if se.is_state_machine_does_not_exist() => Err(PortError::not_found(
                    format!("state machine {state_machine}"),
                )),
                _ => Err(classify(OP, e)),
            },
        }
    }

    async fn describe(&self, execution: &str) -> PortResult<ExecutionInfo> {
        const OP: &str = "states:DescribeExecution";
        let out = self
            .sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_execution_does_not_exist() => {
                    PortError::not_found(format!("execution {execution}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(ExecutionInfo {
            arn: out.execution_arn().to_string(),
            name: out.name().ok_or_else(|| missing(OP, "name"))?.to_string(),
            status: status(out.status()),
            started_at: time(out.start_date()),
            stopped_at: out.stop_date().map(time),
            input: json(OP, out.input())?,
            output: json(OP, out.output())?,
        })
    }

    async fn list(
        &self,
        state_machine: &Arn,
        filter: Option<ExecutionStatus>,
    ) -> PortResult<Vec<ExecutionInfo>> {
        const OP: &str = "states:ListExecutions";
        let filter = filter.map(|f| match f {
            ExecutionStatus::Running => SfnStatus::Running,
            ExecutionStatus::Succeeded => SfnStatus::Succeeded,
            ExecutionStatus::Failed => SfnStatus::Failed,
            ExecutionStatus::TimedOut => SfnStatus::TimedOut,
            ExecutionStatus::Aborted => SfnStatus::Aborted,
            ExecutionStatus::PendingRedrive => SfnStatus::PendingRedrive,
        });
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(state_machine.as_str())
            .set_status_filter(filter)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| match e.as_service_error() {
                Some(se) if se.is_state_machine_does_not_exist() => {
                    PortError::not_found(format!("state machine {state_machine}"))
                }
                _ => classify(OP, e),
            })?;
            for e in page.executions() {
                out.push(ExecutionInfo {
                    arn: e.execution_arn().to_string(),
                    name: e.name().to_string(),
                    status: status(e.status()),
                    started_at: time(e.start_date()),
                    stopped_at: e.stop_date().map(time),
                    input: None,
                    output: None,
                });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.started_at));
        Ok(out)
    }

    async fn stop(&self, execution: &str, error: &str, cause: &str) -> PortResult<()> {
        const OP: &str = "states:StopExecution";
        self.sfn
            .stop_execution()
            .execution_arn(execution)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_execution_does_not_exist() => {
                    PortError::not_found(format!("execution {execution}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(())
    }

    async fn send_task_success(&self, token: &str, output: &serde_json::Value) -> PortResult<()> {
        const OP: &str = "states:SendTaskSuccess";
        self.sfn
            .send_task_success()
            .task_token(token)
            .output(output.to_string())
            .send()
            .await
            .map_err(|e| {
                let (gone, late, invalid) =
                    e.as_service_error().map_or((false, false, false), |se| {
                        (
                            se.is_task_does_not_exist(),
                            se.is_task_timed_out(),
                            se.is_invalid_token(),
                        )
                    });
                token_refusal(OP, e, gone, late, invalid)
            })?;
        Ok(())
    }

    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> PortResult<()> {
        const OP: &str = "states:SendTaskFailure";
        self.sfn
            .send_task_failure()
            .task_token(token)
            .error(error)
            .cause(cause)
            .send()
            .await
            .map_err(|e| {
                let (gone, late, invalid) =
                    e.as_service_error().map_or((false, false, false), |se| {
                        (
                            se.is_task_does_not_exist(),
                            se.is_task_timed_out(),
                            se.is_invalid_token(),
                        )
                    });
                token_refusal(OP, e, gone, late, invalid)
            })?;
        Ok(())
    }
}
