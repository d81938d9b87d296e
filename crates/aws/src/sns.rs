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
