//! SNS (notifications, subscriptions), the dead-letter queue (SQS) and HTTP probes.

#[allow(unused_imports)]
use super::*;

impl EventBus for Sim {
    async fn put_events(&self, events: &[greenlight_core::notify::BusEvent]) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("events:PutEvents")?;
            w.bus_events.extend_from_slice(events);
            Ok(())
        })
    }
}

impl Notifier for Sim {
    async fn publish(&self, topic: &Arn, notification: &Notification) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Publish")?;
            // The topics are encrypted with a customer-managed key.
            w.note_access("kms:GenerateDataKey");
            w.note_access("kms:Decrypt");
            let at = w.now;
            let seq = w.next_seq();
            w.published.push(Published {
                topic: topic.clone(),
                at,
                seq,
                notification: notification.clone(),
            });
            let deliveries: Vec<String> = w
                .subscriptions
                .iter()
                .filter(|(t, s)| {
                    t == topic
                        && s.filter
                            .as_ref()
                            .is_none_or(|f| crate::world::filter_matches(f, notification))
                })
                .map(|(_, s)| s.endpoint.clone())
                .collect();
            for endpoint in deliveries {
                w.inboxes
                    .entry(endpoint)
                    .or_default()
                    .push(notification.clone());
            }
            let id = format!("msg-{}", w.published.len());
            let sink = w.publish_sink.clone();
            drop(w);
            if let Some(sink) = sink {
                sink(topic, notification);
            }
            Ok(id)
        })
    }
}

impl Prober for Sim {
    async fn get(&self, url: &str, timeout: Duration) -> ProbeResult {
        let mut w = self.world();
        let now = w.now;
        w.calls.push((now, "http:GET".into()));
        match w.http_get(url) {
            Ok(status) => ProbeResult {
                status: Some(status),
                error: None,
                elapsed_ms: 20,
            },
            Err(e) => ProbeResult {
                status: None,
                error: Some(format!("{e} (timeout {timeout})")),
                elapsed_ms: timeout.as_secs() * 1000,
            },
        }
    }
}

impl Subscriptions for Sim {
    async fn subscribe(
        &self,
        topic: &Arn,
        protocol: &str,
        endpoint: &str,
        filter: Option<&serde_json::Value>,
    ) -> PortResult<String> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Subscribe")?;
            let arn = format!("{topic}:sub-{}", w.subscriptions.len() + 1);
            w.subscriptions.push((
                topic.clone(),
                Subscription {
                    arn: arn.clone(),
                    protocol: protocol.to_string(),
                    endpoint: endpoint.to_string(),
                    filter: filter.cloned(),
                },
            ));
            Ok(arn)
        })
    }

    async fn unsubscribe(&self, subscription: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:Unsubscribe")?;
            let before = w.subscriptions.len();
            w.subscriptions.retain(|(_, s)| s.arn != subscription);
            if w.subscriptions.len() == before {
                return Err(PortError::not_found(format!("subscription {subscription}")));
            }
            Ok(())
        })
    }

    async fn subscriptions(&self, topic: &Arn) -> PortResult<Vec<Subscription>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sns:ListSubscriptionsByTopic")?;
            Ok(w.subscriptions
                .iter()
                .filter(|(t, _)| t == topic)
                .map(|(_, s)| s.clone())
                .collect())
        })
    }
}

impl DeadLetters for Sim {
    async fn dead_letters(
        &self,
        queue: &str,
        max: usize,
        hide: Duration,
    ) -> PortResult<Vec<DeadLetter>> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:ReceiveMessage")?;
            let now = w.now;
            let until = hide.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
            let messages = w
                .queues
                .get_mut(queue)
                .ok_or_else(|| PortError::not_found(format!("SQS queue {queue}")))?;
            let mut out = Vec::new();
            for (m, hidden_until) in messages.iter_mut() {
                if out.len() >= max {
                    break;
                }
                if *hidden_until <= now {
                    *hidden_until = until;
                    out.push(m.clone());
                }
            }
            Ok(out)
        })
    }

    async fn show_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:ChangeMessageVisibility")?;
            let now = w.now;
            if let Some(messages) = w.queues.get_mut(queue) {
                for (m, hidden_until) in messages.iter_mut() {
                    if m.receipt == receipt {
                        *hidden_until = now;
                    }
                }
            }
            Ok(())
        })
    }

    async fn delete_dead_letter(&self, queue: &str, receipt: &str) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:DeleteMessage")?;
            if let Some(messages) = w.queues.get_mut(queue) {
                messages.retain(|(m, _)| m.receipt != receipt);
            }
            Ok(())
        })
    }
}

impl greenlight_core::ports::Timers for Sim {
    async fn schedule(
        &self,
        tick: &greenlight_core::ports::Tick,
        delay: Duration,
    ) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call("sqs:SendMessage")?;
            let sink = w.tick_sink.clone();
            match sink {
                Some(sink) => {
                    drop(w);
                    sink(tick.clone(), delay);
                }
                None => {
                    let due = delay.after(w.now).unwrap_or(DateTime::<Utc>::MAX_UTC);
                    w.ticks.push((due, tick.clone()));
                }
            }
            Ok(())
        })
    }
}
