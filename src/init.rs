//! What `greenlight init` writes from an [`Adoption`]: a CloudFormation template that adds
//! the second colour next to an existing service, and — once that template is deployed —
//! the greenlight.yaml environment with every ARN filled in.

use std::fmt::Write as _;

use greenlight_core::ports::{Inventory, PortError};
use greenlight_core::usecase::init::{
    adopt, Adoption, InitError, InitRequest, Routing, GREEN_TARGET_GROUP_DIMENSION,
};

use crate::exit;
use crate::ops::{Outcome, Stop};

/// A resource property line (six spaces in), when it has a value.
fn prop(t: &mut String, key: &str, value: Option<String>) {
    if let Some(v) = value {
        let _ = writeln!(t, "      {key}: {v}");
    }
}

/// A YAML scalar, quoted (a JSON string is a YAML double-quoted scalar).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The CloudFormation template of the second colour: a target group like the first one, a
/// test listener forwarding to it, and a service like the first one at 0 tasks, all tagged
/// for greenlight's IAM conditions. The running service and its listener are not in it.
pub fn template(a: &Adoption) -> String {
    let s = &a.service;
    let mut t = String::new();
    let what = match &a.routing {
        Some(_) => "a target group like the first one, a test listener forwarding to it, and a service like the first one at 0 tasks",
        None => "a service like the first one at 0 tasks (a worker: no load balancer)",
    };
    let _ = write!(
        t,
        "AWSTemplateFormatVersion: \"2010-09-09\"\n\
         Description: >\n  \
           The second colour of ECS service {name} (cluster {cluster}), written by `greenlight init`:\n  \
           {what}. It does not change the running service or its listener.\n\n\
         Parameters:\n  \
           ManagedTagValue:\n    \
             Type: String\n    \
             Default: enabled\n    \
             Description: The value of the `greenlight` tag, the same as greenlight's stack parameter.\n",
        name = s.name,
        cluster = s.cluster,
    );
    if let Some(r) = &a.routing {
        let _ = write!(
            t,
            "  TestListenerPort:\n    \
               Type: Number\n    \
               Default: {port}\n    \
               MinValue: 1\n    \
               MaxValue: 65535\n    \
               Description: The test listener's port (a free port of the load balancer).\n",
            port = r.test_port
        );
    }
    t.push_str("\nResources:\n");
    if let Some(r) = &a.routing {
        target_group(&mut t, a, r);
        let _ = write!(
            t,
            "  # Reaches the idle colour before it takes traffic (greenlight's probes `via: test`).\n  \
               TestListener:\n    \
                 Type: AWS::ElasticLoadBalancingV2::Listener\n    \
                 Properties:\n      \
                   LoadBalancerArn: {lb}\n      \
                   Protocol: HTTP\n      \
                   Port: !Ref TestListenerPort\n      \
                   DefaultActions:\n        \
                     - Type: forward\n          \
                       TargetGroupArn: !Ref GreenTargetGroup\n      \
                   Tags:\n        \
                     - Key: greenlight\n          \
                       Value: !Ref ManagedTagValue\n\n",
            lb = q(r.load_balancer.as_str())
        );
    }
    service(&mut t, a);
    let twins = a.alarms.iter().filter_map(|x| x.twin.as_ref());
    for (i, twin) in twins.enumerate() {
        alarm(&mut t, i + 1, &twin.facts, &a.service.name);
    }
    t.push_str("\nOutputs:\n  GreenService:\n    Value: !GetAtt GreenService.Name\n");
    if a.routing.is_some() {
        t.push_str(
            "  GreenTargetGroupArn:\n    Value: !Ref GreenTargetGroup\n  \
             TestListenerArn:\n    Value: !Ref TestListener\n",
        );
    }
    t
}

fn target_group(t: &mut String, a: &Adoption, r: &Routing) {
    let g = &r.target_group;
    let _ = writeln!(
        t,
        "  GreenTargetGroup:\n    Type: AWS::ElasticLoadBalancingV2::TargetGroup\n    Properties:\n      Name: {}",
        q(&a.green_target_group)
    );
    prop(t, "VpcId", g.vpc.as_deref().map(q));
    prop(t, "Protocol", g.protocol.clone());
    prop(t, "Port", g.port.map(|p| p.to_string()));
    prop(t, "TargetType", g.target_type.clone());
    prop(t, "HealthCheckProtocol", g.health_check_protocol.clone());
    prop(t, "HealthCheckPath", g.health_check_path.as_deref().map(q));
    prop(
        t,
        "HealthCheckIntervalSeconds",
        g.health_check_interval.map(|v| v.to_string()),
    );
    prop(
        t,
        "HealthCheckTimeoutSeconds",
        g.health_check_timeout.map(|v| v.to_string()),
    );
    prop(
        t,
        "HealthyThresholdCount",
        g.healthy_threshold.map(|v| v.to_string()),
    );
    prop(
        t,
        "UnhealthyThresholdCount",
        g.unhealthy_threshold.map(|v| v.to_string()),
    );
    prop(
        t,
        "Matcher",
        g.matcher
            .as_deref()
            .map(|m| format!("{{ HttpCode: {} }}", q(m))),
    );
    t.push_str("      Tags:\n        - Key: greenlight\n          Value: !Ref ManagedTagValue\n\n");
}

fn service(t: &mut String, a: &Adoption) {
    let s = &a.service;
    let p = &s.placement;
    let _ = write!(
        t,
        "  # Like {name}, with no tasks until greenlight deploys to it.\n  \
           GreenService:\n    \
             Type: AWS::ECS::Service\n",
        name = s.name
    );
    if a.routing.is_some() {
        t.push_str("    DependsOn: TestListener\n");
    }
    let _ = write!(
        t,
        "    Properties:\n      \
               ServiceName: {name}\n      \
               Cluster: {cluster}\n      \
               TaskDefinition: {td}\n      \
               DesiredCount: 0\n",
        name = q(&a.green_service),
        cluster = q(&s.cluster),
        td = q(&s.task_definition),
    );
    if let Some(l) = &p.launch_type {
        let _ = writeln!(t, "      LaunchType: {l}");
    }
    if !p.capacity_providers.is_empty() {
        t.push_str("      CapacityProviderStrategy:\n");
        for (name, weight, base) in &p.capacity_providers {
            let _ = write!(
                t,
                "        - CapacityProvider: {}\n          Weight: {weight}\n          Base: {base}\n",
                q(name)
            );
        }
    }
    if let Some(v) = &p.platform_version {
        let _ = writeln!(t, "      PlatformVersion: {}", q(v));
    }
    t.push_str(
        "      DeploymentConfiguration:\n        DeploymentCircuitBreaker:\n          Enable: true\n          Rollback: false\n",
    );
    if !p.subnets.is_empty() {
        let list = |v: &[String]| v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
        let _ = write!(
            t,
            "      NetworkConfiguration:\n        AwsvpcConfiguration:\n          \
             AssignPublicIp: {}\n          Subnets: [{}]\n",
            if p.public_ip { "ENABLED" } else { "DISABLED" },
            list(&p.subnets)
        );
        if !p.security_groups.is_empty() {
            let _ = writeln!(
                t,
                "          SecurityGroups: [{}]",
                list(&p.security_groups)
            );
        }
    }
    if let Some(r) = &a.routing {
        let _ = write!(
            t,
            "      LoadBalancers:\n        - ContainerName: {}\n          ContainerPort: {}\n          \
             TargetGroupArn: !Ref GreenTargetGroup\n",
            q(&a.container),
            r.container_port
        );
        if let Some(g) = p.health_check_grace_seconds {
            let _ = writeln!(t, "      HealthCheckGracePeriodSeconds: {g}");
        }
    }
    t.push_str(
        "      PropagateTags: SERVICE\n      Tags:\n        - Key: greenlight\n          Value: !Ref ManagedTagValue\n",
    );
}

/// A copy of an alarm for the second colour (its dimensions already replaced).
fn alarm(t: &mut String, n: usize, a: &greenlight_core::ports::AlarmFacts, blue: &str) {
    let _ = write!(
        t,
        "\n  # {name}, for the second colour (an alarm on {blue} alone does not see it).\n  \
         GreenAlarm{n}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      AlarmName: {q_name}\n",
        name = a.name,
        q_name = q(&a.name),
    );
    prop(
        t,
        "EvaluationPeriods",
        a.evaluation_periods.map(|v| v.to_string()),
    );
    prop(
        t,
        "DatapointsToAlarm",
        a.datapoints_to_alarm.map(|v| v.to_string()),
    );
    prop(t, "Threshold", a.threshold.map(|v| v.to_string()));
    prop(t, "ComparisonOperator", a.comparison.clone());
    prop(
        t,
        "TreatMissingData",
        a.treat_missing_data.as_deref().map(q),
    );
    let dims = |t: &mut String, indent: &str, d: &[(String, String)]| {
        if d.is_empty() {
            return;
        }
        let _ = writeln!(t, "{indent}Dimensions:");
        for (k, v) in d {
            let value = if v == GREEN_TARGET_GROUP_DIMENSION {
                "!GetAtt GreenTargetGroup.TargetGroupFullName".to_string()
            } else {
                q(v)
            };
            let _ = writeln!(t, "{indent}  - Name: {}\n{indent}    Value: {value}", q(k));
        }
    };
    if !a.math {
        let Some(m) = a.metrics.first() else { return };
        prop(t, "Namespace", m.namespace.as_deref().map(q));
        prop(t, "MetricName", m.metric.as_deref().map(q));
        prop(t, "Period", m.period.map(|v| v.to_string()));
        match m.stat.as_deref() {
            Some(s @ ("SampleCount" | "Average" | "Sum" | "Minimum" | "Maximum")) => {
                prop(t, "Statistic", Some(s.to_string()))
            }
            other => prop(t, "ExtendedStatistic", other.map(q)),
        }
        dims(t, "      ", &m.dimensions);
        return;
    }
    t.push_str("      Metrics:\n");
    for m in &a.metrics {
        let _ = writeln!(t, "        - Id: {}", q(&m.id));
        if let Some(e) = &m.expression {
            let _ = writeln!(t, "          Expression: {}", q(e));
        } else {
            let _ = write!(t, "          MetricStat:\n            Metric:\n");
            if let Some(ns) = &m.namespace {
                let _ = writeln!(t, "              Namespace: {}", q(ns));
            }
            if let Some(name) = &m.metric {
                let _ = writeln!(t, "              MetricName: {}", q(name));
            }
            dims(t, "              ", &m.dimensions);
            let _ = writeln!(
                t,
                "            Period: {}\n            Stat: {}",
                m.period.unwrap_or(60),
                q(m.stat.as_deref().unwrap_or("Average"))
            );
        }
        if let Some(l) = &m.label {
            let _ = writeln!(t, "          Label: {}", q(l));
        }
        if let Some(r) = m.return_data {
            let _ = writeln!(t, "          ReturnData: {r}");
        }
    }
}

/// The greenlight.yaml for the adopted environment, once the second colour exists; `None`
/// before (the template is what to deploy first). A complete file that validates on its
/// own; its environment can be pasted into a larger configuration.
pub fn config(a: &Adoption, app: &str, environment: &str) -> Option<String> {
    let green = a.existing.as_ref()?;
    let s = &a.service;
    let mut c = format!(
        "# greenlight.yaml for ECS service {name} (cluster {cluster}), written by `greenlight init`.\n\
         # Review the strategy and checks, then `greenlight config validate` and `config apply`.\n\
         version: 1\n\n\
         apps:\n  {app}:\n    repository: {repo}\n    container: {container}\n\n    \
         environments:\n      {environment}:\n        \
         # Every push of a tag matching v* deploys here; a later environment would say\n        \
         # `promote_from: {environment}` instead.\n        \
         trigger:\n          on_push:\n            tags: [\"v*\"]\n        \
         cluster: {cluster_q}\n        services:\n          blue: {blue}\n          green: {green}\n",
        name = s.name,
        cluster = s.cluster,
        repo = q(&a.repository),
        container = q(&a.container),
        cluster_q = q(&s.cluster),
        blue = q(&s.name),
        green = q(&green.service),
    );
    let mut probe = None;
    if let Some(r) = &a.routing {
        let green_tg = green.target_group.as_ref()?;
        let _ = write!(
            c,
            "        target_groups:\n          blue: {}\n          green: {}\n        listeners:\n          production: {}\n",
            q(r.target_group.arn.as_str()),
            q(green_tg.as_str()),
            q(r.production.arn.as_str()),
        );
        if let Some(test) = &green.test_listener {
            let _ = writeln!(c, "          test: {}", q(test.as_str()));
            let g = &r.target_group;
            let http = matches!(g.health_check_protocol.as_deref(), Some("HTTP" | "HTTPS"));
            if let (true, Some(path)) = (http, &g.health_check_path) {
                let status = g
                    .matcher
                    .as_deref()
                    .and_then(|m| m.split([',', '-']).next())
                    .and_then(|m| m.trim().parse::<u16>().ok())
                    .unwrap_or(200);
                probe = Some((path.clone(), status));
            }
        }
    }
    c.push_str(
        "        strategy:\n          canary: { percent: 10, bake: 5m }\n        checks:\n          \
         stable_timeout: 10m\n          interval: 30s\n",
    );
    if !a.alarms.is_empty() {
        c.push_str("          alarms:\n");
        for alarm in &a.alarms {
            let _ = writeln!(
                c,
                "            - {}   # names the {}",
                q(&alarm.name),
                alarm.names.replace('_', " ")
            );
            if let Some(twin) = alarm.twin.as_ref().filter(|t| t.exists) {
                let _ = writeln!(
                    c,
                    "            - {}   # its copy for the second colour",
                    q(&twin.name)
                );
            }
        }
    }
    if let Some((path, status)) = probe {
        let _ = write!(
            c,
            "          probes:\n            # The target group's own health check, through the test listener.\n            \
             - path: {}\n              expect_status: {status}\n              via: test\n",
            q(&path)
        );
    }
    c.push_str("          failure_threshold: 3\n        rollback_window: 30m\n");
    Some(c)
}

/// `greenlight init`'s flags.
#[derive(Clone, Debug, clap::Args)]
pub struct InitArgs {
    /// The ECS cluster of the existing service.
    #[arg(long)]
    pub cluster: String,
    /// The existing ECS service: it becomes the blue colour, untouched.
    #[arg(long)]
    pub service: String,
    /// The environment's name in greenlight.yaml.
    #[arg(long = "env", default_value = "staging")]
    pub environment: String,
    /// The app's name in greenlight.yaml (default: the ECR repository's name).
    #[arg(long)]
    pub app: Option<String>,
    /// The container whose image greenlight changes (default: the one behind the load
    /// balancer, or the only essential one).
    #[arg(long)]
    pub container: Option<String>,
    /// The ECR repository (default: read from the container's image).
    #[arg(long)]
    pub repository: Option<String>,
    /// The production listener or listener rule, when more than one forwards to the
    /// service's target group.
    #[arg(long)]
    pub listener: Option<String>,
    /// The test listener's port (default: the load balancer's first free port from 8080).
    #[arg(long)]
    pub test_port: Option<u16>,
    /// The directory to write into.
    #[arg(long, default_value = ".")]
    pub out: std::path::PathBuf,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

fn aws_stop(e: PortError) -> Stop {
    let code = if e.is_retryable() {
        exit::UNAVAILABLE
    } else {
        exit::INVALID
    };
    Stop(e.to_string(), code)
}

/// What `init --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct Written {
    /// `template` (the second colour's, to deploy) or `config` (greenlight.yaml).
    pub wrote: &'static str,
    pub file: String,
    pub app: String,
    pub environment: String,
    /// What to do next.
    pub next: String,
    pub notes: Vec<String>,
    pub found: Adoption,
}

/// `--env` and `--app` as greenlight.yaml accepts them.
fn check_names(args: &InitArgs) -> Result<(), Stop> {
    let rule = "use 1 to 40 letters, digits, `-` or `_`, starting with a letter or digit";
    if !greenlight_core::config::valid_name(&args.environment) {
        return Err(Stop(
            format!("--env `{}`: {rule}", args.environment),
            exit::INVALID,
        ));
    }
    if let Some(app) = args
        .app
        .as_deref()
        .filter(|a| !greenlight_core::config::valid_name(a))
    {
        return Err(Stop(format!("--app `{app}`: {rule}"), exit::INVALID));
    }
    Ok(())
}

/// The app's name: `--app`, or the repository's last segment in the characters an app name
/// may have.
fn app_name(args: &InitArgs, a: &Adoption) -> Result<String, Stop> {
    match &args.app {
        Some(app) => Ok(app.clone()),
        None => {
            // The repository's last segment, in the characters an app name may have.
            let last = a.repository.rsplit('/').next().unwrap_or(&a.repository);
            let app: String = last
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(40)
                .collect();
            if !greenlight_core::config::valid_name(&app) {
                return Err(Stop(
                    format!(
                        "no app name follows from the repository `{}`: pass --app NAME",
                        a.repository
                    ),
                    exit::INVALID,
                ));
            }
            Ok(app)
        }
    }
}

/// Reads the service, then writes the template (no second colour yet) or the
/// configuration (the template was deployed); prints what to do next.
pub async fn init_cmd(inv: &impl Inventory, args: &InitArgs, json: bool) -> Outcome {
    check_names(args)?;
    let listener = args
        .listener
        .as_deref()
        .map(greenlight_core::Arn::parse)
        .transpose()
        .map_err(|e| Stop(format!("--listener: {e}"), exit::INVALID))?;
    let req = InitRequest {
        cluster: args.cluster.clone(),
        service: args.service.clone(),
        container: args.container.clone(),
        repository: args.repository.clone(),
        listener,
        test_port: args.test_port,
    };
    let a = adopt(inv, &req).await.map_err(|e| match e {
        InitError::Refused(m) => Stop(m, exit::INVALID),
        InitError::Aws(e) => aws_stop(e),
    })?;
    let app = app_name(args, &a)?;
    let (kind, path, text) = match config(&a, &app, &args.environment) {
        Some(text) => {
            let report = greenlight_core::config::load(&text);
            if !report.is_valid() {
                let problems: Vec<String> =
                    report.problems.iter().map(|p| p.to_string()).collect();
                return Err(Stop(
                    format!(
                        "the configuration written for {} does not validate (a bug in init): {}",
                        a.service.name,
                        problems.join("; ")
                    ),
                    exit::INVALID,
                ));
            }
            (
                "config",
                args.out.join(format!("greenlight.{app}-{}.yaml", args.environment)),
                text,
            )
        }
        None if a.existing.is_some() => {
            return Err(Stop(
                format!(
                    "service {} exists but has no target group of its own: attach it to one (the template `init` writes does), or delete it and run init again",
                    a.green_service
                ),
                exit::INVALID,
            ))
        }
        None => (
            "template",
            args.out
                .join(format!("{app}-{}.blue-green.yaml", args.environment)),
            template(&a),
        ),
    };
    if path.exists() && !args.force {
        return Err(Stop(
            format!(
                "{} exists: pass --force to overwrite it, or --out DIR",
                path.display()
            ),
            exit::IO,
        ));
    }
    std::fs::write(&path, &text)
        .map_err(|e| Stop(format!("writing {}: {e}", path.display()), exit::IO))?;
    let next = match kind {
        "template" => format!(
            "review {} and deploy it (aws cloudformation deploy --template-file {} --stack-name {app}-{}-blue-green), then run this command again to write greenlight.yaml",
            path.display(),
            path.display(),
            args.environment
        ),
        _ => format!(
            "greenlight config validate {p}, then paste its environment into your greenlight.yaml (or apply it as it is: greenlight config apply {p})",
            p = path.display()
        ),
    };
    if json {
        let written = Written {
            wrote: kind,
            file: path.display().to_string(),
            app,
            environment: args.environment.clone(),
            next,
            notes: a.notes.clone(),
            found: a,
        };
        println!("{}", serde_json::to_string_pretty(&written).expect("JSON"));
        return Ok(());
    }
    print_found(&a, &path, &next);
    Ok(())
}

/// The text `init` prints: what it found, what it wrote, what is left to do.
fn print_found(a: &Adoption, path: &std::path::Path, next: &str) {
    println!(
        "service {} in cluster {}",
        a.service.name, a.service.cluster
    );
    println!("  image        {}", a.image);
    println!("  repository   {}", a.repository);
    match &a.routing {
        Some(r) => {
            println!("  target group {}", r.target_group.name);
            println!("  production   {}", r.production.arn);
        }
        None => println!("  no load balancer: a worker (canaries by share of tasks)"),
    }
    for alarm in &a.alarms {
        println!(
            "  alarm        {} (names the {})",
            alarm.name,
            alarm.names.replace('_', " ")
        );
    }
    if let Some(g) = &a.existing {
        println!("  second colour {} (found)", g.service);
    }
    println!("wrote {}", path.display());
    println!("next: {next}");
    for n in &a.notes {
        println!("note: {n}");
    }
}
