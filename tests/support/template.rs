//! Reading template.yaml in tests: its tree, and what each role's policies grant, in the
//! terms the simulator records calls in (`greenlight_sim::World::access`): IAM action
//! names, DynamoDB ones with the partition-key prefix `dynamodb:LeadingKeys` allows
//! (`dynamodb:PutItem LOCK#`), and `dynamodb:Query HISTORY#` for the history index.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use greenlight_core::yaml::{self, Node, NodeKind};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn template() -> Node {
    yaml::load(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap()
}

pub fn get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Mapping(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
        _ => None,
    }
}

pub fn text(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text.clone(),
        _ => panic!("expected a scalar, found {node:?}"),
    }
}

pub fn entries(node: &Node) -> Vec<(String, &Node)> {
    match &node.kind {
        NodeKind::Mapping(e) => e.iter().map(|(k, _, v)| (k.clone(), v)).collect(),
        _ => Vec::new(),
    }
}

/// The template's Lambda functions (`AWS::Serverless::Function`): logical id and resource.
pub fn functions(tpl: &Node) -> Vec<(String, &Node)> {
    entries(get(tpl, "Resources").unwrap())
        .into_iter()
        .filter(|(_, r)| get(r, "Type").map(text).as_deref() == Some("AWS::Serverless::Function"))
        .collect()
}

/// A scalar or a list of scalars, as a list.
pub fn texts(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Sequence(items) => items.iter().map(text).collect(),
        _ => vec![text(node)],
    }
}

/// Every scalar in a node, depth first: a resource list built with `!If`/`!Split`/`!Join`
/// read as the names it mentions.
pub fn leaves(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => vec![text.clone()],
        NodeKind::Sequence(items) => items.iter().flat_map(leaves).collect(),
        NodeKind::Mapping(e) => e.iter().flat_map(|(_, _, v)| leaves(v)).collect(),
    }
}

/// Actions AWS does not let a policy scope to a resource, so `Resource: "*"` is the only
/// way to grant them; each with why the code needs it.
pub const UNSCOPABLE: &[(&str, &str)] = &[
    (
        "elasticloadbalancing:DescribeListeners",
        "reads the listener weights (Describe* of ELBv2 take no resource)",
    ),
    (
        "elasticloadbalancing:DescribeRules",
        "reads the weights of a listener rule's forward action (Describe* of ELBv2 take no resource)",
    ),
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        "finds the DNS name of the listener a `url` probe goes through",
    ),
    (
        "elasticloadbalancing:DescribeTargetHealth",
        "reads the target health of the new colour",
    ),
    (
        "cloudwatch:GetMetricData",
        "reads both colours' metrics for the canary analysis (no resource-level permissions)",
    ),
    (
        "ecs:ListTasks",
        "lists a worker service's tasks (its resource is a container instance; scoped by the ecs:cluster condition)",
    ),
    (
        "ecs:DescribeTaskDefinition",
        "reads the live revision to copy it (no resource-level permissions)",
    ),
    (
        "ecs:RegisterTaskDefinition",
        "registers the new revision (no resource-level permissions)",
    ),
    (
        "xray:PutTraceSegments",
        "the state machine's X-Ray tracing (no resources)",
    ),
    (
        "xray:PutTelemetryRecords",
        "the state machine's X-Ray tracing (no resources)",
    ),
    (
        "xray:GetSamplingRules",
        "the state machine's X-Ray tracing (no resources)",
    ),
    (
        "xray:GetSamplingTargets",
        "the state machine's X-Ray tracing (no resources)",
    ),
    (
        "logs:CreateLogDelivery",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:GetLogDelivery",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:UpdateLogDelivery",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:DeleteLogDelivery",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:ListLogDeliveries",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:PutResourcePolicy",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:DescribeResourcePolicies",
        "Step Functions' log delivery (no resources)",
    ),
    (
        "logs:DescribeLogGroups",
        "Step Functions' log delivery (no resources)",
    ),
];

/// Actions the state machine's role needs for the service itself (tracing and log
/// delivery), which no code of greenlight calls.
pub const SERVICE_ONLY: &[&str] = &[
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

/// What one role grants, and what is wrong with how it grants it.
#[derive(Default, Debug)]
pub struct Grants {
    pub granted: BTreeSet<String>,
    pub problems: Vec<String>,
    /// The function has an SQS event source: Lambda's poller reads its queue with the
    /// function's role ([`QUEUE_POLLING`]), not its code.
    pub polls_queue: bool,
}

/// What Lambda's event source mapping does with a function's role to read its SQS queue.
pub const QUEUE_POLLING: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];

/// The grants of every role in the template, by who holds them: the function's Handler
/// (`prepare`, `on-push`, …), or `state-machine`.
pub fn grants_by_role() -> BTreeMap<String, Grants> {
    let tpl = template();
    let mut out = BTreeMap::new();
    for (name, resource) in entries(get(&tpl, "Resources").unwrap()) {
        let kind = get(resource, "Type").map(text).unwrap_or_default();
        let holder = match kind.as_str() {
            "AWS::Serverless::Function" => get(resource, "Properties")
                .and_then(|p| get(p, "Handler"))
                .map(text)
                .unwrap_or_else(|| name.clone()),
            "AWS::StepFunctions::StateMachine" => "state-machine".to_string(),
            _ => continue,
        };
        let mut g = Grants::default();
        if let Some(NodeKind::Mapping(events)) = get(resource, "Properties")
            .and_then(|p| get(p, "Events"))
            .map(|e| &e.kind)
        {
            g.polls_queue = events
                .iter()
                .any(|(_, _, e)| get(e, "Type").map(text).as_deref() == Some("SQS"));
        }
        // A function with a role of its own (`Role: !GetAtt XRole.Arn`): that role's
        // inline policies.
        let own_role = get(resource, "Properties")
            .and_then(|p| get(p, "Role").or_else(|| get(p, "RoleArn")))
            .map(text)
            .and_then(|r| {
                let role = r.split('.').next().unwrap_or_default().to_string();
                get(get(&tpl, "Resources").unwrap(), &role).cloned()
            });
        let policies = match own_role {
            Some(role) => match get(&role, "Properties")
                .and_then(|p| get(p, "Policies"))
                .map(|p| &p.kind)
            {
                Some(NodeKind::Sequence(items)) => items
                    .iter()
                    .filter_map(|p| get(p, "PolicyDocument").cloned())
                    .collect(),
                _ => {
                    g.problems
                        .push(format!("{name}: its role has no inline policies"));
                    Vec::new()
                }
            },
            None => match get(resource, "Properties")
                .and_then(|p| get(p, "Policies"))
                .map(|p| &p.kind)
            {
                Some(NodeKind::Sequence(items)) => items.clone(),
                None => Vec::new(),
                Some(_) => {
                    g.problems.push(format!("{name}: Policies is not a list"));
                    Vec::new()
                }
            },
        };
        for policy in &policies {
            if get(policy, "LambdaInvokePolicy").is_some() {
                g.granted.insert("lambda:InvokeFunction".into());
                continue;
            }
            let Some(NodeKind::Sequence(statements)) = get(policy, "Statement").map(|s| &s.kind)
            else {
                g.problems.push(format!(
                    "{name}: a policy that is neither a statement list nor LambdaInvokePolicy"
                ));
                continue;
            };
            for st in statements {
                statement(&name, st, &mut g);
            }
        }
        out.insert(holder, g);
    }
    out
}

/// What templates/target-account.yaml's role (`TargetRole`) is granted, and how its trust
/// is limited: to the stack's account, its roles' path, and the external ID.
pub fn target_role_grants() -> Grants {
    let text = std::fs::read_to_string(root().join("templates/target-account.yaml")).unwrap();
    let tpl = greenlight_core::yaml::load(&text).unwrap();
    let role = get(get(&tpl, "Resources").unwrap(), "TargetRole").expect("a TargetRole");
    let props = get(role, "Properties").unwrap();
    let mut g = Grants::default();
    let trust = get(props, "AssumeRolePolicyDocument").unwrap();
    let Some(NodeKind::Sequence(trusted)) = get(trust, "Statement").map(|s| &s.kind) else {
        panic!("the trust policy has no statements");
    };
    // Keys and scalars of a node, depth first.
    fn words(node: &Node) -> Vec<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } => vec![text.clone()],
            NodeKind::Sequence(items) => items.iter().flat_map(words).collect(),
            NodeKind::Mapping(e) => e
                .iter()
                .flat_map(|(k, _, v)| std::iter::once(k.clone()).chain(words(v)))
                .collect(),
        }
    }
    for st in trusted {
        let st = when_true(st);
        let condition = get(st, "Condition").map(words).unwrap_or_default();
        if !condition.iter().any(|c| c == "sts:ExternalId") {
            g.problems
                .push("a trust statement without the external ID".into());
        }
        if !condition.iter().any(|c| c == "aws:PrincipalArn") {
            g.problems
                .push("a trust statement not limited to the stack's roles".into());
        }
        // Principals of the greenlight account only: `arn:…:iam::${GreenlightAccountId}:root`.
        let principal = get(st, "Principal").map(words).unwrap_or_default();
        if principal.len() != 2
            || principal[0] != "AWS"
            || !principal[1].ends_with(":iam::${GreenlightAccountId}:root")
        {
            g.problems.push(format!(
                "a trust statement for other principals: {principal:?}"
            ));
        }
    }
    let Some(NodeKind::Sequence(policies)) = get(props, "Policies").map(|p| &p.kind) else {
        panic!("the target role has no inline policies");
    };
    for p in policies {
        let doc = get(p, "PolicyDocument").unwrap();
        let Some(NodeKind::Sequence(statements)) = get(doc, "Statement").map(|s| &s.kind) else {
            continue;
        };
        for st in statements {
            statement("target-role", st, &mut g);
        }
    }
    g
}

/// A policy statement written `!If [Condition, statement, !Ref AWS::NoValue]` (granted when
/// the condition holds): the statement; any other node as it is.
fn when_true(st: &Node) -> &Node {
    match &st.kind {
        NodeKind::Sequence(items) if items.len() == 3 => &items[1],
        _ => st,
    }
}

fn statement(role: &str, st: &Node, g: &mut Grants) {
    let st = when_true(st);
    if get(st, "Effect").map(text).as_deref() != Some("Allow") {
        return;
    }
    let actions = get(st, "Action").map(texts).unwrap_or_default();
    let resources = get(st, "Resource").map(leaves).unwrap_or_default();
    let leading_keys: Option<Vec<String>> = get(st, "Condition")
        .and_then(|c| get(c, "ForAllValues:StringLike"))
        .and_then(|c| get(c, "dynamodb:LeadingKeys"))
        .map(texts);
    for action in actions {
        if action.contains('*') {
            g.problems.push(format!("{role}: wildcard action {action}"));
        }
        if resources.iter().any(|r| r == "*") && !UNSCOPABLE.iter().any(|(a, _)| *a == action) {
            g.problems.push(format!(
                "{role}: {action} on Resource \"*\", but AWS lets it be scoped"
            ));
        }
        if action.starts_with("dynamodb:") {
            if resources.iter().all(|r| r.ends_with("/index/history")) {
                g.granted.insert(format!("{action} HISTORY#"));
            } else if let Some(keys) = &leading_keys {
                for k in keys {
                    g.granted
                        .insert(format!("{action} {}", k.trim_end_matches('*')));
                }
            } else {
                g.problems.push(format!(
                    "{role}: {action} on the table without a dynamodb:LeadingKeys condition"
                ));
            }
        } else {
            g.granted.insert(action);
        }
    }
}
