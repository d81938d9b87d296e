//! The simulated world: its state, its dynamics (functions of the virtual time), fault
//! injection, and helpers that set it up from a greenlight configuration.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use greenlight_core::config::{Colour, Environment};
use greenlight_core::notify::Notification;
use greenlight_core::ports::{
    AlarmValue, DeploymentRecord, HealthState, ImageInfo, Lock, PortError, RolloutState,
    ServiceState, StoredConfig, TargetHealth, TargetWeight, TokenPurpose,
};
use greenlight_core::{Arn, Digest, ImageRef};

pub use crate::alarms::AlarmSource;
pub use crate::behaviour::Behaviour;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";

/// Seconds after tasks run before the target group calls them healthy.
pub const HEALTH_GRACE_SECS: u64 = 15;
/// Seconds after which ECS's circuit breaker fails a rollout whose tasks keep crashing.
pub const CRASH_GIVE_UP_SECS: u64 = 180;

#[derive(Clone, Debug)]
pub struct Service {
    pub cluster: String,
    pub name: String,
    pub task_definition: String,
    pub desired: u32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct TaskDef {
    pub arn: String,
    pub family: String,
    pub revision: u32,
    pub containers: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct Listener {
    /// Carries production traffic (the requests the metrics count), not a test listener.
    pub production: bool,
    pub dns_name: String,
    pub port: u16,
    pub scheme: String,
    pub weights: Vec<TargetWeight>,
}

#[derive(Clone, Debug)]
pub struct Repo {
    pub uri: String,
    pub images: Vec<ImageInfo>,
}

/// An alarm on the 5xx rate of the traffic a listener sends.
#[derive(Clone, Debug)]
pub struct Alarm {
    /// What the alarm measures: the 5xx rate of a production listener's traffic, or for a
    /// worker service the failure rate of the work its two services' tasks do.
    pub source: AlarmSource,
    pub threshold: f64,
    /// Set by a scenario to force the state regardless of traffic, with the reason
    /// CloudWatch gives for it.
    pub forced: Option<(AlarmValue, String)>,
}

/// A forced change of an alarm's state, for timelines.
#[derive(Clone, Debug)]
pub struct AlarmChange {
    pub at: DateTime<Utc>,
    pub seq: u64,
    pub name: String,
    /// `None` when the forcing ended and the alarm follows the traffic again.
    pub value: Option<AlarmValue>,
    pub reason: String,
}

/// One SNS message as published.
#[derive(Clone, Debug)]
pub struct Published {
    pub topic: Arn,
    pub at: DateTime<Utc>,
    /// Causal order among what happened at the same instant ([`World::next_seq`]).
    pub seq: u64,
    pub notification: Notification,
}

#[derive(Clone, Debug, Default)]
pub struct Store {
    pub locks: BTreeMap<(String, String), Lock>,
    pub deployments: BTreeMap<String, DeploymentRecord>,
    pub tokens: BTreeMap<(String, TokenPurpose), (String, Vec<String>)>,
    pub config: Option<StoredConfig>,
}

/// A started Step Functions execution, as the simulator records it.
#[derive(Clone, Debug)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub state_machine: String,
    pub input: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub status: greenlight_core::ports::ExecutionStatus,
    pub stop: Option<(String, String)>,
}

/// The answer given to a task token.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenAnswer {
    Success(serde_json::Value),
    Failure { error: String, cause: String },
}

/// A fault to inject: the next `times` calls of `operation` (e.g. `elbv2:ModifyListener`)
/// fail with `error`, from `after` on.
#[derive(Clone, Debug)]
pub struct Fault {
    pub operation: String,
    pub error: FaultKind,
    pub times: u32,
    pub after: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Throttle,
    ServerError,
    Timeout,
    /// A timeout whose request reached AWS and took effect: only the answer was lost.
    TimeoutLanded,
    AccessDenied,
}

/// Where answers to task tokens go when a state machine runner owns the waiting tasks:
/// returns whether a task was waiting on the token.
pub type TokenSink = std::sync::Arc<dyn Fn(&str, TokenAnswer) -> bool + Send + Sync>;
/// Stops a running execution: (name, error, cause) → whether it was running.
pub type StopSink = std::sync::Arc<dyn Fn(&str, &str, &str) -> bool + Send + Sync>;
/// Called with each execution the `Executions` port starts, to run it.
pub type StartSink = std::sync::Arc<dyn Fn(Execution) + Send + Sync>;
/// Called with each notification published (topic, notification): SNS's subscribed functions.
pub type PublishSink = std::sync::Arc<dyn Fn(&Arn, &Notification) + Send + Sync>;
/// Called with each tick scheduled on the tick queue (the tick, its delay): the queue's
/// delivery to the `check` function.
pub type TickSink =
    std::sync::Arc<dyn Fn(greenlight_core::ports::Tick, greenlight_core::Duration) + Send + Sync>;

/// A change of a listener's weights, for timelines.
#[derive(Clone, Debug)]
pub struct TrafficChange {
    pub at: DateTime<Utc>,
    /// Causal order among what happened at the same instant ([`World::next_seq`]).
    pub seq: u64,
    pub listener: Arn,
    pub weights: Vec<TargetWeight>,
}

pub struct World {
    pub now: DateTime<Utc>,
    /// Set when time follows tokio's clock: (world time, tokio instant) at the switch.
    pub tokio_origin: Option<(DateTime<Utc>, tokio::time::Instant)>,
    pub token_sink: Option<TokenSink>,
    pub start_sink: Option<StartSink>,
    pub publish_sink: Option<PublishSink>,
    pub tick_sink: Option<TickSink>,
    /// The ticks scheduled while no [`TickSink`] takes them: (due, tick).
    pub ticks: Vec<(DateTime<Utc>, greenlight_core::ports::Tick)>,
    /// Stops a running execution by name (`StopExecution`), when a state machine runner
    /// owns the executions: (name, error, cause) → whether it was running.
    pub stop_sink: Option<StopSink>,
    /// Stop every execution as it enters this state (a test's kill switch).
    pub kill_at: Option<String>,
    pub traffic: Vec<TrafficChange>,
    /// SNS subscriptions: (topic, subscription).
    pub subscriptions: Vec<(Arn, greenlight_core::ports::Subscription)>,
    /// What each subscribed endpoint received (only messages its filter lets through).
    pub inboxes: BTreeMap<String, Vec<Notification>>,
    /// Public host names and the listener they resolve to (for `url` probes).
    pub dns: BTreeMap<String, Arn>,
    rng: u64,
    /// The seed, for noise that must not depend on the order of calls (metrics).
    pub seed: u64,
    pub services: BTreeMap<(String, String), Service>,
    pub task_defs: BTreeMap<String, TaskDef>,
    pub listeners: BTreeMap<Arn, Listener>,
    /// Which service's tasks register in each target group.
    pub target_groups: BTreeMap<Arn, (String, String)>,
    pub repos: BTreeMap<String, Repo>,
    pub behaviours: BTreeMap<Digest, Behaviour>,
    pub alarms: BTreeMap<String, Alarm>,
    pub published: Vec<Published>,
    /// Events put on the default EventBridge bus, in order.
    pub bus_events: Vec<greenlight_core::notify::BusEvent>,
    pub store: Store,
    pub executions: BTreeMap<String, Execution>,
    /// Tokens of tasks that are waiting, and the answers given to tokens.
    pub waiting_tokens: BTreeSet<String>,
    pub answers: Vec<(String, TokenAnswer)>,
    pub faults: Vec<Fault>,
    /// Listeners that accept weight changes but keep their old weights (a broken write).
    pub sticky_listeners: BTreeSet<Arn>,
    /// Every call made, in order: (time, operation).
    pub calls: Vec<(DateTime<Utc>, String)>,
    /// SQS queues (the dead-letter queue): messages with the time until which they are
    /// hidden from readers.
    pub queues: BTreeMap<String, Vec<(greenlight_core::ports::DeadLetter, DateTime<Utc>)>>,
    /// The last causal sequence number handed out.
    pub seq: u64,
    /// CloudFormation stacks' outputs, by stack name (for `--stack`).
    pub stacks: BTreeMap<String, BTreeMap<String, String>>,
    /// Alarm states forced by scenarios, in order.
    pub alarm_changes: Vec<AlarmChange>,
    /// Which function made which AWS call (IAM action names, DynamoDB ones with the key
    /// prefix of the item: `dynamodb:PutItem LOCK#`), for the least-privilege test.
    pub access: BTreeSet<(String, String)>,
    /// The error of a call that took effect but whose answer was lost
    /// ([`FaultKind::TimeoutLanded`]): the port returns it once the call's effect is done.
    pub lost_reply: Option<PortError>,
    /// Accounts and regions other than the stack's, and who acts in them.
    pub accounts: crate::accounts::Accounts,
}

impl World {
    pub fn new(seed: u64, start: DateTime<Utc>) -> World {
        World {
            now: start,
            tokio_origin: None,
            token_sink: None,
            start_sink: None,
            publish_sink: None,
            tick_sink: None,
            ticks: Vec::new(),
            stop_sink: None,
            kill_at: None,
            traffic: Vec::new(),
            dns: BTreeMap::new(),
            subscriptions: Vec::new(),
            inboxes: BTreeMap::new(),
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            seed,
            services: BTreeMap::new(),
            task_defs: BTreeMap::new(),
            listeners: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            repos: BTreeMap::new(),
            behaviours: BTreeMap::new(),
            alarms: BTreeMap::new(),
            published: Vec::new(),
            bus_events: Vec::new(),
            store: Store::default(),
            executions: BTreeMap::new(),
            waiting_tokens: BTreeSet::new(),
            answers: Vec::new(),
            faults: Vec::new(),
            sticky_listeners: BTreeSet::new(),
            calls: Vec::new(),
            queues: BTreeMap::new(),
            seq: 0,
            stacks: BTreeMap::new(),
            alarm_changes: Vec::new(),
            access: BTreeSet::new(),
            lost_reply: None,
            accounts: Default::default(),
        }
    }

    /// The next number of the causal order: what happens later (in the same instant or
    /// not) gets a larger one.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A deterministic pseudo-random number in [0, 1) (xorshift64*).
    pub fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Records a DynamoDB call on an item whose partition key starts with `key_prefix`
    /// (`LOCK#`, `DEPLOYMENT#`, …), and applies any fault injected for the operation.
    pub fn call_item(&mut self, operation: &str, key_prefix: &str) -> Result<(), PortError> {
        self.note_access(&format!("{operation} {key_prefix}"));
        self.call(operation)
    }

    /// Records that the running function (if any) used an IAM action the AWS adapter needs
    /// beside the calls it makes (`elasticloadbalancing:DescribeLoadBalancers`).
    pub fn note_access(&mut self, action: &str) {
        if self.accounts.noted_there(action) {
            return;
        }
        if let Ok(function) = CURRENT_FUNCTION.try_with(Clone::clone) {
            self.access.insert((function, action.to_string()));
        }
    }

    /// Records a call and applies any fault injected for it.
    pub fn call(&mut self, operation: &str) -> Result<(), PortError> {
        if !operation.starts_with("dynamodb:") && !operation.starts_with("lambda:") {
            self.note_access(&iam_action(operation));
        }
        // A call whose answer was lost ends the work of the port call that made it: the
        // caller never got that far.
        if let Some(lost) = self.lost_reply.take() {
            return Err(lost);
        }
        self.calls.push((self.now, operation.to_string()));
        let now = self.now;
        if let Some(f) = self
            .faults
            .iter_mut()
            .find(|f| f.operation == operation && f.times > 0 && f.after.is_none_or(|a| now >= a))
        {
            f.times -= 1;
            let (operation, message) = (operation.to_string(), "injected fault".to_string());
            return Err(match f.error {
                FaultKind::Throttle => PortError::Throttled { operation, message },
                FaultKind::ServerError => PortError::Unavailable {
                    operation,
                    message: "500 Internal Server Error (injected)".into(),
                },
                FaultKind::Timeout => PortError::Unavailable {
                    operation,
                    message: "request timed out (injected)".into(),
                },
                FaultKind::TimeoutLanded => {
                    self.lost_reply = Some(PortError::Unavailable {
                        operation,
                        message: "request timed out after it was sent (injected; it took effect)"
                            .into(),
                    });
                    return Ok(());
                }
                FaultKind::AccessDenied => PortError::AccessDenied { operation, message },
            });
        }
        Ok(())
    }

    pub fn inject(&mut self, operation: &str, error: FaultKind, times: u32) {
        self.faults.push(Fault {
            operation: operation.to_string(),
            error,
            times,
            after: None,
        });
    }

    /// How many times `operation` was called.
    pub fn count(&self, operation: &str) -> usize {
        self.calls.iter().filter(|(_, op)| op == operation).count()
    }

    // -----------------------------------------------------------------------------------
    // Dynamics

    /// The behaviour of the image a task definition runs (its first container pinned to a
    /// digest with a known behaviour; otherwise healthy).
    pub fn behaviour_of(&self, task_definition: &str) -> Behaviour {
        self.task_defs
            .get(task_definition)
            .and_then(|td| {
                td.containers.iter().find_map(|(_, image)| {
                    let digest = Digest::parse(image.rsplit_once('@')?.1).ok()?;
                    self.behaviours.get(&digest).cloned()
                })
            })
            .unwrap_or_else(Behaviour::healthy)
    }

    pub fn elapsed(&self, since: DateTime<Utc>) -> u64 {
        (self.now - since).num_seconds().max(0) as u64
    }

    /// A service, as ECS would refuse a name it does not know.
    pub fn service(&self, cluster: &str, service: &str) -> Result<Service, PortError> {
        self.services
            .get(&(cluster.to_string(), service.to_string()))
            .cloned()
            .ok_or_else(|| {
                PortError::not_found(format!("ECS service {service} in cluster {cluster}"))
            })
    }

    /// The state ECS would report for a service now.
    pub fn service_state(&self, s: &Service) -> ServiceState {
        let b = self.behaviour_of(&s.task_definition);
        let elapsed = self.elapsed(s.updated_at);
        let (running, rollout, reason) = if s.desired == 0 {
            (0, RolloutState::Completed, None)
        } else if b.crash_on_start {
            if elapsed >= CRASH_GIVE_UP_SECS {
                (
                    0,
                    RolloutState::Failed,
                    Some("ECS deployment circuit breaker: tasks failed to start (essential container exited with code 1)".to_string()),
                )
            } else {
                (0, RolloutState::InProgress, None)
            }
        } else if elapsed >= b.start_secs {
            (s.desired, RolloutState::Completed, None)
        } else {
            (0, RolloutState::InProgress, None)
        };
        ServiceState {
            cluster: s.cluster.clone(),
            service: s.name.clone(),
            task_definition: s.task_definition.clone(),
            desired: s.desired,
            running,
            pending: s.desired - running,
            rollout,
            rollout_reason: reason,
            deployments: if rollout == RolloutState::InProgress {
                2
            } else {
                1
            },
        }
    }

    /// Seconds a service's tasks have been running, by its image's start-up time.
    pub fn running_for(&self, s: &Service) -> u64 {
        let b = self.behaviour_of(&s.task_definition);
        self.elapsed(s.updated_at).saturating_sub(b.start_secs)
    }

    /// Whether a service's tasks fail their health check now.
    pub fn health_failing(&self, s: &Service) -> bool {
        self.behaviour_of(&s.task_definition)
            .health_failing(self.running_for(s))
    }

    /// The targets of a target group now.
    pub fn target_health(&self, tg: &Arn) -> Vec<TargetHealth> {
        let Some(key) = self.target_groups.get(tg) else {
            return Vec::new();
        };
        let Some(s) = self.services.get(key) else {
            return Vec::new();
        };
        let state = self.service_state(s);
        let b = self.behaviour_of(&s.task_definition);
        let since_running = self.running_for(s);
        (0..state.running)
            .map(|i| {
                let (state, reason) = if b.never_healthy {
                    (HealthState::Unhealthy, Some("Target.ResponseCodeMismatch: health checks failed with these codes: [503]".to_string()))
                } else if b.health_failing(since_running) {
                    (HealthState::Unhealthy, Some("Target.Timeout: Request timed out".to_string()))
                } else if since_running < HEALTH_GRACE_SECS {
                    (HealthState::Initial, Some("Elb.RegistrationInProgress".to_string()))
                } else {
                    (HealthState::Healthy, None)
                };
                TargetHealth {
                    id: format!("10.0.{}.{}", tg.short_name().len() % 200, 10 + i),
                    port: Some(8080),
                    state,
                    reason,
                }
            })
            .collect()
    }

    /// The error rate a target group's service answers with now (1.0 when nothing runs).
    pub fn error_rate(&self, tg: &Arn) -> f64 {
        let Some(s) = self
            .target_groups
            .get(tg)
            .and_then(|k| self.services.get(k))
        else {
            return 1.0;
        };
        let state = self.service_state(s);
        let b = self.behaviour_of(&s.task_definition);
        if state.running == 0 || b.never_healthy {
            1.0
        } else {
            b.error_rate
        }
    }

    // -----------------------------------------------------------------------------------
    // Set-up

    /// Forces an alarm's state (`None`: it follows the traffic again), as a scenario
    /// does, and logs the change for the timeline.
    pub fn force_alarm(
        &mut self,
        name: &str,
        value: Option<AlarmValue>,
        reason: &str,
    ) -> Result<(), String> {
        let alarm = self
            .alarms
            .get_mut(name)
            .ok_or_else(|| format!("no alarm {name}"))?;
        alarm.forced = value.map(|v| (v, reason.to_string()));
        let (at, seq) = (self.now, self.next_seq());
        self.alarm_changes.push(AlarmChange {
            at,
            seq,
            name: name.to_string(),
            value,
            reason: reason.to_string(),
        });
        Ok(())
    }

    pub fn register_task_def(&mut self, family: &str, containers: Vec<(String, String)>) -> String {
        self.register_task_def_in((ACCOUNT, REGION), family, containers)
    }

    /// Registers a task definition in an account and region.
    pub fn register_task_def_in(
        &mut self,
        (account, region): (&str, &str),
        family: &str,
        containers: Vec<(String, String)>,
    ) -> String {
        let prefix = format!("arn:aws:ecs:{region}:{account}:task-definition/");
        let revision = self
            .task_defs
            .values()
            .filter(|t| t.family == family && t.arn.starts_with(&prefix))
            .map(|t| t.revision)
            .max()
            .unwrap_or(0)
            + 1;
        let arn = format!("{prefix}{family}:{revision}");
        self.task_defs.insert(
            arn.clone(),
            TaskDef {
                arn: arn.clone(),
                family: family.to_string(),
                revision,
                containers,
            },
        );
        arn
    }

    /// Adds an image to a repository (a push), with how it behaves.
    pub fn push_image(
        &mut self,
        repository: &str,
        tag: Option<&str>,
        digest: &Digest,
        behaviour: Behaviour,
    ) {
        let repo = self
            .repos
            .entry(repository.to_string())
            .or_insert_with(|| Repo {
                uri: format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}"),
                images: Vec::new(),
            });
        // A tag moves to the newest image that carries it.
        if let Some(tag) = tag {
            for image in &mut repo.images {
                image.tags.retain(|t| t != tag);
            }
        }
        match repo.images.iter_mut().find(|i| i.image.digest == *digest) {
            Some(existing) => existing.tags.extend(tag.map(str::to_string)),
            None => repo.images.push(ImageInfo {
                image: ImageRef {
                    repository: repository.to_string(),
                    digest: digest.clone(),
                },
                tags: tag.map(str::to_string).into_iter().collect(),
                pushed_at: Some(self.now),
            }),
        }
        self.behaviours.insert(digest.clone(), behaviour);
        self.replicate(repository);
    }

    /// Answers an HTTP GET the way the simulated load balancers and services would.
    pub fn http_get(&mut self, url: &str) -> Result<u16, String> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host_port = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>().map_err(|_| format!("bad port in {url}"))?,
            ),
            None => (host_port, if url.starts_with("https") { 443 } else { 80 }),
        };
        let listener = match self.dns.get(host).and_then(|arn| self.listeners.get(arn)) {
            Some(l) => l.clone(),
            None => match self
                .listeners
                .values()
                .find(|l| l.dns_name == host && l.port == port)
            {
                Some(l) => l.clone(),
                None => return Err(format!("could not resolve {host}")),
            },
        };
        self.answer(&listener)
    }

    fn answer(&mut self, listener: &Listener) -> Result<u16, String> {
        let total: u32 = listener.weights.iter().map(|w| u32::from(w.weight)).sum();
        if total == 0 {
            return Ok(503);
        }
        let mut pick = self.random() * f64::from(total);
        let mut chosen = &listener.weights[0];
        for w in &listener.weights {
            if pick < f64::from(w.weight) {
                chosen = w;
                break;
            }
            pick -= f64::from(w.weight);
        }
        let rate = self.error_rate(&chosen.target_group.clone());
        if rate >= 1.0 {
            return Ok(503);
        }
        Ok(if self.random() < rate { 500 } else { 200 })
    }

    /// Which colour all traffic of an environment goes to, if it all goes to one: by the
    /// listener's weights, or for a worker service the one colour whose service wants tasks.
    pub fn live_colour(&self, env: &Environment) -> Option<Colour> {
        let Some(lb) = env.load_balancer() else {
            let desired = |c: Colour| {
                self.services
                    .get(&(env.cluster.clone(), env.services.get(c).clone()))
                    .map_or(0, |s| s.desired)
            };
            return match (desired(Colour::Blue), desired(Colour::Green)) {
                (b, 0) if b > 0 => Some(Colour::Blue),
                (0, g) if g > 0 => Some(Colour::Green),
                _ => None,
            };
        };
        let l = self.listeners.get(&lb.listeners.production)?;
        greenlight_core::usecase::colour_of(lb, &l.weights).ok()
    }
}

/// Whether a notification's attributes pass an SNS filter policy (exact string matches:
/// every key of the policy must hold one of its listed values).
pub fn filter_matches(policy: &serde_json::Value, n: &Notification) -> bool {
    let attrs = n.attributes();
    policy.as_object().is_some_and(|p| {
        p.iter().all(|(k, allowed)| {
            attrs.get(k.as_str()).is_some_and(|v| {
                allowed
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(v.as_str())))
            })
        })
    })
}

tokio::task_local! {
    /// The Lambda function whose handler is running (set by the simulation around each
    /// invocation), so that the world can tell which function made a call.
    pub static CURRENT_FUNCTION: String;
}

/// The IAM action of a simulator operation name (`elbv2:` is `elasticloadbalancing:`).
pub fn iam_action(operation: &str) -> String {
    match operation.strip_prefix("elbv2:") {
        Some(rest) => format!("elasticloadbalancing:{rest}"),
        None => operation.to_string(),
    }
}
