//! `Stacks` on AWS CloudFormation (the CLI's `--stack`; not in the functions).

use std::collections::BTreeMap;

use greenlight_core::ports::{PortError, PortResult, Stacks};

use crate::error::classify;

/// A CloudFormation client, apart from [`crate::AwsCloud`] so the functions do not carry it.
#[derive(Clone, Debug)]
pub struct CloudFormation {
    pub client: aws_sdk_cloudformation::Client,
}

impl CloudFormation {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        CloudFormation {
            client: aws_sdk_cloudformation::Client::new(config),
        }
    }
}

impl Stacks for CloudFormation {
    async fn stack_outputs(&self, name: &str) -> PortResult<BTreeMap<String, String>> {
        const OP: &str = "cloudformation:DescribeStacks";
        let out = self
            .client
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                // CloudFormation answers a missing stack with a ValidationError.
                let missing = e
                    .as_service_error()
                    .and_then(|se| se.meta().message())
                    .is_some_and(|m| m.contains("does not exist"));
                if missing {
                    PortError::not_found(format!("stack {name}"))
                } else {
                    classify(OP, e)
                }
            })?;
        let stack = out
            .stacks()
            .first()
            .ok_or_else(|| PortError::not_found(format!("stack {name}")))?;
        Ok(stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect())
    }
}
