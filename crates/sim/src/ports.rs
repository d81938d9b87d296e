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

impl Clock for Sim {
    fn now(&self) -> DateTime<Utc> {
        self.world().now
    }
}

impl ContainerService for Sim {
    async fn describe_service(&self, cluster: &str, service: &str) -> PortResult<ServiceState> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeServices")?;
            let s = w
                .services
                .get(&(cluster.to_string(), service.to_string()))
                .cloned()
                .ok_or_else(|| {
                    PortError::not_found(format!("ECS service {service} in cluster {cluster}"))
                })?;
            Ok(w.service_state(&s))
        })
    }

    async fn container_image(&self, task_definition: &str, container: &str) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeTaskDefinition")?;
            let td = w.task_defs.get(task_definition).ok_or_else(|| {
                PortError::not_found(format!("task definition {task_definition}"))
            })?;
            td.containers
                .iter()
                .find(|(name, _)| name == container)
                .map(|(_, image)| image.clone())
                .ok_or_else(|| {
                    PortError::not_found(format!(
                        "container `{container}` in task definition {task_definition}"
                    ))
                })
        })
    }

    async fn register_with_image(
        &self,
        task_definition: &str,
        container: &str,
        image: &str,
    ) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeTaskDefinition")?;
            let td = w.task_defs.get(task_definition).cloned().ok_or_else(|| {
                PortError::not_found(format!("task definition {task_definition}"))
            })?;
            if !td.containers.iter().any(|(n, _)| n == container) {
                return Err(PortError::not_found(format!(
                    "container `{container}` in task definition {task_definition}"
                )));
            }
            let containers: Vec<(String, String)> = td
                .containers
                .iter()
                .map(|(n, i)| {
                    (
                        n.clone(),
                        if n == container {
                            image.to_string()
                        } else {
                            i.clone()
                        },
                    )
                })
                .collect();
            // The family's newest revision is reused when it is what would be registered.
            w.call("ecs:DescribeTaskDefinition")?;
            let newest = w
                .task_defs
                .values()
                .filter(|t| t.family == td.family)
                .max_by_key(|t| t.revision)
                .cloned();
            if let Some(newest) = newest {
                if newest.revision != td.revision && newest.containers == containers {
                    return Ok(newest.arn);
                }
            }
            w.call("ecs:RegisterTaskDefinition")?;
            // Registering a revision with the family's roles and tags passes the roles and tags it.
            w.note_access("iam:PassRole");
            w.note_access("ecs:TagResource");
            Ok(w.register_task_def(&td.family, containers))
        })
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        desired: Option<u32>,
    ) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:UpdateService")?;
            if let Some(td) = task_definition {
                if !w.task_defs.contains_key(td) {
                    return Err(PortError::Invalid {
                        operation: "ecs:UpdateService".into(),
                        message: format!("task definition {td} does not exist"),
                    });
                }
            }
            let now = w.now;
            let s = w
                .services
                .get_mut(&(cluster.to_string(), service.to_string()))
                .ok_or_else(|| {
                    PortError::not_found(format!("ECS service {service} in cluster {cluster}"))
                })?;
            let changed = task_definition.is_some_and(|td| td != s.task_definition)
                || desired.is_some_and(|d| d > s.desired);
            if let Some(td) = task_definition {
                s.task_definition = td.to_string();
            }
            if let Some(d) = desired {
                s.desired = d;
            }
            if changed {
                s.updated_at = now;
            }
            Ok(())
        })
    }
}

impl LoadBalancer for Sim {
    async fn listener_weights(&self, listener: &Arn) -> PortResult<Vec<TargetWeight>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("elbv2:DescribeListeners")?;
            w.listeners
                .get(listener)
                .map(|l| l.weights.clone())
                .ok_or_else(|| PortError::not_found(format!("listener {listener}")))
        })
    }

    async fn set_listener_weights(
        &self,
        listener: &Arn,
        weights: &[TargetWeight],
    ) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("elbv2:ModifyListener")?;
            for tw in weights {
                if !w.target_groups.contains_key(&tw.target_group) {
                    return Err(PortError::not_found(format!(
                        "target group {}",
                        tw.target_group
                    )));
                }
            }
            let sticky = w.sticky_listeners.contains(listener);
            let at = w.now;
            let l = w
                .listeners
                .get_mut(listener)
                .ok_or_else(|| PortError::not_found(format!("listener {listener}")))?;
            if !sticky {
                l.weights = weights.to_vec();
                let seq = w.next_seq();
                w.traffic.push(crate::world::TrafficChange {
                    at,
                    seq,
                    listener: listener.clone(),
                    weights: weights.to_vec(),
                });
            }
            Ok(())
        })
    }

    async fn target_health(&self, target_group: &Arn) -> PortResult<Vec<TargetHealth>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("elbv2:DescribeTargetHealth")?;
            if !w.target_groups.contains_key(target_group) {
                return Err(PortError::not_found(format!("target group {target_group}")));
            }
            Ok(w.target_health(target_group))
        })
    }

    async fn listener_endpoint(&self, listener: &Arn) -> PortResult<ListenerEndpoint> {
        self.answered(|| {
            let mut w = self.world();
            w.call("elbv2:DescribeListeners")?;
            w.note_access("elasticloadbalancing:DescribeLoadBalancers");
            let l = w
                .listeners
                .get(listener)
                .ok_or_else(|| PortError::not_found(format!("listener {listener}")))?;
            Ok(ListenerEndpoint {
                dns_name: l.dns_name.clone(),
                port: l.port,
                scheme: l.scheme.clone(),
            })
        })
    }
}

impl ImageRegistry for Sim {
    async fn image_by_digest(&self, repository: &str, digest: &Digest) -> PortResult<ImageInfo> {
        self.describe_image(repository, &format!("@{digest}"), |i| {
            i.image.digest == *digest
        })
    }

    async fn image_by_tag(&self, repository: &str, tag: &str) -> PortResult<ImageInfo> {
        self.describe_image(repository, &format!(":{tag}"), |i| {
            i.tags.iter().any(|t| t == tag)
        })
    }

    async fn tagged_images(&self, repository: &str) -> PortResult<Vec<ImageInfo>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:DescribeImages")?;
            let repo = w
                .repos
                .get(repository)
                .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))?;
            Ok(repo
                .images
                .iter()
                .filter(|i| !i.tags.is_empty())
                .cloned()
                .collect())
        })
    }

    async fn repository_uri(&self, repository: &str) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:DescribeRepositories")?;
            w.repos
                .get(repository)
                .map(|r| r.uri.clone())
                .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))
        })
    }
}

impl Alarms for Sim {
    async fn alarm_states(&self, names: &[String]) -> PortResult<Vec<AlarmState>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("cloudwatch:DescribeAlarms")?;
            Ok(names
                .iter()
                .filter_map(|n| {
                    let value = w.alarm_value(n)?;
                    let reason = (value == AlarmValue::Alarm).then(|| {
                        let a = &w.alarms[n];
                        match &a.forced {
                            Some((_, reason)) => reason.clone(),
                            None => format!(
                                "5xx rate {:.1}% over the {:.0}% threshold",
                                w.listener_error_rate(&a.listener) * 100.0,
                                a.threshold * 100.0
                            ),
                        }
                    });
                    Some(AlarmState {
                        name: n.clone(),
                        value,
                        reason,
                    })
                })
                .collect())
        })
    }
}

impl Notifier for Sim {
    async fn publish(&self, topic: &Arn, notification: &Notification) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Publish")?;
            // The topics are encrypted with a customer-managed key.
            w.note_access("kms:GenerateDataKey");
            w.note_access("kms:Decrypt");
            let at = w.now;
            let seq = w.next_seq();
            w.published.push(Published {
                topic: topic.clone(),
                at,
                seq,
                notification: notification.clone(),
            });
            let deliveries: Vec<String> = w
                .subscriptions
                .iter()
                .filter(|(t, s)| {
                    t == topic
                        && s.filter
                            .as_ref()
                            .is_none_or(|f| crate::world::filter_matches(f, notification))
                })
                .map(|(_, s)| s.endpoint.clone())
                .collect();
            for endpoint in deliveries {
                w.inboxes
                    .entry(endpoint)
                    .or_default()
                    .push(notification.clone());
            }
            Ok(format!("msg-{}", w.published.len()))
        })
    }
}

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
                .get(repository)
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

impl StateStore for Sim {
    async fn acquire_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<LockOutcome> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "LOCK#")?;
            w.note_access("dynamodb:GetItem LOCK#");
            let key = (app.to_string(), environment.to_string());
            if let Some(lock) = w.store.locks.get(&key) {
                if lock.owner != owner && lock.expires_at > now {
                    return Ok(LockOutcome::Held { lock: lock.clone() });
                }
            }
            let lock = Lock {
                app: app.to_string(),
                environment: environment.to_string(),
                owner: owner.to_string(),
                acquired_at: now,
                expires_at: lease.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC),
            };
            w.store.locks.insert(key, lock.clone());
            Ok(LockOutcome::Acquired { lock })
        })
    }

    async fn renew_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<Lock> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:UpdateItem", "LOCK#")?;
            match w
                .store
                .locks
                .get_mut(&(app.to_string(), environment.to_string()))
            {
                Some(lock) if lock.owner == owner => {
                    lock.expires_at = lease.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
                    Ok(lock.clone())
                }
                _ => Err(conflict(
                    "dynamodb:UpdateItem",
                    format!("the lock of {app}/{environment} is not {owner}'s"),
                )),
            }
        })
    }

    async fn release_lock(&self, app: &str, environment: &str, owner: &str) -> PortResult<bool> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:DeleteItem", "LOCK#")?;
            let key = (app.to_string(), environment.to_string());
            if w.store.locks.get(&key).is_some_and(|l| l.owner == owner) {
                w.store.locks.remove(&key);
                return Ok(true);
            }
            Ok(false)
        })
    }

    async fn get_lock(&self, app: &str, environment: &str) -> PortResult<Option<Lock>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "LOCK#")?;
            Ok(w.store
                .locks
                .get(&(app.to_string(), environment.to_string()))
                .cloned())
        })
    }

    async fn put_deployment(&self, record: &DeploymentRecord) -> PortResult<u64> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "DEPLOYMENT#")?;
            let stored = w.store.deployments.get(&record.id).map_or(0, |r| r.version);
            if stored != record.version {
                return Err(conflict(
                    "dynamodb:PutItem",
                    format!(
                        "deployment {} is at version {stored}, not {}",
                        record.id, record.version
                    ),
                ));
            }
            let version = stored + 1;
            w.store.deployments.insert(
                record.id.clone(),
                DeploymentRecord {
                    version,
                    ..record.clone()
                },
            );
            Ok(version)
        })
    }

    async fn get_deployment(&self, id: &str) -> PortResult<Option<DeploymentRecord>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "DEPLOYMENT#")?;
            Ok(w.store.deployments.get(id).cloned())
        })
    }

    async fn history(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> PortResult<Vec<DeploymentRecord>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:Query", "HISTORY#")?;
            let mut out: Vec<DeploymentRecord> = w
                .store
                .deployments
                .values()
                .filter(|d| d.app == app && d.environment == environment)
                .cloned()
                .collect();
            out.sort_by(|a, b| {
                b.started_at
                    .cmp(&a.started_at)
                    .then_with(|| b.id.cmp(&a.id))
            });
            out.truncate(limit);
            Ok(out)
        })
    }

    async fn put_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
        token: &str,
        alarms: &[String],
    ) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "TOKEN#")?;
            if !alarms.is_empty() {
                w.note_access("dynamodb:PutItem ALARM#");
            }
            w.store.tokens.insert(
                (deployment.to_string(), purpose),
                (token.to_string(), alarms.to_vec()),
            );
            Ok(())
        })
    }

    async fn tokens_watching(&self, alarm: &str) -> PortResult<Vec<(String, String)>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:Query", "ALARM#")?;
            Ok(w.store
                .tokens
                .iter()
                .filter(|(_, (_, alarms))| alarms.iter().any(|a| a == alarm))
                .map(|((d, _), (t, _))| (d.clone(), t.clone()))
                .collect())
        })
    }

    async fn get_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> PortResult<Option<String>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "TOKEN#")?;
            Ok(w.store
                .tokens
                .get(&(deployment.to_string(), purpose))
                .map(|(t, _)| t.clone()))
        })
    }

    async fn delete_task_token(&self, deployment: &str, purpose: TokenPurpose) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.note_access("dynamodb:GetItem TOKEN#");
            w.note_access("dynamodb:DeleteItem ALARM#");
            w.call_item("dynamodb:DeleteItem", "TOKEN#")?;
            w.store.tokens.remove(&(deployment.to_string(), purpose));
            Ok(())
        })
    }

    async fn get_config(&self) -> PortResult<Option<StoredConfig>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "CONFIG")?;
            Ok(w.store.config.clone())
        })
    }

    async fn put_config(
        &self,
        config: &Config,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> PortResult<u64> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "CONFIG")?;
            let current = w.store.config.as_ref().map_or(0, |c| c.version);
            if current != expected_version {
                return Err(conflict(
                    "dynamodb:PutItem",
                    format!("configuration is at version {current}, not {expected_version}"),
                ));
            }
            w.store.config = Some(StoredConfig {
                config: config.clone(),
                version: current + 1,
                updated_at: now,
                updated_by: by.to_string(),
            });
            Ok(current + 1)
        })
    }
}

impl Prober for Sim {
    async fn get(&self, url: &str, timeout: Duration) -> ProbeResult {
        let mut w = self.world();
        let now = w.now;
        w.calls.push((now, "http:GET".into()));
        match w.http_get(url) {
            Ok(status) => ProbeResult {
                status: Some(status),
                error: None,
                elapsed_ms: 20,
            },
            Err(e) => ProbeResult {
                status: None,
                error: Some(format!("{e} (timeout {timeout})")),
                elapsed_ms: timeout.as_secs() * 1000,
            },
        }
    }
}

impl Subscriptions for Sim {
    async fn subscribe(
        &self,
        topic: &Arn,
        protocol: &str,
        endpoint: &str,
        filter: Option<&serde_json::Value>,
    ) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Subscribe")?;
            let arn = format!("{topic}:sub-{}", w.subscriptions.len() + 1);
            w.subscriptions.push((
                topic.clone(),
                Subscription {
                    arn: arn.clone(),
                    protocol: protocol.to_string(),
                    endpoint: endpoint.to_string(),
                    filter: filter.cloned(),
                },
            ));
            Ok(arn)
        })
    }

    async fn unsubscribe(&self, subscription: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Unsubscribe")?;
            let before = w.subscriptions.len();
            w.subscriptions.retain(|(_, s)| s.arn != subscription);
            if w.subscriptions.len() == before {
                return Err(PortError::not_found(format!("subscription {subscription}")));
            }
            Ok(())
        })
    }

    async fn subscriptions(&self, topic: &Arn) -> PortResult<Vec<Subscription>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:ListSubscriptionsByTopic")?;
            Ok(w.subscriptions
                .iter()
                .filter(|(t, _)| t == topic)
                .map(|(_, s)| s.clone())
                .collect())
        })
    }
}

impl DeadLetters for Sim {
    async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> PortResult<Vec<DeadLetter>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:ReceiveMessage")?;
            let now = w.now;
            let until = hide.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
            let messages = w
                .queues
                .get_mut(queue)
                .ok_or_else(|| PortError::not_found(format!("SQS queue {queue}")))?;
            let mut out = Vec::new();
            for (m, hidden_until) in messages.iter_mut() {
                if out.len() >= max {
                    break;
                }
                if *hidden_until <= now {
                    *hidden_until = until;
                    out.push(m.clone());
                }
            }
            Ok(out)
        })
    }

    async fn show_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:ChangeMessageVisibility")?;
            let now = w.now;
            if let Some(messages) = w.queues.get_mut(queue) {
                for (m, hidden_until) in messages.iter_mut() {
                    if m.receipt == receipt {
                        *hidden_until = now;
                    }
                }
            }
            Ok(())
        })
    }

    async fn delete_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:DeleteMessage")?;
            if let Some(messages) = w.queues.get_mut(queue) {
                messages.retain(|(m, _)| m.receipt != receipt);
            }
            Ok(())
        })
    }
}
