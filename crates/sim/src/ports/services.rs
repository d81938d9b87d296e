//! ECS, Elastic Load Balancing, ECR and CloudWatch: the environments greenlight changes and watches.

#[allow(unused_imports)]
use super::*;

impl ContainerService for Sim {
    async fn describe_service(&self, cluster: &str, service: &str) -> PortResult<ServiceState> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeServices")?;
            self.owned(
                &w,
                &crate::accounts::service_key(cluster, service),
                &format!("ECS service {service} in cluster {cluster}"),
            )?;
            let s = w.service(cluster, service)?;
            Ok(w.service_state(&s))
        })
    }

    async fn container_image(&self, task_definition: &str, container: &str) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeTaskDefinition")?;
            self.arn_here(
                task_definition,
                &format!("task definition {task_definition}"),
            )?;
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
            self.arn_here(
                task_definition,
                &format!("task definition {task_definition}"),
            )?;
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
                .filter(|t| t.family == td.family && self.arn_here(&t.arn, "").is_ok())
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
            Ok(w.register_task_def_in(self.here(), &td.family, containers))
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
            self.owned(
                &w,
                &crate::accounts::service_key(cluster, service),
                &format!("ECS service {service} in cluster {cluster}"),
            )?;
            if let Some(td) = task_definition {
                if !w.task_defs.contains_key(td) || self.arn_here(td, "").is_err() {
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

    /// Running tasks are healthy unless the image never passes its health check or has
    /// stopped passing it; an image that crashes on start leaves a batch of stopped tasks
    /// (exit code 1) every 30 s while ECS keeps trying, the first 30 s after the tasks
    /// were asked for.
    async fn task_report(
        &self,
        cluster: &str,
        service: &str,
        since: DateTime<Utc>,
    ) -> PortResult<TaskReport> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:ListTasks")?;
            w.call("ecs:DescribeTasks")?;
            self.owned(
                &w,
                &crate::accounts::service_key(cluster, service),
                &format!("ECS service {service} in cluster {cluster}"),
            )?;
            let s = w.service(cluster, service)?;
            let state = w.service_state(&s);
            let b = w.behaviour_of(&s.task_definition);
            let mut report = TaskReport::default();
            if w.health_failing(&s) {
                report.unhealthy = state.running;
            } else {
                report.healthy = state.running;
            }
            if b.crash_on_start && s.desired > 0 {
                let from = since.max(s.updated_at);
                let batches = (w.now - from).num_seconds().max(0) / 30;
                let count = (batches as u32).saturating_mul(s.desired).min(20);
                report.crashed = (0..count)
                    .map(|i| CrashedTask {
                        task: format!("{:032x}", u128::from(i) + 1),
                        exit_code: Some(1),
                        reason: "Essential container in task exited".into(),
                    })
                    .collect();
            }
            Ok(report)
        })
    }
}

impl LoadBalancer for Sim {
    async fn listener_weights(&self, listener: &Arn) -> PortResult<Vec<TargetWeight>> {
        self.answered(|| {
            let mut w = self.world();
            w.call(if is_listener_rule(listener) {
                "elbv2:DescribeRules"
            } else {
                "elbv2:DescribeListeners"
            })?;
            self.arn_here(listener.as_str(), &format!("listener {listener}"))?;
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
            w.call(if is_listener_rule(listener) {
                "elbv2:ModifyRule"
            } else {
                "elbv2:ModifyListener"
            })?;
            self.arn_here(listener.as_str(), &format!("listener {listener}"))?;
            for tw in weights {
                if !w.target_groups.contains_key(&tw.target_group)
                    || self.arn_here(tw.target_group.as_str(), "").is_err()
                {
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
            if !w.target_groups.contains_key(target_group)
                || self.arn_here(target_group.as_str(), "").is_err()
            {
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
            self.arn_here(listener.as_str(), &format!("listener {listener}"))?;
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
                .get(&self.repo(repository))
                .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))?;
            Ok(repo
                .images
                .iter()
                .filter(|i| !i.tags.is_empty())
                .cloned()
                .collect())
        })
    }

    /// A simulated image is labelled as a CI build would label it: the revision it was built
    /// from (40 hex digits derived from its digest) and a build five minutes before its push.
    async fn image_labels(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> PortResult<std::collections::BTreeMap<String, String>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:BatchGetImage")?;
            let image = w
                .repos
                .get(&self.repo(repository))
                .and_then(|r| r.images.iter().find(|i| i.image.digest == *digest))
                .cloned()
                .ok_or_else(|| PortError::not_found(format!("image {repository}@{digest}")))?;
            w.call("ecr:GetDownloadUrlForLayer")?;
            let revision: String = digest.hex().chars().rev().take(40).collect();
            let mut labels =
                std::collections::BTreeMap::from([(LABEL_REVISION.to_string(), revision)]);
            if let Some(pushed) = image.pushed_at {
                let built = pushed - chrono::Duration::minutes(5);
                labels.insert(
                    LABEL_CREATED.to_string(),
                    built.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
            }
            Ok(labels)
        })
    }

    async fn repository_uri(&self, repository: &str) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:DescribeRepositories")?;
            w.repos
                .get(&self.repo(repository))
                .map(|r| r.uri.clone())
                .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))
        })
    }

    async fn repository_policy(&self, repository: &str) -> PortResult<Option<String>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecr:GetRepositoryPolicy")?;
            if !w.repos.contains_key(&self.repo(repository)) {
                return Err(PortError::not_found(format!("ECR repository {repository}")));
            }
            Ok(if self.here() == (crate::ACCOUNT, crate::REGION) {
                w.accounts.policies.get(repository).cloned()
            } else {
                None
            })
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
                .filter(|n| self.owned(&w, &format!("alarm:{n}"), "").is_ok())
                .filter_map(|n| {
                    let value = w.alarm_value(n)?;
                    let reason = (value == AlarmValue::Alarm).then(|| {
                        let a = &w.alarms[n];
                        match &a.forced {
                            Some((_, reason)) => reason.clone(),
                            None => format!(
                                "5xx rate {:.1}% over the {:.0}% threshold",
                                w.source_error_rate(&a.source) * 100.0,
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

impl Metrics for Sim {
    async fn metric_values(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> PortResult<Vec<Option<f64>>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("cloudwatch:GetMetricData")?;
            Ok(queries
                .iter()
                .map(|q| w.metric_value(q, start, end))
                .collect())
        })
    }
}

impl Stacks for Sim {
    async fn stack_outputs(
        &self,
        name: &str,
    ) -> PortResult<std::collections::BTreeMap<String, String>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("cloudformation:DescribeStacks")?;
            w.stacks
                .get(name)
                .cloned()
                .ok_or_else(|| PortError::not_found(format!("stack {name}")))
        })
    }
}
