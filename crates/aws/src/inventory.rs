//! `Inventory` on ECS, Elastic Load Balancing and CloudWatch (the CLI's `init`; Describe
//! and List calls only, not in the functions).

use aws_sdk_ecs::types::TaskDefinitionField;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
use greenlight_core::ports::{
    AlarmFacts, AlarmMetric, Attachment, ContainerFacts, Inventory, Placement, PortError,
    PortResult, RouteFacts, ServiceFacts, TargetGroupFacts,
};
use greenlight_core::Arn;

use crate::elb::parse_arn;
use crate::error::{classify, missing};
use crate::AwsCloud;

/// The target groups a forward action names (whatever their weights).
fn forwards_to(op: &str, actions: &[Action]) -> PortResult<Vec<Arn>> {
    let mut out = Vec::new();
    for a in actions
        .iter()
        .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
    {
        let tuples = a.forward_config().map(|f| f.target_groups()).unwrap_or(&[]);
        if tuples.is_empty() {
            if let Some(tg) = a.target_group_arn() {
                out.push(parse_arn(op, tg)?);
            }
        }
        for t in tuples {
            if let Some(tg) = t.target_group_arn() {
                out.push(parse_arn(op, tg)?);
            }
        }
    }
    out.dedup();
    Ok(out)
}

fn dimensions(d: &[aws_sdk_cloudwatch::types::Dimension]) -> Vec<(String, String)> {
    d.iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect()
}

/// An alarm as `init` reads it: its one metric, or its metric-math metrics.
fn alarm_facts(name: &str, a: &aws_sdk_cloudwatch::types::MetricAlarm) -> AlarmFacts {
    let math = !a.metrics().is_empty();
    let metrics = if math {
        a.metrics()
            .iter()
            .map(|m| {
                let stat = m.metric_stat();
                let metric = stat.and_then(|s| s.metric());
                AlarmMetric {
                    id: m.id().unwrap_or_default().to_string(),
                    expression: m.expression().map(str::to_string),
                    namespace: metric.and_then(|x| x.namespace()).map(str::to_string),
                    metric: metric.and_then(|x| x.metric_name()).map(str::to_string),
                    dimensions: metric
                        .map(|x| dimensions(x.dimensions()))
                        .unwrap_or_default(),
                    stat: stat.and_then(|s| s.stat()).map(str::to_string),
                    period: count(stat.and_then(|s| s.period()).or(m.period())),
                    label: m.label().map(str::to_string),
                    return_data: m.return_data(),
                }
            })
            .collect()
    } else {
        vec![AlarmMetric {
            namespace: a.namespace().map(str::to_string),
            metric: a.metric_name().map(str::to_string),
            dimensions: dimensions(a.dimensions()),
            stat: a
                .statistic()
                .map(|s| s.as_str().to_string())
                .or_else(|| a.extended_statistic().map(str::to_string)),
            period: count(a.period()),
            ..AlarmMetric::default()
        }]
    };
    AlarmFacts {
        name: name.to_string(),
        metrics,
        math,
        evaluation_periods: count(a.evaluation_periods()),
        datapoints_to_alarm: count(a.datapoints_to_alarm()),
        threshold: a.threshold(),
        comparison: a.comparison_operator().map(|c| c.as_str().to_string()),
        treat_missing_data: a.treat_missing_data().map(str::to_string),
    }
}

fn count(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

impl Inventory for AwsCloud {
    async fn service_facts(&self, cluster: &str, service: &str) -> PortResult<ServiceFacts> {
        const OP: &str = "ecs:DescribeServices";
        // A service being deleted (DRAINING) or deleted (INACTIVE) is not there to adopt.
        let s = &self
            .ecs_service(cluster, service, true, |s| s == Some("ACTIVE"))
            .await?;
        let mut attachments = Vec::new();
        let classic_load_balancers = s
            .load_balancers()
            .iter()
            .filter(|lb| lb.target_group_arn().is_none())
            .filter_map(|lb| lb.load_balancer_name().map(str::to_string))
            .collect();
        for lb in s.load_balancers() {
            let (Some(tg), Some(container)) = (lb.target_group_arn(), lb.container_name()) else {
                continue;
            };
            attachments.push(Attachment {
                target_group: parse_arn(OP, tg)?,
                container: container.to_string(),
                port: lb
                    .container_port()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0),
            });
        }
        let vpc = s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration());
        Ok(ServiceFacts {
            cluster: s
                .cluster_arn()
                .and_then(|c| c.rsplit('/').next())
                .unwrap_or(cluster)
                .to_string(),
            name: s.service_name().unwrap_or(service).to_string(),
            arn: s
                .service_arn()
                .ok_or_else(|| missing(OP, "serviceArn"))?
                .to_string(),
            task_definition: s
                .task_definition()
                .ok_or_else(|| missing(OP, "taskDefinition"))?
                .to_string(),
            desired: count(Some(s.desired_count())).unwrap_or(0),
            deployment_controller: s
                .deployment_controller()
                .map_or("ECS", |c| c.r#type().as_str())
                .to_string(),
            strategy: s
                .deployment_configuration()
                .and_then(|c| c.strategy())
                .map(|s| s.as_str().to_string()),
            scheduling: s.scheduling_strategy().map(|s| s.as_str().to_string()),
            attachments,
            classic_load_balancers,
            placement: Placement {
                launch_type: s.launch_type().map(|l| l.as_str().to_string()),
                capacity_providers: s
                    .capacity_provider_strategy()
                    .iter()
                    .map(|c| {
                        (
                            c.capacity_provider().to_string(),
                            count(Some(c.weight())).unwrap_or(0),
                            count(Some(c.base())).unwrap_or(0),
                        )
                    })
                    .collect(),
                platform_version: s.platform_version().map(str::to_string),
                subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
                security_groups: vpc
                    .map(|v| v.security_groups().to_vec())
                    .unwrap_or_default(),
                public_ip: vpc
                    .and_then(|v| v.assign_public_ip())
                    .is_some_and(|a| a.as_str() == "ENABLED"),
                health_check_grace_seconds: count(s.health_check_grace_period_seconds()),
            },
            tags: s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        })
    }

    async fn containers(&self, task_definition: &str) -> PortResult<Vec<ContainerFacts>> {
        const OP: &str = "ecs:DescribeTaskDefinition";
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let td = out
            .task_definition()
            .ok_or_else(|| PortError::not_found(format!("task definition {task_definition}")))?;
        Ok(td
            .container_definitions()
            .iter()
            .filter_map(|c| {
                Some(ContainerFacts {
                    name: c.name()?.to_string(),
                    image: c.image()?.to_string(),
                    essential: c.essential().unwrap_or(true),
                })
            })
            .collect())
    }

    async fn target_group_facts(&self, target_group: &Arn) -> PortResult<TargetGroupFacts> {
        const OP: &str = "elasticloadbalancing:DescribeTargetGroups";
        let out = self
            .elb
            .describe_target_groups()
            .target_group_arns(target_group.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_target_group_not_found_exception() => {
                    PortError::not_found(format!("target group {target_group}"))
                }
                _ => classify(OP, e),
            })?;
        let t = out
            .target_groups()
            .first()
            .ok_or_else(|| PortError::not_found(format!("target group {target_group}")))?;
        Ok(TargetGroupFacts {
            arn: target_group.clone(),
            name: t
                .target_group_name()
                .ok_or_else(|| missing(OP, "TargetGroupName"))?
                .to_string(),
            protocol: t.protocol().map(|p| p.as_str().to_string()),
            port: t.port().and_then(|p| u16::try_from(p).ok()),
            vpc: t.vpc_id().map(str::to_string),
            target_type: t.target_type().map(|p| p.as_str().to_string()),
            load_balancers: t
                .load_balancer_arns()
                .iter()
                .map(|a| parse_arn(OP, a))
                .collect::<PortResult<_>>()?,
            health_check_protocol: t.health_check_protocol().map(|p| p.as_str().to_string()),
            health_check_path: t.health_check_path().map(str::to_string),
            health_check_interval: count(t.health_check_interval_seconds()),
            health_check_timeout: count(t.health_check_timeout_seconds()),
            healthy_threshold: count(t.healthy_threshold_count()),
            unhealthy_threshold: count(t.unhealthy_threshold_count()),
            matcher: t.matcher().and_then(|m| m.http_code()).map(str::to_string),
        })
    }

    async fn listeners(&self, load_balancer: &Arn) -> PortResult<Vec<RouteFacts>> {
        const OP: &str = "elasticloadbalancing:DescribeListeners";
        let mut marker = None;
        let mut routes = Vec::new();
        loop {
            let out = self
                .elb
                .describe_listeners()
                .load_balancer_arn(load_balancer.as_str())
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_load_balancer_not_found_exception() => {
                        PortError::not_found(format!("load balancer {load_balancer}"))
                    }
                    _ => classify(OP, e),
                })?;
            for l in out.listeners() {
                routes.push(RouteFacts {
                    arn: parse_arn(
                        OP,
                        l.listener_arn().ok_or_else(|| missing(OP, "ListenerArn"))?,
                    )?,
                    port: l.port().and_then(|p| u16::try_from(p).ok()),
                    protocol: l.protocol().map(|p| p.as_str().to_string()),
                    priority: "default".into(),
                    forwards_to: forwards_to(OP, l.default_actions())?,
                });
            }
            marker = out.next_marker().map(str::to_string);
            if marker.is_none() {
                return Ok(routes);
            }
        }
    }

    async fn rules(&self, listener: &Arn) -> PortResult<Vec<RouteFacts>> {
        const OP: &str = "elasticloadbalancing:DescribeRules";
        let mut marker = None;
        let mut routes = Vec::new();
        loop {
            let out = self
                .elb
                .describe_rules()
                .listener_arn(listener.as_str())
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_listener_not_found_exception() => {
                        PortError::not_found(format!("listener {listener}"))
                    }
                    _ => classify(OP, e),
                })?;
            for r in out.rules().iter().filter(|r| r.is_default() != Some(true)) {
                routes.push(RouteFacts {
                    arn: parse_arn(OP, r.rule_arn().ok_or_else(|| missing(OP, "RuleArn"))?)?,
                    port: None,
                    protocol: None,
                    priority: r.priority().unwrap_or_default().to_string(),
                    forwards_to: forwards_to(OP, r.actions())?,
                });
            }
            marker = out.next_marker().map(str::to_string);
            if marker.is_none() {
                return Ok(routes);
            }
        }
    }

    async fn metric_alarms(&self) -> PortResult<Vec<AlarmFacts>> {
        const OP: &str = "cloudwatch:DescribeAlarms";
        let mut token = None;
        let mut alarms = Vec::new();
        loop {
            let out = self
                .cloudwatch
                .describe_alarms()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            for a in out.metric_alarms() {
                let Some(name) = a.alarm_name() else { continue };
                alarms.push(alarm_facts(name, a));
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(alarms);
            }
        }
    }
}
