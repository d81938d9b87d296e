//! `ContainerService` on Amazon ECS.

use aws_sdk_ecs::types::{
    DeploymentRolloutState, DesiredStatus, HealthStatus, TaskDefinitionField, TaskStopCode,
};
use greenlight_core::ports::{
    ContainerService, CrashedTask, PortError, PortResult, RolloutState, ServiceState, TaskReport,
};

use crate::error::{classify, missing};
use crate::AwsCloud;

impl AwsCloud {
    /// One service (`DescribeServices`, with its tags when asked), the first whose status
    /// `keep` accepts; a missing cluster or service is `NotFound`.
    pub(crate) async fn ecs_service(
        &self,
        cluster: &str,
        service: &str,
        tags: bool,
        keep: impl Fn(Option<&str>) -> bool,
    ) -> PortResult<aws_sdk_ecs::types::Service> {
        const OP: &str = "ecs:DescribeServices";
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .set_include(tags.then(|| vec![aws_sdk_ecs::types::ServiceField::Tags]))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_cluster_not_found_exception() => {
                    PortError::not_found(format!("ECS cluster {cluster}"))
                }
                _ => classify(OP, e),
            })?;
        out.services
            .unwrap_or_default()
            .into_iter()
            .find(|s| keep(s.status()))
            .ok_or_else(|| {
                PortError::not_found(format!("ECS service {service} in cluster {cluster}"))
            })
    }
}

impl ContainerService for AwsCloud {
    async fn describe_service(&self, cluster: &str, service: &str) -> PortResult<ServiceState> {
        const OP: &str = "ecs:DescribeServices";
        let s = &self
            .ecs_service(cluster, service, false, |s| s != Some("INACTIVE"))
            .await?;
        let primary = s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let rollout = match primary.and_then(|d| d.rollout_state()) {
            Some(DeploymentRolloutState::Failed) => RolloutState::Failed,
            Some(DeploymentRolloutState::InProgress) => RolloutState::InProgress,
            Some(DeploymentRolloutState::Completed) => RolloutState::Completed,
            // Services without the rolling-update controller's state (or a primary not yet
            // reported) count as completed once one deployment remains and it has its tasks.
            _ if s.deployments().len() <= 1 && s.running_count() == s.desired_count() => {
                RolloutState::Completed
            }
            _ => RolloutState::InProgress,
        };
        Ok(ServiceState {
            cluster: cluster.to_string(),
            service: service.to_string(),
            task_definition: s
                .task_definition()
                .ok_or_else(|| missing(OP, "taskDefinition"))?
                .to_string(),
            desired: s.desired_count().max(0) as u32,
            running: s.running_count().max(0) as u32,
            pending: s.pending_count().max(0) as u32,
            rollout,
            rollout_reason: primary
                .and_then(|d| d.rollout_state_reason())
                .map(str::to_string),
            deployments: s.deployments().len() as u32,
        })
    }

    async fn container_image(&self, task_definition: &str, container: &str) -> PortResult<String> {
        let td = self.task_definition(task_definition).await?.0;
        td.container_definitions()
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
            .map(str::to_string)
            .ok_or_else(|| {
                PortError::not_found(format!(
                    "container `{container}` in task definition {task_definition}"
                ))
            })
    }

    async fn register_with_image(
        &self,
        task_definition: &str,
        container: &str,
        image: &str,
    ) -> PortResult<String> {
        const OP: &str = "ecs:RegisterTaskDefinition";
        let (td, tags) = self.task_definition(task_definition).await?;
        if !td
            .container_definitions()
            .iter()
            .any(|c| c.name() == Some(container))
        {
            return Err(PortError::not_found(format!(
                "container `{container}` in task definition {task_definition}"
            )));
        }
        let containers = td
            .container_definitions()
            .iter()
            .map(|c| {
                if c.name() == Some(container) {
                    let mut c = c.clone();
                    c.image = Some(image.to_string());
                    c
                } else {
                    c.clone()
                }
            })
            .collect::<Vec<_>>();
        // An earlier attempt may have registered this very revision and lost the answer:
        // the family's newest revision, when it is what we would register, is reused.
        if let Some(family) = td.family() {
            let (newest, _) = self.task_definition(family).await?;
            if newest.revision() != td.revision()
                && newest.container_definitions() == containers.as_slice()
                && newest.task_role_arn() == td.task_role_arn()
                && newest.execution_role_arn() == td.execution_role_arn()
                && newest.cpu() == td.cpu()
                && newest.memory() == td.memory()
                && newest.network_mode() == td.network_mode()
                && newest.volumes() == td.volumes()
                && newest.requires_compatibilities() == td.requires_compatibilities()
                && newest.runtime_platform() == td.runtime_platform()
                && newest.ephemeral_storage() == td.ephemeral_storage()
            {
                if let Some(arn) = newest.task_definition_arn() {
                    return Ok(arn.to_string());
                }
            }
        }
        // Everything else is carried over as it was, so the revision differs only in the image.
        let out = self
            .ecs
            .register_task_definition()
            .set_family(td.family().map(str::to_string))
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(non_empty(td.volumes()))
            .set_placement_constraints(non_empty(td.placement_constraints()))
            .set_requires_compatibilities(non_empty(td.requires_compatibilities()))
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            .set_tags(non_empty(&tags))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| missing(OP, "taskDefinition.taskDefinitionArn"))
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: Option<&str>,
        desired: Option<u32>,
    ) -> PortResult<()> {
        const OP: &str = "ecs:UpdateService";
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .set_task_definition(task_definition.map(str::to_string))
            .set_desired_count(desired.map(|d| d as i32))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se)
                    if se.is_service_not_found_exception()
                        || se.is_service_not_active_exception() =>
                {
                    PortError::not_found(format!("ECS service {service} in cluster {cluster}"))
                }
                Some(se) if se.is_cluster_not_found_exception() => {
                    PortError::not_found(format!("ECS cluster {cluster}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(())
    }

    /// ListTasks (running, then stopped — ECS keeps stopped tasks for about an hour) and
    /// DescribeTasks, 100 at a time. A stopped task counts as crashed when ECS stopped it
    /// because an essential container exited non-zero or it failed to start, not when the scheduler
    /// scaled it in.
    async fn task_report(
        &self,
        cluster: &str,
        service: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> PortResult<TaskReport> {
        let mut report = TaskReport::default();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let mut arns = Vec::new();
            let mut pages = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(status.clone())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("ecs:ListTasks", e))?;
                arns.extend(page.task_arns().iter().cloned());
            }
            for chunk in arns.chunks(100) {
                let out = self
                    .ecs
                    .describe_tasks()
                    .cluster(cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| classify("ecs:DescribeTasks", e))?;
                for t in out.tasks() {
                    if status == DesiredStatus::Running {
                        if t.last_status() != Some("RUNNING") {
                            continue;
                        }
                        if t.health_status() == Some(&HealthStatus::Unhealthy) {
                            report.unhealthy += 1;
                        } else {
                            report.healthy += 1;
                        }
                        continue;
                    }
                    let stopped_since = t
                        .stopped_at()
                        .is_some_and(|at| at.secs() >= since.timestamp());
                    let exit_code = t
                        .containers()
                        .iter()
                        .filter_map(|c| c.exit_code())
                        .find(|c| *c != 0);
                    // An essential container that exited 0 finished; one that exited
                    // otherwise, or a task that never started, crashed.
                    let crashed = match t.stop_code() {
                        Some(TaskStopCode::TaskFailedToStart) => true,
                        Some(TaskStopCode::EssentialContainerExited) => exit_code.is_some(),
                        _ => false,
                    };
                    if stopped_since && crashed {
                        report.crashed.push(CrashedTask {
                            task: t
                                .task_arn()
                                .and_then(|a| a.rsplit('/').next())
                                .unwrap_or_default()
                                .to_string(),
                            exit_code,
                            reason: t.stopped_reason().unwrap_or("stopped").to_string(),
                        });
                    }
                }
            }
        }
        Ok(report)
    }
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

impl AwsCloud {
    async fn task_definition(
        &self,
        arn: &str,
    ) -> PortResult<(
        aws_sdk_ecs::types::TaskDefinition,
        Vec<aws_sdk_ecs::types::Tag>,
    )> {
        const OP: &str = "ecs:DescribeTaskDefinition";
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_client_exception() => {
                    PortError::not_found(format!("task definition {arn}"))
                }
                _ => classify(OP, e),
            })?;
        let tags = out.tags().to_vec();
        let td = out
            .task_definition
            .ok_or_else(|| PortError::not_found(format!("task definition {arn}")))?;
        Ok((td, tags))
    }
}
