//! The ports, implemented over the simulated world. Operation names follow AWS
//! (`ecs:UpdateService`, …) so faults can be injected by the name people know.

use chrono::{DateTime, Utc};
use greenlight_core::config::Config;
use greenlight_core::notify::Notification;
use greenlight_core::ports::*;
use greenlight_core::{Arn, Digest, Duration};

use crate::world::{Published, TokenAnswer, ACCOUNT, REGION};
use crate::Sim;

/// What `DescribeExecution` and `ListExecutions` say of an execution.
fn execution_info(e: &crate::world::Execution) -> ExecutionInfo {
    ExecutionInfo {
        arn: e.arn.clone(),
        name: e.name.clone(),
        status: e.status,
        started_at: e.started_at,
        stopped_at: None,
        input: Some(e.input.clone()),
        output: None,
    }
}

fn conflict(operation: &str, message: impl Into<String>) -> PortError {
    PortError::Conflict {
        operation: operation.to_string(),
        message: message.into(),
    }
}

impl Reach for Sim {
    /// STS `AssumeRole` of the environment's role: refused when no such role was deployed
    /// (templates/target-account.yaml) in the target account.
    fn reach(&self, place: &greenlight_core::config::Place, _session: &str) -> PortResult<Sim> {
        let mut w = self.world();
        w.call("sts:AssumeRole")?;
        if !w.accounts.roles.contains(&place.role) {
            return Err(PortError::AccessDenied {
                operation: "sts:AssumeRole".into(),
                message: format!(
                    "role {} does not exist or does not trust greenlight (deploy templates/target-account.yaml in account {})",
                    place.role, place.account
                ),
            });
        }
        drop(w);
        let mut there = self.clone();
        there.place = Some(place.clone());
        Ok(there)
    }
}

impl Sim {
    /// `NotFound` unless the named resource (`key` in the world's owners) is where this
    /// handle's calls are made: a client of one account finds nothing of another.
    fn owned(&self, w: &crate::World, key: &str, what: &str) -> PortResult<()> {
        let (account, region) = w.accounts.owner(key);
        if (account.as_str(), region.as_str()) == self.here() {
            Ok(())
        } else {
            Err(PortError::not_found(format!(
                "{what} (in {}, {})",
                self.here().0,
                self.here().1
            )))
        }
    }

    /// `NotFound` unless the ARN is in this handle's account and region.
    fn arn_here(&self, arn: &str, what: &str) -> PortResult<()> {
        match Arn::parse(arn)
            .ok()
            .as_ref()
            .and_then(|a| a.home().map(|(r, a)| (a.to_string(), r.to_string())))
        {
            Some((account, region)) if (account.as_str(), region.as_str()) != self.here() => Err(
                PortError::not_found(format!("{what} (in {}, {})", self.here().0, self.here().1)),
            ),
            _ => Ok(()),
        }
    }

    /// The world's key of a repository of this handle's registry.
    fn repo(&self, repository: &str) -> String {
        crate::accounts::repo_key(self.here(), repository)
    }
}

impl Clock for Sim {
    fn now(&self) -> DateTime<Utc> {
        self.world().now
    }
}

impl Sim {
    /// `ecr:DescribeImages` for the image of `repository` that `which` picks (`named` says
    /// which, for the not-found message: `@sha256:…` or `:tag`).
    fn describe_image(
        &self,
        repository: &str,
        named: &str,
        which: impl Fn(&ImageInfo) -> bool,
    ) -> PortResult<ImageInfo> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:DescribeImages")?;
            let repo = w
                .repos
                .get(&self.repo(repository))
                .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))?;
            repo.images
                .iter()
                .find(|i| which(i))
                .cloned()
                .ok_or_else(|| PortError::not_found(format!("image {repository}{named}")))
        })
    }

    /// Runs the body of a port call. When the call's fault was a timeout whose request
    /// landed ([`crate::FaultKind::TimeoutLanded`]), the body's effect stands and the caller
    /// gets the timeout.
    fn answered<T>(&self, body: impl FnOnce() -> PortResult<T>) -> PortResult<T> {
        let result = body();
        let lost = self.world().lost_reply.take();
        match (result, lost) {
            (Ok(_), Some(e)) => Err(e),
            (result, _) => result,
        }
    }

    /// Answers a task token: through the state machine runner when one owns the waiting
    /// tasks, else against the tokens the test registered. Either way a token nobody waits
    /// on is `NotFound`, as Step Functions says `TaskDoesNotExist`.
    fn answer_token(&self, operation: &str, token: &str, answer: TokenAnswer) -> PortResult<()> {
        let mut w = self.world();
        w.call(operation)?;
        let gone = || PortError::not_found("task (the token timed out or was answered)");
        if let Some(sink) = w.token_sink.clone() {
            drop(w);
            return if sink(token, answer) {
                Ok(())
            } else {
                Err(gone())
            };
        }
        if !w.waiting_tokens.remove(token) {
            return Err(gone());
        }
        w.answers.push((token.to_string(), answer));
        Ok(())
    }
}

mod executions;
mod inventory;
mod messaging;
mod services;
mod store;
