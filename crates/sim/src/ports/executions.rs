//! Step Functions: executions, stops and task tokens.

#[allow(unused_imports)]
use super::*;

impl Executions for Sim {
    async fn start(
        &self,
        state_machine: &Arn,
        name: &str,
        input: &serde_json::Value,
    ) -> PortResult<StartOutcome> {
        self.answered(|| {
            let mut w = self.world();
            w.call("states:StartExecution")?;
            // The AWS adapter asks whether the execution exists before it starts it.
            w.note_access("states:DescribeExecution");
            if w.executions.contains_key(name) {
                return Ok(StartOutcome::AlreadyExists {
                    name: name.to_string(),
                });
            }
            let arn = format!(
                "arn:aws:states:{REGION}:{ACCOUNT}:execution:{}:{name}",
                state_machine.short_name()
            );
            let started_at = w.now;
            let execution = crate::world::Execution {
                arn: arn.clone(),
                name: name.to_string(),
                state_machine: state_machine.to_string(),
                input: input.clone(),
                started_at,
                status: ExecutionStatus::Running,
                stop: None,
            };
            w.executions.insert(name.to_string(), execution.clone());
            let sink = w.start_sink.clone();
            drop(w);
            if let Some(sink) = sink {
                sink(execution);
            }
            Ok(StartOutcome::Started { arn })
        })
    }

    async fn describe(&self, execution: &str) -> PortResult<ExecutionInfo> {
        self.answered(|| {
            let mut w = self.world();
            w.call("states:DescribeExecution")?;
            w.executions
                .values()
                .find(|e| e.arn == execution)
                .map(execution_info)
                .ok_or_else(|| PortError::not_found(format!("execution {execution}")))
        })
    }

    async fn list(
        &self,
        state_machine: &Arn,
        status: Option<ExecutionStatus>,
    ) -> PortResult<Vec<ExecutionInfo>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("states:ListExecutions")?;
            let mut out: Vec<ExecutionInfo> = w
                .executions
                .values()
                .filter(|e| {
                    e.state_machine == state_machine.as_str()
                        && status.is_none_or(|s| s == e.status)
                })
                .map(execution_info)
                .collect();
            out.sort_by_key(|e| std::cmp::Reverse(e.started_at));
            Ok(out)
        })
    }

    async fn stop(&self, execution: &str, error: &str, cause: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("states:StopExecution")?;
            let e = w
                .executions
                .values_mut()
                .find(|e| e.arn == execution)
                .ok_or_else(|| PortError::not_found(format!("execution {execution}")))?;
            e.status = ExecutionStatus::Aborted;
            e.stop = Some((error.to_string(), cause.to_string()));
            let name = e.name.clone();
            if let Some(sink) = w.stop_sink.clone() {
                drop(w);
                sink(&name, error, cause);
            }
            Ok(())
        })
    }

    async fn send_task_success(&self, token: &str, output: &serde_json::Value) -> PortResult<()> {
        self.answered(|| {
            self.answer_token(
                "states:SendTaskSuccess",
                token,
                TokenAnswer::Success(output.clone()),
            )
        })
    }

    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> PortResult<()> {
        self.answered(|| {
            let answer = TokenAnswer::Failure {
                error: error.to_string(),
                cause: cause.to_string(),
            };
            self.answer_token("states:SendTaskFailure", token, answer)
        })
    }
}
