//! `DeadLetters` on Amazon SQS: the stack's dead-letter queue.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use greenlight_core::ports::{DeadLetter, DeadLetters, PortError, PortResult, Tick, Timers};
use greenlight_core::Duration;

use crate::error::classify;
use crate::AwsCloud;

impl DeadLetters for AwsCloud {
    async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> PortResult<Vec<DeadLetter>> {
        const OP: &str = "sqs:ReceiveMessage";
        // A reader that hides nothing (a listing) still hides each batch while it pages, or
        // SQS would hand it the same first messages again; it shows them again at the end.
        let peek = hide.is_zero();
        let hide = if peek {
            30
        } else {
            i32::try_from(hide.as_secs())
                .unwrap_or(i32::MAX)
                .min(43_200)
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        while out.len() < max {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(i32::try_from((max - out.len()).min(10)).unwrap_or(10))
                .visibility_timeout(hide)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_queue_does_not_exist() => {
                        PortError::not_found(format!("SQS queue {queue}"))
                    }
                    _ => classify(OP, e),
                })?;
            let messages = batch.messages.unwrap_or_default();
            let mut new = 0;
            for m in messages {
                let id = m.message_id.clone().unwrap_or_default();
                // With no visibility timeout a message comes back at once: stop at a repeat.
                if !seen.insert(id.clone()) {
                    continue;
                }
                new += 1;
                let sent_at = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(chrono::DateTime::from_timestamp_millis);
                out.push(DeadLetter {
                    id,
                    receipt: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    sent_at,
                });
            }
            if new == 0 {
                break;
            }
        }
        if peek {
            for m in &out {
                self.show_dead_letter(queue, &m.receipt).await?;
            }
        }
        Ok(out)
    }

    async fn show_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.sqs
            .change_message_visibility()
            .queue_url(queue)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| classify("sqs:ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn delete_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.sqs
            .delete_message()
            .queue_url(queue)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| classify("sqs:DeleteMessage", e))?;
        Ok(())
    }
}

/// SQS delays a message at most this long.
const MAX_DELAY_SECS: u64 = 900;

impl Timers for AwsCloud {
    async fn schedule(&self, tick: &Tick, delay: Duration) -> PortResult<()> {
        const OP: &str = "sqs:SendMessage";
        let queue = self
            .tick_queue
            .as_deref()
            .ok_or_else(|| PortError::Invalid {
                operation: OP.into(),
                message: "environment variable GREENLIGHT_TICK_QUEUE is not set".into(),
            })?;
        let body = serde_json::to_string(tick).map_err(|e| PortError::Invalid {
            operation: OP.into(),
            message: format!("the tick does not serialize: {e}"),
        })?;
        // A later tick arrives early and waits again: its `due` says when it is for.
        let delay = i32::try_from(delay.as_secs().min(MAX_DELAY_SECS)).unwrap_or(0);
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }
}
