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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProposedAlarm {
    pub name: String,
    /// `service`, `target_group` or `load_balancer` (the last also sees other services).
    pub names: &'static str,
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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

/// The `TargetGroup` CloudWatch dimension of a target group (`targetgroup/NAME/ID`).
fn target_group_dimension(tg: &Arn) -> String {
    tg.as_str()
        .split_once(":targetgroup/")
        .map_or_else(String::new, |(_, r)| format!("targetgroup/{r}"))
}

/// The `LoadBalancer` CloudWatch dimension of a load balancer (`app/NAME/ID`).
fn load_balancer_dimension(lb: &Arn) -> String {
    lb.as_str()
        .split_once(":loadbalancer/")
        .map_or_else(String::new, |(_, r)| r.to_string())
}

/// The alarms that watch this service: by its name and cluster, by its target group, or by
/// its whole load balancer (only when nothing narrower exists).
fn alarms_for(
    alarms: &[AlarmFacts],
    service: &ServiceFacts,
    routing: Option<&Routing>,
) -> Vec<ProposedAlarm> {
    let dim = |a: &AlarmFacts, k: &str| {
        a.dimensions
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    for a in alarms {
        let by_service = dim(a, "ServiceName").as_deref() == Some(service.name.as_str())
            && dim(a, "ClusterName").is_none_or(|c| c == service.cluster);
        let names = if by_service {
            "service"
        } else if let Some(r) = routing {
            let tg = dim(a, "TargetGroup");
            if tg.as_deref() == Some(target_group_dimension(&r.target_group.arn).as_str()) {
                "target_group"
            } else if tg.is_none()
                && dim(a, "LoadBalancer").as_deref()
                    == Some(load_balancer_dimension(&r.load_balancer).as_str())
            {
                "load_balancer"
            } else {
                continue;
            }
        } else {
            continue;
        };
        out.push(ProposedAlarm {
            name: a.name.clone(),
            names,
        });
    }
    if out.iter().any(|a| a.names != "load_balancer") {
        out.retain(|a| a.names != "load_balancer");
    }
    out
}

/// Reads the service and what is in front of it, and decides the second colour.
pub async fn adopt(inv: &impl Inventory, req: &InitRequest) -> Result<Adoption, InitError> {
    let service = inv.service_facts(&req.cluster, &req.service).await?;
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
    if service.attachments.len() > 1 {
        return refuse(format!(
            "service {} is attached to {} target groups; greenlight moves one target group per colour",
            service.name,
            service.attachments.len()
        ));
    }
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
    let alarms = alarms_for(&inv.metric_alarms().await?, &service, routing.as_ref());
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
    let forwarding: Vec<&RouteFacts> = routes
        .iter()
        .filter(|r| r.forwards_to.contains(&tg.arn))
        .collect();
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
    let test = match &tg {
        Some(tg) => inv
            .listeners(&r.load_balancer)
            .await?
            .into_iter()
            .find(|l| l.forwards_to == [tg.clone()]),
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
    let tag = |arn: &str| {
        format!("aws elbv2 add-tags --resource-arns {arn} --tags Key=greenlight,Value=enabled")
    };
    if !a.service.tags.iter().any(|(k, _)| k == "greenlight") {
        notes.push(format!(
            "tag the existing service for greenlight's IAM condition (no restart): aws ecs tag-resource --resource-arn {} --tags key=greenlight,value=enabled",
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
        notes.push("the proposed alarms watch the whole load balancer: other services behind it can trip them".into());
    }
    notes.push("from now on greenlight owns both services' task definition and desired count and the production route's forward action: an IaC tool that manages them must ignore changes to those".into());
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_colour_is_named_after_the_first() {
        assert_eq!(green_name("web-blue", 255), "web-green");
        assert_eq!(green_name("web", 255), "web-green");
        let long = green_name("a-target-group-name-of-thirty-two", 32);
        assert!(long.len() <= 32 && long.ends_with("-green"), "{long}");
        assert!(!long.contains("--"), "{long}");
    }

    #[test]
    fn the_repository_is_read_from_an_ecr_image() {
        let r = |i| ecr_repository(i);
        assert_eq!(
            r("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1").as_deref(),
            Some("team/web")
        );
        assert_eq!(
            r("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc").as_deref(),
            Some("web")
        );
        assert_eq!(
            r("123456789012.dkr.ecr.eu-west-1.amazonaws.com/web").as_deref(),
            Some("web")
        );
        assert_eq!(r("nginx:1.27"), None);
        assert_eq!(r("public.ecr.aws/nginx/nginx:1"), None);
    }
}
