//! What exists in the simulated account, for `greenlight init` rehearsed without AWS.

#[allow(unused_imports)]
use super::*;

/// The load balancer a listener or listener rule belongs to.
fn load_balancer_of(route: &Arn) -> Option<Arn> {
    let text = route
        .as_str()
        .replacen(":listener-rule/", ":loadbalancer/", 1)
        .replacen(":listener/", ":loadbalancer/", 1);
    let mut parts: Vec<&str> = text.split('/').collect();
    // loadbalancer/app/NAME/ID[/LISTENER[/RULE]]
    parts.truncate(4);
    Arn::parse(&parts.join("/")).ok()
}

impl Inventory for Sim {
    async fn service_facts(&self, cluster: &str, service: &str) -> PortResult<ServiceFacts> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeServices")?;
            let s = w.service(cluster, service)?;
            let container = w
                .task_defs
                .get(&s.task_definition)
                .and_then(|td| td.containers.first())
                .map(|(name, _)| name.clone())
                .unwrap_or_default();
            Ok(ServiceFacts {
                cluster: s.cluster.clone(),
                name: s.name.clone(),
                arn: format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}"),
                task_definition: s.task_definition.clone(),
                desired: s.desired,
                deployment_controller: "ECS".into(),
                strategy: Some("ROLLING".into()),
                scheduling: Some("REPLICA".into()),
                attachments: w
                    .target_groups
                    .iter()
                    .filter(|(_, (c, n))| c == cluster && n == service)
                    .map(|(tg, _)| Attachment {
                        target_group: tg.clone(),
                        container: container.clone(),
                        port: 8080,
                    })
                    .collect(),
                classic_load_balancers: vec![],
                placement: Placement {
                    launch_type: Some("FARGATE".into()),
                    subnets: vec!["subnet-0sim0000000000001".into()],
                    security_groups: vec!["sg-0sim0000000000001".into()],
                    ..Placement::default()
                },
                tags: vec![],
            })
        })
    }

    async fn containers(&self, task_definition: &str) -> PortResult<Vec<ContainerFacts>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("ecs:DescribeTaskDefinition")?;
            let td = w.task_defs.get(task_definition).ok_or_else(|| {
                PortError::not_found(format!("task definition {task_definition}"))
            })?;
            Ok(td
                .containers
                .iter()
                .map(|(name, image)| ContainerFacts {
                    name: name.clone(),
                    image: image.clone(),
                    essential: true,
                })
                .collect())
        })
    }

    async fn target_group_facts(&self, target_group: &Arn) -> PortResult<TargetGroupFacts> {
        self.answered(|| {
            let mut w = self.world();
            w.call("elasticloadbalancing:DescribeTargetGroups")?;
            if !w.target_groups.contains_key(target_group) {
                return Err(PortError::not_found(format!("target group {target_group}")));
            }
            let mut load_balancers: Vec<Arn> = w
                .listeners
                .iter()
                .filter(|(_, l)| l.weights.iter().any(|t| &t.target_group == target_group))
                .filter_map(|(arn, _)| load_balancer_of(arn))
                .collect();
            load_balancers.sort();
            load_balancers.dedup();
            let name = target_group
                .as_str()
                .split('/')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            Ok(TargetGroupFacts {
                arn: target_group.clone(),
                name,
                protocol: Some("HTTP".into()),
                port: Some(8080),
                vpc: Some("vpc-0sim0000000000001".into()),
                target_type: Some("ip".into()),
                load_balancers,
                health_check_protocol: Some("HTTP".into()),
                health_check_path: Some("/healthz".into()),
                health_check_interval: Some(10),
                health_check_timeout: Some(5),
                healthy_threshold: Some(2),
                unhealthy_threshold: Some(2),
                matcher: Some("200".into()),
            })
        })
    }

    async fn listeners(&self, load_balancer: &Arn) -> PortResult<Vec<RouteFacts>> {
        self.routes("elasticloadbalancing:DescribeListeners", |arn| {
            !is_listener_rule(arn) && load_balancer_of(arn).as_ref() == Some(load_balancer)
        })
    }

    async fn rules(&self, listener: &Arn) -> PortResult<Vec<RouteFacts>> {
        self.routes("elasticloadbalancing:DescribeRules", |arn| {
            is_listener_rule(arn) && listener_of_rule(arn).as_ref() == Some(listener)
        })
    }

    /// A simulated alarm watches a production listener's 5xx rate (dimension: its load
    /// balancer) or a worker's two services (dimensions: cluster and the blue service).
    async fn metric_alarms(&self) -> PortResult<Vec<AlarmFacts>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("cloudwatch:DescribeAlarms")?;
            Ok(w.alarms
                .iter()
                .map(|(name, a)| {
                    let dimensions = match &a.source {
                        crate::alarms::AlarmSource::Listener(l) => {
                            greenlight_core::analysis::load_balancer_dimension(l)
                                .map(|d| vec![("LoadBalancer".into(), d)])
                                .unwrap_or_default()
                        }
                        crate::alarms::AlarmSource::Tasks(cluster, blue, _) => vec![
                            ("ClusterName".into(), cluster.clone()),
                            ("ServiceName".into(), blue.clone()),
                        ],
                    };
                    AlarmFacts {
                        name: name.clone(),
                        metrics: vec![AlarmMetric {
                            namespace: Some("AWS/ApplicationELB".into()),
                            metric: Some("HTTPCode_Target_5XX_Count".into()),
                            dimensions,
                            stat: Some("Sum".into()),
                            period: Some(60),
                            ..AlarmMetric::default()
                        }],
                        evaluation_periods: Some(1),
                        threshold: Some(a.threshold),
                        comparison: Some("GreaterThanThreshold".into()),
                        ..AlarmFacts::default()
                    }
                })
                .collect())
        })
    }
}

impl Sim {
    fn routes(&self, operation: &str, which: impl Fn(&Arn) -> bool) -> PortResult<Vec<RouteFacts>> {
        self.answered(|| {
            let mut w = self.world();
            w.call(operation)?;
            Ok(w.listeners
                .iter()
                .filter(|(arn, _)| which(arn))
                .map(|(arn, l)| RouteFacts {
                    arn: arn.clone(),
                    port: (!is_listener_rule(arn)).then_some(l.port),
                    protocol: (!is_listener_rule(arn)).then(|| l.scheme.to_uppercase()),
                    priority: if is_listener_rule(arn) {
                        "10".into()
                    } else {
                        "default".into()
                    },
                    forwards_to: l.weights.iter().map(|t| t.target_group.clone()).collect(),
                })
                .collect())
        })
    }
}
