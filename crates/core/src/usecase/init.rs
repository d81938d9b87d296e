//! `greenlight init`: from an existing ECS service (behind an ALB, or a worker without one)
//! to what blue/green needs. Reads only (Describe and List calls): the service, its task
//! definition, target group, the listeners and rules in front of it, and the alarms that
//! name it. The result is an [`Adoption`]: what exists, what the second colour will be
//! called, and — once the second colour exists — every ARN of the environment.

use crate::ports::{AlarmFacts, Inventory, PortError, RouteFacts, ServiceFacts, TargetGroupFacts};
use crate::Arn;

/// What the operator asked for.
#[derive(Clone, Debug, Default)]
pub struct InitRequest {
    pub cluster: String,
    pub service: String,
    /// The container whose image greenlight changes (default: the one behind the load
    /// balancer, or the only essential one).
    pub container: Option<String>,
    /// The ECR repository (default: read from the container's image).
    pub repository: Option<String>,
    /// The production listener or listener rule (needed when more than one forwards to
    /// the service's target group).
    pub listener: Option<Arn>,
    /// The test listener's port (default: the first free one from 8080).
    pub test_port: Option<u16>,
}

/// Why `init` cannot go on: a message that names the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Aws(#[from] PortError),
}

fn refuse<T>(message: impl Into<String>) -> Result<T, InitError> {
    Err(InitError::Refused(message.into()))
}

/// An alarm `init` proposes, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProposedAlarm {
    pub name: String,
    /// `service`, `target_group` or `load_balancer` (the last also sees other services).
    pub names: &'static str,
    /// An alarm on the first colour alone (by its service or target group) needs a copy on
    /// the second: the template adds it, and the configuration watches both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twin: Option<Twin>,
}

/// The second colour's copy of an alarm: the same metrics, threshold and periods, with the
/// first colour's service and target group replaced by the second's.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Twin {
    pub name: String,
    /// Whether it exists already (the template was deployed).
    pub exists: bool,
    #[serde(skip)]
    pub facts: crate::ports::AlarmFacts,
}

/// The load-balanced side of an adoption.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Routing {
    pub target_group: TargetGroupFacts,
    pub load_balancer: Arn,
    /// The production listener or listener rule, which forwards to the target group.
    pub production: RouteFacts,
    /// The container port the target group reaches.
    pub container_port: u16,
    /// The port the test listener takes (or has, once it exists).
    pub test_port: u16,
}

/// The second colour, once it exists: its target group and test listener.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecondColour {
    pub service: String,
    pub target_group: Option<Arn>,
    pub test_listener: Option<Arn>,
    #[serde(skip)]
    pub test_port: Option<u16>,
}

/// Everything `init` found and decided.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Adoption {
    pub service: ServiceFacts,
    pub container: String,
    pub image: String,
    pub repository: String,
    /// `None`: a worker service (no load balancer).
    pub routing: Option<Routing>,
    /// The names the template gives the second colour.
    pub green_service: String,
    pub green_target_group: String,
    pub alarms: Vec<ProposedAlarm>,
    /// The second colour, when it already exists (the template was deployed).
    pub existing: Option<SecondColour>,
    /// What the team must do or know that no file does for them.
    pub notes: Vec<String>,
}

/// The name of the second colour of `name`: `…-blue` becomes `…-green`, anything else
/// gets `-green` appended; cut to `max` characters without a trailing hyphen.
pub fn green_name(name: &str, max: usize) -> String {
    let base = name.strip_suffix("-blue").unwrap_or(name);
    let mut base: String = base.chars().take(max.saturating_sub(6)).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("{base}-green")
}

/// The repository name of an ECR image URI
/// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME[:tag|@digest]`).
pub fn ecr_repository(image: &str) -> Option<String> {
    let (host, rest) = image.split_once('/')?;
    if !host.contains(".dkr.ecr.") {
        return None;
    }
    let name = rest.split('@').next()?;
    // A tag follows the last `:` of the path, never a `/`.
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    Some(name.to_string())
}

/// The alarms that watch this service: by its name and cluster, by its target group, or by
/// its whole load balancer (in any metric of a metric-math alarm). An alarm on the service
/// or the target group sees the first colour alone: it gets a twin on the second colour.
/// `all` is every alarm of the account, to tell whether a twin exists already.
fn alarms_for(
    all: &[AlarmFacts],
    service: &ServiceFacts,
    green_service: &str,
    routing: Option<&Routing>,
) -> Vec<ProposedAlarm> {
    // The dimensions the canary analysis queries by (the load balancer's from its route).
    let tg_dim = routing.and_then(|r| crate::analysis::target_group_dimension(&r.target_group.arn));
    let lb_dim = routing.and_then(|r| crate::analysis::load_balancer_dimension(&r.production.arn));
    let mut out = Vec::new();
    for a in all {
        let has = |k: &str, v: &str| a.dimensions().any(|(n, x)| n == k && x == v);
        let cluster_ok = !a.dimensions().any(|(n, _)| n == "ClusterName")
            || has("ClusterName", &service.cluster);
        let names = if has("ServiceName", &service.name) && cluster_ok {
            "service"
        } else if tg_dim.as_deref().is_some_and(|d| has("TargetGroup", d)) {
            "target_group"
        } else if lb_dim.as_deref().is_some_and(|d| has("LoadBalancer", d))
            && !a.dimensions().any(|(n, _)| n == "TargetGroup")
        {
            "load_balancer"
        } else {
            continue;
        };
        let twin = (names != "load_balancer").then(|| {
            let name = green_name(&a.name, 255);
            Twin {
                exists: all.iter().any(|x| x.name == name),
                facts: twin_of(a, service, green_service, tg_dim.as_deref()),
                name,
            }
        });
        out.push(ProposedAlarm {
            name: a.name.clone(),
            names,
            twin,
        });
    }
    out
}

/// The dimension value the template's second target group stands for.
pub const GREEN_TARGET_GROUP_DIMENSION: &str = "${GreenTargetGroup.TargetGroupFullName}";

/// `alarm` with the first colour's service and target group replaced by the second's (the
/// target group's dimension as [`GREEN_TARGET_GROUP_DIMENSION`]).
fn twin_of(
    alarm: &AlarmFacts,
    service: &ServiceFacts,
    green_service: &str,
    tg_dim: Option<&str>,
) -> AlarmFacts {
    let mut twin = alarm.clone();
    twin.name = green_name(&alarm.name, 255);
    for m in &mut twin.metrics {
        for (k, v) in &mut m.dimensions {
            if k == "ServiceName" && *v == service.name {
                *v = green_service.to_string();
            } else if k == "TargetGroup" && Some(v.as_str()) == tg_dim {
                *v = GREEN_TARGET_GROUP_DIMENSION.to_string();
            }
        }
    }
    twin
}

/// Refuses a service greenlight cannot drive, with the reason.
fn adoptable(service: &ServiceFacts) -> Result<(), InitError> {
    if service.deployment_controller != "ECS" {
        return refuse(format!(
            "service {} is deployed by {} (its deployment controller): greenlight changes a service's task definition with UpdateService, which only the ECS controller allows",
            service.name, service.deployment_controller
        ));
    }
    if let Some(s) = service.strategy.as_deref().filter(|s| *s != "ROLLING") {
        return refuse(format!(
            "service {} uses ECS's own {s} deployments: two tools would move its traffic; switch it back to ROLLING before adopting it",
            service.name
        ));
    }
    if service.scheduling.as_deref() == Some("DAEMON") {
        return refuse(format!(
            "service {} is a daemon (a task on every instance): greenlight moves a share of tasks or traffic between two replica services",
            service.name
        ));
    }
    if let Some(classic) = service.classic_load_balancers.first() {
        return refuse(format!(
            "service {} is behind the Classic Load Balancer {classic}: greenlight shifts traffic with an Application Load Balancer's weighted forward actions",
            service.name
        ));
    }
    if service.attachments.len() > 1 {
        return refuse(format!(
            "service {} is attached to {} target groups; greenlight moves one target group per colour",
            service.name,
            service.attachments.len()
        ));
    }
    Ok(())
}

/// Reads the service and what is in front of it, and decides the second colour.
pub async fn adopt(inv: &impl Inventory, req: &InitRequest) -> Result<Adoption, InitError> {
    let service = inv.service_facts(&req.cluster, &req.service).await?;
    adoptable(&service)?;
    let containers = inv.containers(&service.task_definition).await?;
    let wanted = req
        .container
        .clone()
        .or_else(|| service.attachments.first().map(|a| a.container.clone()));
    let container = match wanted {
        Some(name) => containers.iter().find(|c| c.name == name).ok_or_else(|| {
            InitError::Refused(format!(
                "task definition {} has no container `{name}` (it has: {})",
                service.task_definition,
                names(containers.iter().map(|c| c.name.as_str()))
            ))
        })?,
        None => {
            let essential: Vec<_> = containers.iter().filter(|c| c.essential).collect();
            match essential.as_slice() {
                [one] => *one,
                _ => {
                    return refuse(format!(
                    "task definition {} has {} essential containers ({}): pass --container NAME",
                    service.task_definition,
                    essential.len(),
                    names(essential.iter().map(|c| c.name.as_str()))
                ))
                }
            }
        }
    };
    let repository = match (&req.repository, ecr_repository(&container.image)) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r,
        (None, None) => {
            return refuse(format!(
                "container `{}` runs {}, which is not an ECR image: greenlight deploys images pushed to ECR; pass --repository NAME once it is",
                container.name, container.image
            ))
        }
    };
    let mut routing = match service.attachments.first() {
        None => None,
        Some(a) => Some(routing(inv, req, &a.target_group, a.port).await?),
    };
    let green_service = green_name(&service.name, 255);
    let green_target_group = routing
        .as_ref()
        .map_or_else(String::new, |r| green_name(&r.target_group.name, 32));
    let alarms = alarms_for(
        &inv.metric_alarms().await?,
        &service,
        &green_service,
        routing.as_ref(),
    );
    let existing = second_colour(inv, &service, &green_service, routing.as_ref()).await?;
    if let (Some(r), Some(port)) = (&mut routing, existing.as_ref().and_then(|e| e.test_port)) {
        r.test_port = port;
    }
    if let Some(r) = &routing {
        let green_tg = existing.as_ref().and_then(|e| e.target_group.as_ref());
        let others: Vec<&str> = r
            .production
            .forwards_to
            .iter()
            .filter(|t| **t != r.target_group.arn && Some(*t) != green_tg)
            .map(Arn::as_str)
            .collect();
        if !others.is_empty() {
            return refuse(format!(
                "{} also forwards to {}: init adds a second colour to a service whose route sends to its target group alone",
                r.production.arn,
                others.join(", ")
            ));
        }
    }
    let mut adoption = Adoption {
        container: container.name.clone(),
        image: container.image.clone(),
        repository,
        routing,
        green_service,
        green_target_group,
        alarms,
        existing,
        notes: Vec::new(),
        service,
    };
    adoption.notes = notes(&adoption);
    Ok(adoption)
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The target group's load balancer, the route that forwards to it, and the test port.
async fn routing(
    inv: &impl Inventory,
    req: &InitRequest,
    target_group: &Arn,
    container_port: u16,
) -> Result<Routing, InitError> {
    let tg = inv.target_group_facts(target_group).await?;
    let lb = match tg.load_balancers.as_slice() {
        [one] if !one.as_str().contains(":loadbalancer/app/") => {
            return refuse(format!(
                "target group {} is behind {one}, not an Application Load Balancer: greenlight shifts traffic with an ALB's weighted forward actions",
                tg.name
            ))
        }
        [one] => one.clone(),
        [] => {
            return refuse(format!(
                "target group {} is attached to no load balancer",
                tg.name
            ))
        }
        _ => {
            return refuse(format!(
                "target group {} is attached to {} load balancers; greenlight moves one",
                tg.name,
                tg.load_balancers.len()
            ))
        }
    };
    let listeners = inv.listeners(&lb).await?;
    let mut routes: Vec<RouteFacts> = Vec::new();
    for l in &listeners {
        routes.push(l.clone());
        routes.extend(inv.rules(&l.arn).await?);
    }
    let mut forwarding: Vec<&RouteFacts> = routes
        .iter()
        .filter(|r| r.forwards_to.contains(&tg.arn))
        .collect();
    // Adopted before: the production route names both colours' target groups, and the
    // test listener may forward to this one alone. The route with two is production.
    if forwarding.len() > 1 {
        let both: Vec<&RouteFacts> = forwarding
            .iter()
            .copied()
            .filter(|r| r.forwards_to.len() == 2)
            .collect();
        if both.len() == 1 {
            forwarding = both;
        }
    }
    let production = match (&req.listener, forwarding.as_slice()) {
        (Some(chosen), _) => match routes.iter().find(|r| &r.arn == chosen) {
            Some(r) if r.forwards_to.contains(&tg.arn) => r.clone(),
            Some(_) => {
                return refuse(format!(
                    "--listener {chosen} does not forward to target group {}",
                    tg.name
                ))
            }
            None => {
                return refuse(format!(
                    "--listener {chosen} is not a listener or rule of the service's load balancer"
                ))
            }
        },
        (None, [one]) => (*one).clone(),
        (None, []) => {
            return refuse(format!(
                "no listener or listener rule of the load balancer forwards to target group {}",
                tg.name
            ))
        }
        (None, many) => {
            return refuse(format!(
                "{} listeners and rules forward to target group {}: pass --listener with the production one ({})",
                many.len(),
                tg.name,
                many.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>().join(", ")
            ))
        }
    };
    let used: Vec<u16> = listeners.iter().filter_map(|l| l.port).collect();
    let test_port = match req.test_port {
        Some(p) if used.contains(&p) => {
            return refuse(format!(
                "the load balancer already has a listener on port {p}: pick another --test-port"
            ))
        }
        Some(p) => p,
        None => (8080..=65535).find(|p| !used.contains(p)).unwrap_or(8080),
    };
    Ok(Routing {
        target_group: tg,
        load_balancer: lb,
        production,
        container_port,
        test_port,
    })
}

/// The second colour, if the template has been deployed: the service, its target group,
/// and a listener of the load balancer that forwards to that target group alone.
async fn second_colour(
    inv: &impl Inventory,
    service: &ServiceFacts,
    green: &str,
    routing: Option<&Routing>,
) -> Result<Option<SecondColour>, InitError> {
    let facts = match inv.service_facts(&service.cluster, green).await {
        Ok(f) => f,
        Err(PortError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(r) = routing else {
        return Ok(Some(SecondColour {
            service: facts.name,
            target_group: None,
            test_listener: None,
            test_port: None,
        }));
    };
    let tg = facts.attachments.first().map(|a| a.target_group.clone());
    // The test listener forwards to one colour alone: the new one before any deployment,
    // the idle one after (greenlight points it at the colour it deploys to).
    let test = match &tg {
        Some(tg) => {
            let listeners = inv.listeners(&r.load_balancer).await?;
            let alone = |on: &Arn| {
                listeners
                    .iter()
                    .find(|l| l.arn != r.production.arn && l.forwards_to == [on.clone()])
                    .cloned()
            };
            alone(tg).or_else(|| alone(&r.target_group.arn))
        }
        None => None,
    };
    Ok(Some(SecondColour {
        service: facts.name,
        target_group: tg,
        test_port: test.as_ref().and_then(|l| l.port),
        test_listener: test.map(|l| l.arn),
    }))
}

/// What the team must do that no generated file does.
fn notes(a: &Adoption) -> Vec<String> {
    let mut notes = Vec::new();
    // The tag's value is greenlight's stack parameter ManagedTagValue (default `enabled`).
    let tag = |arn: &str| {
        format!("aws elbv2 add-tags --resource-arns {arn} --tags Key=greenlight,Value=enabled")
    };
    if !a.service.tags.iter().any(|(k, _)| k == "greenlight") {
        notes.push(format!(
            "tag the existing service for greenlight's IAM condition (no restart; the value is greenlight's stack parameter ManagedTagValue, `enabled` unless you changed it): aws ecs tag-resource --resource-arn {} --tags key=greenlight,value=enabled",
            a.service.arn
        ));
    }
    if let Some(r) = &a.routing {
        notes.push(format!(
            "tag the production {} the same way (nothing changes in its routing): {}",
            if r.production.priority == "default" {
                "listener"
            } else {
                "listener rule"
            },
            tag(r.production.arn.as_str())
        ));
        notes.push(format!(
            "the test listener takes port {} of the load balancer: its security group must let the check function's probes in on it (and nobody else)",
            r.test_port
        ));
    }
    if a.alarms.is_empty() {
        notes.push("no alarm names this service, its target group or its load balancer: add one (a 5xx rate, a latency) to `checks.alarms`, or rollouts are checked by target health and probes alone".into());
    }
    if !a.alarms.is_empty() {
        notes.push("greenlight reacts within seconds only to alarms whose names begin with its stack parameter AlarmNamePrefix; the others are read at every check".into());
    }
    if a.alarms.iter().any(|x| x.names == "load_balancer") {
        notes.push("an alarm on the whole load balancer sees both colours, and other services behind it too: they can trip it".into());
    }
    if a.alarms
        .iter()
        .any(|x| x.twin.as_ref().is_some_and(|t| !t.exists))
    {
        notes.push("an alarm on the service or its target group sees that colour alone: the template adds a copy for the second colour (`…-green`), and greenlight.yaml watches both".into());
    }
    notes.push("the template copies the service's task definition, launch type or capacity providers, platform version, network configuration, health check grace period and load balancer attachment, and the target group's protocol, port, VPC, target type and HTTP health check: add anything else the service uses (service discovery, Service Connect, placement, ECS Exec, autoscaling) before deploying it".into());
    notes.push("from now on greenlight owns both services' task definition and desired count and the production route's forward action: an IaC tool that manages them must ignore changes to those".into());
    notes
}

#[cfg(test)]
#[path = "init_tests.rs"]
mod tests;
