//! `init`'s decisions against a fake account.
use super::*;

use crate::ports::{
    AlarmMetric, Attachment, ContainerFacts, Placement, PortResult, RouteFacts, TargetGroupFacts,
};

fn arn(s: &str) -> Arn {
    Arn::parse(s).unwrap()
}

const TG: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop/0123456789abcdef";
const ALB: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/50dc6c495c0c9188";
const LISTENER: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/50dc6c495c0c9188/f2f7dc8efc522ab2";

/// An account with one service `shop` behind an ALB listener, as a test shapes it.
#[derive(Clone)]
struct Fake {
    service: ServiceFacts,
    lb: Arn,
    alarms: Vec<AlarmFacts>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            service: ServiceFacts {
                cluster: "prod".into(),
                name: "shop".into(),
                arn: "arn:aws:ecs:eu-west-1:123456789012:service/prod/shop".into(),
                task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop:3".into(),
                desired: 2,
                deployment_controller: "ECS".into(),
                strategy: Some("ROLLING".into()),
                scheduling: Some("REPLICA".into()),
                attachments: vec![Attachment {
                    target_group: arn(TG),
                    container: "app".into(),
                    port: 8080,
                }],
                classic_load_balancers: vec![],
                placement: Placement::default(),
                tags: vec![],
            },
            lb: arn(ALB),
            alarms: vec![],
        }
    }
}

impl Inventory for Fake {
    async fn service_facts(&self, _: &str, service: &str) -> PortResult<ServiceFacts> {
        if service == self.service.name {
            Ok(self.service.clone())
        } else {
            Err(PortError::not_found(format!("ECS service {service}")))
        }
    }
    async fn containers(&self, _: &str) -> PortResult<Vec<ContainerFacts>> {
        Ok(vec![ContainerFacts {
            name: "app".into(),
            image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:v1".into(),
            essential: true,
        }])
    }
    async fn target_group_facts(&self, tg: &Arn) -> PortResult<TargetGroupFacts> {
        Ok(TargetGroupFacts {
            arn: tg.clone(),
            name: "shop".into(),
            protocol: Some("HTTP".into()),
            port: Some(8080),
            vpc: Some("vpc-1".into()),
            target_type: Some("ip".into()),
            load_balancers: vec![self.lb.clone()],
            health_check_protocol: Some("HTTP".into()),
            health_check_path: Some("/".into()),
            health_check_interval: None,
            health_check_timeout: None,
            healthy_threshold: None,
            unhealthy_threshold: None,
            matcher: None,
        })
    }
    async fn listeners(&self, _: &Arn) -> PortResult<Vec<RouteFacts>> {
        Ok(vec![RouteFacts {
            arn: arn(LISTENER),
            port: Some(443),
            protocol: Some("HTTPS".into()),
            priority: "default".into(),
            forwards_to: vec![arn(TG)],
        }])
    }
    async fn rules(&self, _: &Arn) -> PortResult<Vec<RouteFacts>> {
        Ok(vec![])
    }
    async fn metric_alarms(&self) -> PortResult<Vec<AlarmFacts>> {
        Ok(self.alarms.clone())
    }
}

fn request() -> InitRequest {
    InitRequest {
        cluster: "prod".into(),
        service: "shop".into(),
        ..InitRequest::default()
    }
}

async fn refused(f: Fake) -> String {
    match adopt(&f, &request()).await {
        Err(InitError::Refused(m)) => m,
        other => panic!("not refused: {other:?}"),
    }
}

/// What greenlight cannot drive is refused with the reason: a Network Load Balancer, a
/// daemon, a Classic Load Balancer, another deployment controller.
#[tokio::test]
async fn what_cannot_be_driven_is_refused() {
    let mut nlb = Fake::new();
    nlb.lb = arn("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/shared/50dc6c495c0c9188");
    assert!(refused(nlb)
        .await
        .contains("not an Application Load Balancer"));
    let mut daemon = Fake::new();
    daemon.service.scheduling = Some("DAEMON".into());
    assert!(refused(daemon).await.contains("daemon"));
    let mut classic = Fake::new();
    classic.service.attachments.clear();
    classic.service.classic_load_balancers = vec!["old-elb".into()];
    assert!(refused(classic)
        .await
        .contains("Classic Load Balancer old-elb"));
    let mut codedeploy = Fake::new();
    codedeploy.service.deployment_controller = "CODE_DEPLOY".into();
    assert!(refused(codedeploy).await.contains("CODE_DEPLOY"));
    assert!(adopt(&Fake::new(), &request()).await.is_ok());
}

/// A metric-math alarm on the target group is found by the dimensions of its metrics and
/// copied for the second colour with the second target group in every metric; an alarm on
/// the whole load balancer is proposed as it is; another service's alarm is not.
#[tokio::test]
async fn alarms_on_one_colour_get_a_copy_for_the_other() {
    let metric = |id: &str, dims: Vec<(&str, &str)>| AlarmMetric {
        id: id.into(),
        namespace: Some("AWS/ApplicationELB".into()),
        metric: Some("RequestCount".into()),
        dimensions: dims
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stat: Some("Sum".into()),
        period: Some(60),
        ..AlarmMetric::default()
    };
    let tg = "targetgroup/shop/0123456789abcdef";
    let lb = "app/shared/50dc6c495c0c9188";
    let mut f = Fake::new();
    f.alarms = vec![
        AlarmFacts {
            name: "shop-5xx-rate".into(),
            math: true,
            metrics: vec![
                metric("errors", vec![("TargetGroup", tg), ("LoadBalancer", lb)]),
                metric("requests", vec![("TargetGroup", tg), ("LoadBalancer", lb)]),
                AlarmMetric {
                    id: "rate".into(),
                    expression: Some("100 * errors / requests".into()),
                    return_data: Some(true),
                    ..AlarmMetric::default()
                },
            ],
            ..AlarmFacts::default()
        },
        AlarmFacts {
            name: "shared-lb-5xx".into(),
            metrics: vec![metric("", vec![("LoadBalancer", lb)])],
            ..AlarmFacts::default()
        },
        AlarmFacts {
            name: "other-cpu".into(),
            metrics: vec![metric("", vec![("ServiceName", "other")])],
            ..AlarmFacts::default()
        },
    ];
    let a = adopt(&f, &request()).await.unwrap();
    let names: Vec<(&str, &str)> = a
        .alarms
        .iter()
        .map(|x| (x.name.as_str(), x.names))
        .collect();
    assert_eq!(
        names,
        [
            ("shop-5xx-rate", "target_group"),
            ("shared-lb-5xx", "load_balancer")
        ]
    );
    let twin = a.alarms[0].twin.as_ref().unwrap();
    assert_eq!(
        (twin.name.as_str(), twin.exists),
        ("shop-5xx-rate-green", false)
    );
    let replaced: Vec<&str> = twin
        .facts
        .dimensions()
        .filter(|(k, _)| k == "TargetGroup")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(replaced, [GREEN_TARGET_GROUP_DIMENSION; 2]);
    assert!(a.alarms[1].twin.is_none());
}

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
