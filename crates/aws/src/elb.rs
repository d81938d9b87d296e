//! `LoadBalancer` on Elastic Load Balancing (Application Load Balancers).

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple, TargetHealthStateEnum,
};
use greenlight_core::ports::{
    is_listener_rule, listener_of_rule, HealthState, ListenerEndpoint, LoadBalancer, PortError,
    PortResult, TargetHealth, TargetWeight,
};
use greenlight_core::Arn;

use crate::error::{classify, missing};
use crate::AwsCloud;

impl AwsCloud {
    async fn listener(
        &self,
        listener: &Arn,
    ) -> PortResult<aws_sdk_elasticloadbalancingv2::types::Listener> {
        const OP: &str = "elasticloadbalancing:DescribeListeners";
        let out = self
            .elb
            .describe_listeners()
            .listener_arns(listener.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_listener_not_found_exception() => {
                    PortError::not_found(format!("listener {listener}"))
                }
                _ => classify(OP, e),
            })?;
        out.listeners
            .and_then(|l| l.into_iter().next())
            .ok_or_else(|| PortError::not_found(format!("listener {listener}")))
    }
}

impl AwsCloud {
    /// A listener's default actions, or a listener rule's actions.
    async fn forward_actions(&self, listener: &Arn) -> PortResult<(&'static str, Vec<Action>)> {
        if !is_listener_rule(listener) {
            let l = self.listener(listener).await?;
            return Ok((
                "elasticloadbalancing:DescribeListeners",
                l.default_actions().to_vec(),
            ));
        }
        const OP: &str = "elasticloadbalancing:DescribeRules";
        let out = self
            .elb
            .describe_rules()
            .rule_arns(listener.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_rule_not_found_exception() => {
                    PortError::not_found(format!("listener rule {listener}"))
                }
                _ => classify(OP, e),
            })?;
        let rule = out
            .rules()
            .first()
            .ok_or_else(|| PortError::not_found(format!("listener rule {listener}")))?;
        Ok((OP, rule.actions().to_vec()))
    }
}

/// An ARN the service answered with, or an error naming the operation.
pub(crate) fn parse_arn(op: &str, text: &str) -> PortResult<Arn> {
    Arn::parse(text).map_err(|message| PortError::Other {
        operation: op.to_string(),
        message,
    })
}

impl LoadBalancer for AwsCloud {
    /// The weights of a listener's forward default action, or of a listener rule's forward
    /// action.
    async fn listener_weights(&self, listener: &Arn) -> PortResult<Vec<TargetWeight>> {
        let (op, actions) = self.forward_actions(listener).await?;
        let forward = actions
            .iter()
            .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
            .ok_or_else(|| PortError::Invalid {
                operation: op.into(),
                message: format!("{listener} has no forward action"),
            })?;
        match forward
            .forward_config()
            .map(|f| f.target_groups())
            .filter(|t| !t.is_empty())
        {
            Some(groups) => groups
                .iter()
                .map(|t| {
                    Ok(TargetWeight {
                        target_group: parse_arn(
                            op,
                            t.target_group_arn()
                                .ok_or_else(|| missing(op, "TargetGroupArn"))?,
                        )?,
                        // A tuple without a weight carries the default weight, 1; alone it
                        // takes all traffic.
                        weight: t
                            .weight()
                            .map_or(if groups.len() == 1 { 100 } else { 1 }, |w| {
                                w.clamp(0, 100) as u8
                            }),
                    })
                })
                .collect(),
            None => Ok(vec![TargetWeight {
                target_group: parse_arn(
                    op,
                    forward
                        .target_group_arn()
                        .ok_or_else(|| missing(op, "TargetGroupArn"))?,
                )?,
                weight: 100,
            }]),
        }
    }

    async fn set_listener_weights(
        &self,
        listener: &Arn,
        weights: &[TargetWeight],
    ) -> PortResult<()> {
        const OP: &str = "elasticloadbalancing:ModifyListener";
        let groups = weights
            .iter()
            .map(|w| {
                TargetGroupTuple::builder()
                    .target_group_arn(w.target_group.as_str())
                    .weight(i32::from(w.weight))
                    .build()
            })
            .collect();
        let action = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .set_target_groups(Some(groups))
                    .build(),
            )
            .build();
        if is_listener_rule(listener) {
            const RULE_OP: &str = "elasticloadbalancing:ModifyRule";
            self.elb
                .modify_rule()
                .rule_arn(listener.as_str())
                .actions(action)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_rule_not_found_exception() => {
                        PortError::not_found(format!("listener rule {listener}"))
                    }
                    Some(se) if se.is_target_group_not_found_exception() => {
                        PortError::not_found(format!("a target group of listener rule {listener}"))
                    }
                    _ => classify(RULE_OP, e),
                })?;
            return Ok(());
        }
        self.elb
            .modify_listener()
            .listener_arn(listener.as_str())
            .default_actions(action)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_listener_not_found_exception() => {
                    PortError::not_found(format!("listener {listener}"))
                }
                Some(se) if se.is_target_group_not_found_exception() => {
                    PortError::not_found(format!("a target group of listener {listener}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(())
    }

    async fn target_health(&self, target_group: &Arn) -> PortResult<Vec<TargetHealth>> {
        const OP: &str = "elasticloadbalancing:DescribeTargetHealth";
        let out = self
            .elb
            .describe_target_health()
            .target_group_arn(target_group.as_str())
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_target_group_not_found_exception() => {
                    PortError::not_found(format!("target group {target_group}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let health = d.target_health();
                TargetHealth {
                    id: d
                        .target()
                        .and_then(|t| t.id())
                        .unwrap_or_default()
                        .to_string(),
                    port: d.target().and_then(|t| t.port()).map(|p| p as u16),
                    state: match health.and_then(|h| h.state()) {
                        Some(TargetHealthStateEnum::Healthy) => HealthState::Healthy,
                        Some(TargetHealthStateEnum::Initial) => HealthState::Initial,
                        Some(TargetHealthStateEnum::Unhealthy)
                        | Some(TargetHealthStateEnum::UnhealthyDraining) => HealthState::Unhealthy,
                        Some(TargetHealthStateEnum::Draining) => HealthState::Draining,
                        Some(TargetHealthStateEnum::Unused) => HealthState::Unused,
                        _ => HealthState::Unavailable,
                    },
                    reason: health.and_then(|h| {
                        let reason = h.reason().map(|r| r.as_str().to_string());
                        match (reason, h.description()) {
                            (Some(r), Some(d)) => Some(format!("{r}: {d}")),
                            (r, d) => r.or(d.map(str::to_string)),
                        }
                    }),
                }
            })
            .collect())
    }

    /// A listener rule is reached through its listener (a probe by `path` must also match
    /// the rule's conditions: give it a `url` with the rule's host).
    async fn listener_endpoint(&self, listener: &Arn) -> PortResult<ListenerEndpoint> {
        const OP: &str = "elasticloadbalancing:DescribeLoadBalancers";
        let listener = match is_listener_rule(listener) {
            true => listener_of_rule(listener).ok_or_else(|| PortError::Invalid {
                operation: OP.into(),
                message: format!("{listener} names no listener"),
            })?,
            false => listener.clone(),
        };
        let l = self.listener(&listener).await?;
        let lb = l
            .load_balancer_arn()
            .ok_or_else(|| missing(OP, "LoadBalancerArn"))?;
        let out = self
            .elb
            .describe_load_balancers()
            .load_balancer_arns(lb)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let dns = out
            .load_balancers()
            .first()
            .and_then(|b| b.dns_name())
            .ok_or_else(|| missing(OP, "DNSName"))?;
        Ok(ListenerEndpoint {
            dns_name: dns.to_string(),
            port: l.port().unwrap_or(80) as u16,
            scheme: match l.protocol().map(|p| p.as_str()) {
                Some("HTTPS") => "https".into(),
                _ => "http".into(),
            },
        })
    }
}
