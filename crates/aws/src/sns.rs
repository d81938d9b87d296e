//! `Notifier` on Amazon SNS: one publish carries every rendering (`MessageStructure: json`)
//! and the four filter attributes.

use aws_sdk_sns::types::MessageAttributeValue;
use greenlight_core::notify::Notification;
use greenlight_core::ports::{Notifier, PortError, PortResult};
use greenlight_core::Arn;

use crate::error::{classify, missing};
use crate::AwsCloud;

impl Notifier for AwsCloud {
    async fn publish(&self, topic: &Arn, notification: &Notification) -> PortResult<String> {
        const OP: &str = "sns:Publish";
        let mut request = self
            .sns
            .publish()
            .topic_arn(topic.as_str())
            .subject(notification.subject())
            .message_structure("json")
            .message(notification.sns_message());
        for (name, value) in notification.attributes() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::Other {
                    operation: OP.into(),
                    message: e.to_string(),
                })?;
            request = request.message_attributes(name, attribute);
        }
        let out = request
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_not_found_exception() => {
                    PortError::not_found(format!("SNS topic {topic}"))
                }
                _ => classify(OP, e),
            })?;
        out.message_id()
            .map(str::to_string)
            .ok_or_else(|| missing(OP, "MessageId"))
    }
}

impl greenlight_core::ports::Subscriptions for AwsCloud {
    async fn subscribe(
        &self,
        topic: &Arn,
        protocol: &str,
        endpoint: &str,
        filter: Option<&serde_json::Value>,
    ) -> PortResult<String> {
        const OP: &str = "sns:Subscribe";
        let mut request = self
            .sns
            .subscribe()
            .topic_arn(topic.as_str())
            .protocol(protocol)
            .endpoint(endpoint)
            .return_subscription_arn(true);
        if let Some(f) = filter {
            request = request
                .attributes("FilterPolicy", f.to_string())
                .attributes("FilterPolicyScope", "MessageAttributes");
        }
        let out = request
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_not_found_exception() => {
                    PortError::not_found(format!("SNS topic {topic}"))
                }
                _ => classify(OP, e),
            })?;
        out.subscription_arn()
            .map(str::to_string)
            .ok_or_else(|| missing(OP, "SubscriptionArn"))
    }

    async fn unsubscribe(&self, subscription: &str) -> PortResult<()> {
        const OP: &str = "sns:Unsubscribe";
        self.sns
            .unsubscribe()
            .subscription_arn(subscription)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_not_found_exception() => {
                    PortError::not_found(format!("subscription {subscription}"))
                }
                _ => classify(OP, e),
            })?;
        Ok(())
    }

    async fn subscriptions(
        &self,
        topic: &Arn,
    ) -> PortResult<Vec<greenlight_core::ports::Subscription>> {
        const OP: &str = "sns:ListSubscriptionsByTopic";
        let mut pages = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic.as_str())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| match e.as_service_error() {
                Some(se) if se.is_not_found_exception() => {
                    PortError::not_found(format!("SNS topic {topic}"))
                }
                _ => classify(OP, e),
            })?;
            for s in page.subscriptions() {
                let arn = s.subscription_arn().unwrap_or_default().to_string();
                // Pending e-mail subscriptions have no ARN yet, so no attributes to read.
                let filter = if arn.starts_with("arn:") {
                    let attrs = self
                        .sns
                        .get_subscription_attributes()
                        .subscription_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| classify("sns:GetSubscriptionAttributes", e))?;
                    attrs
                        .attributes()
                        .and_then(|a| a.get("FilterPolicy"))
                        .and_then(|f| serde_json::from_str(f).ok())
                } else {
                    None
                };
                out.push(greenlight_core::ports::Subscription {
                    arn,
                    protocol: s.protocol().unwrap_or_default().to_string(),
                    endpoint: s.endpoint().unwrap_or_default().to_string(),
                    filter,
                });
            }
        }
        Ok(out)
    }
}
