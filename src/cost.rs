//! What one rollout costs, per strategy: the real state machine and handlers run in the
//! simulator on a push of a healthy image to the example's `web/staging` (its checks, a
//! 30 m watched rollback window), every strategy in turn. Counted from that run: the
//! execution's `…StateEntered` events (what Standard workflows bill), every Lambda
//! invocation (the state machine's tasks, the tick queue's deliveries, the on-push and
//! event-relay functions), and every AWS call the functions made. Priced at the list prices
//! below; the counts are deterministic, the prices are assumptions written down here.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use greenlight_core::config::{Canary, Config, Environment, Linear, Strategy};

use crate::simulation::{digest_for, Simulation};

pub mod reaction;
pub mod scale;

/// Replaces the generated section `name` of docs/PERFORMANCE.md (between
/// `<!-- name:start -->` and `<!-- name:end -->`, appended if missing) with `block`: what
/// the benches' `--write` does.
pub fn write_section(name: &str, block: &str) -> std::io::Result<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PERFORMANCE.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = (
        format!("<!-- {name}:start -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let updated = match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{start}{block}{}", &doc[..a], &doc[b..]),
        _ => format!("{doc}{start}{block}{end}\n"),
    };
    std::fs::write(&path, updated)?;
    Ok(path)
}

/// A current-thread runtime on tokio's paused clock: virtual time for the benches'
/// simulations.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// The benches' simulated account: `config`, blue live on `v0` with 2 tasks, at a fixed
/// seed and start.
fn simulation(config: &Config) -> Simulation {
    Simulation::new(
        config,
        &digest_for("v0"),
        2,
        1,
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
    )
}

/// `example` with `change` made to `web/staging`.
fn with_staging(example: &Config, change: impl FnOnce(&mut Environment)) -> Config {
    let mut config = example.clone();
    if let Some(env) = config
        .apps
        .get_mut("web")
        .and_then(|a| a.environments.get_mut("staging"))
    {
        change(env);
    }
    config
}

/// Step Functions Standard: $0.025 per 1,000 state transitions.
pub const USD_PER_TRANSITION: f64 = 0.025 / 1000.0;
/// Lambda: $0.20 per million requests.
pub const USD_PER_LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// Lambda on arm64: $0.0000133334 per GB-second.
pub const USD_PER_LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// The functions' memory in template.yaml (`Globals.Function.MemorySize`), in GB.
pub const LAMBDA_GB: f64 = 128.0 / 1024.0;
/// The billed duration assumed per invocation: an upper bound for a warm handler making a
/// few AWS calls (`cargo bench --bench lambda` measures 2 to 3 ms on a full core against a
/// local moto; Lambda's share of a core at 128 MB and real AWS latency make it longer).
pub const LAMBDA_BILLED_SECONDS: f64 = 0.1;
/// SQS standard queues: $0.40 per million requests.
pub const USD_PER_SQS_REQUEST: f64 = 0.40 / 1e6;
/// CloudWatch: $0.01 per 1,000 requests (`DescribeAlarms`), and per 1,000 metrics requested
/// (`GetMetricData`). No free tier counted.
pub const USD_PER_CLOUDWATCH_UNIT: f64 = 0.01 / 1000.0;
/// DynamoDB on demand: $0.625 per million write request units, $0.125 per million read
/// request units; one unit per call (small items), five per history query.
pub const USD_PER_DYNAMODB_WRITE: f64 = 0.625 / 1e6;
pub const USD_PER_DYNAMODB_READ: f64 = 0.125 / 1e6;
/// Read units assumed per history query (up to 50 small records).
pub const READ_UNITS_PER_QUERY: f64 = 5.0;
/// SNS: $0.50 per million publishes; EventBridge: $1.00 per million events put.
pub const USD_PER_SNS_PUBLISH: f64 = 0.50 / 1e6;
pub const USD_PER_EVENT: f64 = 1.0 / 1e6;

/// One strategy's rollout.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StrategyCost {
    pub strategy: String,
    /// State transitions of the whole execution (rollout, final bake, rollback window).
    pub transitions: u64,
    /// Task states run (Lambda invocations and SNS publishes by the state machine).
    pub tasks: u64,
    /// Lambda invocations, all functions.
    pub invocations: u64,
    /// Rounds of checks run off the state machine (tick queue deliveries).
    pub ticks: u64,
    /// AWS calls by operation (`cloudwatch:DescribeAlarms`, …), as the simulator saw them.
    pub calls: BTreeMap<String, u64>,
    /// CloudWatch units billed: `DescribeAlarms` requests and `GetMetricData` metrics.
    pub cloudwatch_units: u64,
    pub standard_usd: f64,
    pub lambda_usd: f64,
    pub sqs_usd: f64,
    pub cloudwatch_usd: f64,
    /// DynamoDB, SNS and EventBridge together.
    pub other_usd: f64,
}

impl StrategyCost {
    pub fn total_usd(&self) -> f64 {
        self.standard_usd + self.lambda_usd + self.sqs_usd + self.cloudwatch_usd + self.other_usd
    }
}

/// The strategies measured: the CodeDeploy presets and the example's own.
pub fn strategies() -> Vec<(String, Strategy)> {
    let mut out: Vec<(String, Strategy)> = [
        Strategy::AllAtOnce,
        Strategy::EcsAllAtOnce,
        Strategy::EcsCanary10Percent5Minutes,
        Strategy::EcsCanary10Percent15Minutes,
        Strategy::EcsLinear10PercentEvery1Minutes,
        Strategy::EcsLinear10PercentEvery3Minutes,
    ]
    .into_iter()
    .map(|s| {
        let name = serde_json::to_value(&s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        (name, s)
    })
    .collect();
    out.push((
        "canary 20% / 2m (the example's staging)".into(),
        Strategy::Canary(Canary {
            percent: 20,
            bake: greenlight_core::Duration::from_mins(2),
        }),
    ));
    out.push((
        "linear 10% / 6m (a one-hour linear rollout)".into(),
        Strategy::Linear(Linear {
            step: 10,
            interval: greenlight_core::Duration::from_mins(6),
        }),
    ));
    out
}

/// What one run left behind: its history's event kinds, the AWS calls, the ticks.
struct Run {
    history: Vec<String>,
    calls: BTreeMap<String, u64>,
    ticks: u64,
}

/// One push of a healthy image to `web/staging`, and, with `promote`, its promotion to
/// `web/prod` approved four minutes after the request: then only the promotion counts.
fn run(rt: &tokio::runtime::Runtime, config: &Config, promote: bool) -> Run {
    rt.block_on(async {
        let s = simulation(config);
        let _ = s
            .push(
                "web",
                "v2.0.0",
                &digest_for("v2"),
                greenlight_sim::Behaviour::healthy(),
            )
            .await;
        s.settle().await;
        let (mut executions, mut calls_before, mut ticks_before) = (0, 0, 0);
        if promote {
            (executions, calls_before, ticks_before) = (
                s.finished().len(),
                s.sim.world().calls.len(),
                s.deliveries().len(),
            );
            let promoted = s.promote("web", "staging", "prod", "release-manager").await;
            if let Ok(p) = promoted {
                s.sleep(240).await;
                let _ = s
                    .answer_approval(
                        &p.deployment,
                        "ops-lead",
                        greenlight_core::usecase::approval::Verdict::Approve,
                        None,
                    )
                    .await;
            }
            s.settle().await;
        }
        let history = s.finished()[executions..]
            .iter()
            .flat_map(|e| e.history.iter().map(|h| h.kind.clone()))
            .collect();
        let mut calls = BTreeMap::new();
        for (_, op) in &s.sim.world().calls[calls_before..] {
            *calls.entry(op.clone()).or_insert(0) += 1;
        }
        let ticks = (s.deliveries().len() - ticks_before) as u64;
        s.close();
        Run {
            history,
            calls,
            ticks,
        }
    })
}

/// The name of the example's own prod rollout in the tables.
pub const EXAMPLE_PROD: &str = "the example's prod: canary 10% / 5m, approval after 4m, 2h window";

/// The example with `web/staging`'s canary analysis run at most every `minutes` minutes
/// (`analysis.interval`; the example's is the default, one minute).
pub fn analysis_every(example: &Config, minutes: u64) -> Config {
    with_staging(example, |env| {
        if let Some(a) = env.analysis.as_mut() {
            a.interval = greenlight_core::Duration::from_mins(minutes);
        }
    })
}

/// The example with `web/staging`'s canary analysis taken out: alarms, target health and
/// probes only.
pub fn without_analysis(example: &Config) -> Config {
    with_staging(example, |env| env.analysis = None)
}

/// Runs one rollout per strategy and counts what it cost.
pub fn strategy_costs(example: &Config) -> Vec<StrategyCost> {
    let rt = paused_runtime();
    strategies()
        .into_iter()
        .map(|(name, strategy)| {
            let mut metrics_per_round = 0;
            let config = with_staging(example, |env| {
                env.strategy = strategy;
                metrics_per_round = env.analysis.as_ref().map_or(0, |a| {
                    use greenlight_core::config::Colour;
                    greenlight_core::analysis::queries(env, a, Colour::Blue, Colour::Green).len()
                        as u64
                });
            });
            price(name, run(&rt, &config, false), metrics_per_round)
        })
        .chain(std::iter::once(price(
            EXAMPLE_PROD.to_string(),
            run(&rt, example, true),
            0,
        )))
        .collect()
}

fn price(strategy: String, run: Run, metrics_per_round: u64) -> StrategyCost {
    let count = |prefix: &str| -> u64 {
        run.calls
            .iter()
            .filter(|(op, _)| op.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    let transitions = run
        .history
        .iter()
        .filter(|k| k.ends_with("StateEntered"))
        .count() as u64;
    let tasks = run
        .history
        .iter()
        .filter(|k| k.as_str() == "TaskScheduled")
        .count() as u64;
    // The state machine's Lambda tasks, the ticks, on-push (one push; for the promotion,
    // the approval URL's function instead), and the event relay (one invocation per event
    // it puts on the bus).
    let invocations = count("lambda:Invoke/") + run.ticks + 1 + count("events:PutEvents");
    // Each tick: the send that scheduled it, and the event source mapping's receive and
    // delete.
    let sqs_requests = count("sqs:SendMessage") + 2 * run.ticks;
    let cloudwatch_units =
        count("cloudwatch:DescribeAlarms") + metrics_per_round * count("cloudwatch:GetMetricData");
    let writes =
        count("dynamodb:PutItem") + count("dynamodb:UpdateItem") + count("dynamodb:DeleteItem");
    let reads =
        count("dynamodb:GetItem") as f64 + READ_UNITS_PER_QUERY * count("dynamodb:Query") as f64;
    StrategyCost {
        strategy,
        transitions,
        tasks,
        invocations,
        ticks: run.ticks,
        cloudwatch_units,
        standard_usd: transitions as f64 * USD_PER_TRANSITION,
        lambda_usd: invocations as f64
            * (USD_PER_LAMBDA_REQUEST
                + LAMBDA_BILLED_SECONDS * LAMBDA_GB * USD_PER_LAMBDA_GB_SECOND),
        sqs_usd: sqs_requests as f64 * USD_PER_SQS_REQUEST,
        cloudwatch_usd: cloudwatch_units as f64 * USD_PER_CLOUDWATCH_UNIT,
        other_usd: writes as f64 * USD_PER_DYNAMODB_WRITE
            + reads * USD_PER_DYNAMODB_READ
            + count("sns:Publish") as f64 * USD_PER_SNS_PUBLISH
            + count("events:PutEvents") as f64 * USD_PER_EVENT,
        calls: run.calls,
    }
}

/// The table `cargo bench --bench cost` prints and docs/PERFORMANCE.md holds.
pub fn table(costs: &[StrategyCost]) -> String {
    let mut out = String::from(
        "| strategy | state transitions | Lambda invocations (rounds off the state machine) | CloudWatch units | Standard | Lambda | SQS | CloudWatch | DynamoDB, SNS, EventBridge | all-in |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in costs {
        out.push_str(&format!(
            "| {} | {} | {} ({}) | {} | ${:.5} | ${:.5} | ${:.5} | ${:.5} | ${:.5} | **${:.5}** |\n",
            c.strategy,
            c.transitions,
            c.invocations,
            c.ticks,
            c.cloudwatch_units,
            c.standard_usd,
            c.lambda_usd,
            c.sqs_usd,
            c.cloudwatch_usd,
            c.other_usd,
            c.total_usd()
        ));
    }
    out
}
