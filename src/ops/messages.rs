//! The commands about messages: subscriptions to the notifications, and the dead-letter
//! queue.

use super::*;

#[derive(Clone, Debug, clap::Args)]
pub struct SubscribeArgs {
    /// An e-mail address (it receives a confirmation message first).
    #[arg(long, group = "target")]
    pub email: Option<String>,
    /// An SQS queue's ARN (it receives the notification as JSON).
    #[arg(long, group = "target")]
    pub sqs: Option<String>,
    /// An HTTPS endpoint (SNS confirms the subscription with it first).
    #[arg(long, group = "target")]
    pub https: Option<String>,
    /// A Lambda function's ARN.
    #[arg(long, group = "target")]
    pub lambda: Option<String>,
    /// Only this app's notifications.
    #[arg(long)]
    pub app: Option<String>,
    /// Only this environment's.
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// This severity and above: info, warn, error, critical.
    #[arg(long, value_parser = parse_severity)]
    pub severity: Option<Severity>,
    /// Only these events (repeatable): started, approval_requested, traffic_shifted,
    /// succeeded, rolled_back, rollback_failed, rejected, superseded, ignored.
    #[arg(long = "event", value_parser = parse_event)]
    pub events: Vec<EventKind>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| format!("`{s}` is not info, warn, error or critical"))
}

fn parse_event(s: &str) -> Result<EventKind, String> {
    serde_json::from_value(json!(s)).map_err(|_| {
        let names: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
        format!("`{s}` is not one of {}", names.join(", "))
    })
}

pub async fn subscribe_cmd(stack: &Stack, a: &SubscribeArgs, json_out: bool) -> Outcome {
    use subscribe::Protocol;
    let (protocol, endpoint) = match (&a.email, &a.sqs, &a.https, &a.lambda) {
        (Some(e), _, _, _) => (Protocol::Email, e),
        (_, Some(q), _, _) => (Protocol::Sqs, q),
        (_, _, Some(h), _) => (Protocol::Https, h),
        (_, _, _, Some(l)) => (Protocol::Lambda, l),
        _ => {
            return Err(Stop(
                "give one of --email, --sqs, --https, --lambda".into(),
                exit::INVALID,
            ))
        }
    };
    let filter = subscribe::Filter {
        app: a.app.clone(),
        environment: a.environment.clone(),
        severity: a.severity,
        events: a.events.clone(),
    };
    let cloud = stack.cloud().await?;
    let arn = subscribe::subscribe(&cloud, &stack.topic()?, protocol, endpoint, &filter).await?;
    if json_out {
        let out = subscribe::Subscribed {
            subscription: arn,
            filter: filter.policy(),
        };
        print_json(&serde_json::to_value(&out).unwrap());
    } else {
        println!("subscribed {} {endpoint}: {arn}", protocol.as_str());
        match filter.policy() {
            Some(p) => println!("  filter {p}"),
            None => println!("  no filter: every notification"),
        }
        if protocol == Protocol::Email {
            println!("  the address receives a confirmation e-mail first");
        }
    }
    Ok(())
}

pub async fn unsubscribe_cmd(stack: &Stack, subscription: &str, json_out: bool) -> Outcome {
    let cloud = stack.cloud().await?;
    cloud.unsubscribe(subscription).await.map_err(port)?;
    if json_out {
        let out = subscribe::Unsubscribed {
            unsubscribed: subscription.to_string(),
        };
        print_json(&serde_json::to_value(&out).unwrap());
    } else {
        println!("unsubscribed {subscription}");
    }
    Ok(())
}

pub async fn subscriptions_cmd(stack: &Stack, json_out: bool) -> Outcome {
    let cloud = stack.cloud().await?;
    let subs = cloud.subscriptions(&stack.topic()?).await.map_err(port)?;
    if json_out {
        print_json(&serde_json::to_value(&subs).unwrap());
    } else {
        for s in subs {
            println!(
                "{:<7} {:<48} {}",
                s.protocol,
                s.endpoint,
                s.filter
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| "(everything)".into())
            );
            println!("        {}", s.arn);
        }
    }
    Ok(())
}

/// `greenlight dead-letters [--replay]`.
pub async fn dead_letters_cmd(stack: &Stack, replay: bool, json_out: bool) -> Outcome {
    use greenlight_core::usecase::dead_letters;
    let queue = stack.dead_letter_queue()?;
    let cloud = stack.cloud().await?;
    if !replay {
        let letters = dead_letters::list(&cloud, &queue).await.map_err(port)?;
        if json_out {
            print_json(&serde_json::to_value(dead_letters::Listing { letters }).unwrap());
        } else if letters.is_empty() {
            println!("no dead letters");
        } else {
            for l in &letters {
                println!(
                    "{:<12} {}{}",
                    l.kind,
                    l.summary,
                    l.failure
                        .as_ref()
                        .map(|f| format!(" — failed: {f}"))
                        .unwrap_or_default()
                );
            }
            println!("{} dead letter(s); `--replay` acts on them", letters.len());
        }
        return Ok(());
    }
    let done = dead_letters::replay(&cloud, &queue, &stack.state_machine()?, &stack.topic()?)
        .await
        .map_err(port)?;
    let left = done.iter().filter(|d| !d.removed).count();
    if json_out {
        print_json(&serde_json::to_value(dead_letters::Replay { replayed: done }).unwrap());
    } else {
        for d in &done {
            println!("{:<12} {} — {}", d.letter.kind, d.letter.summary, d.result);
        }
        println!(
            "{} dead letter(s) handled, {left} left in the queue",
            done.len() - left
        );
    }
    if left > 0 {
        return Err(Stop(
            format!("{left} dead letter(s) could not be handled"),
            exit::INVALID,
        ));
    }
    Ok(())
}
