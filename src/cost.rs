//! What one rollout costs in Step Functions state transitions, per strategy: the real state
//! machine and handlers run in the simulator on a push of a healthy image to the example's
//! `web/staging` (its checks, a 30 m watched rollback window), every strategy in turn, and
//! the execution's `…StateEntered` events counted — what Standard workflows bill.

use chrono::{TimeZone, Utc};
use greenlight_core::config::{Canary, Config, Linear, Strategy};

use crate::simulation::{digest_for, Simulation};

/// Step Functions Standard: $0.025 per 1,000 state transitions.
pub const USD_PER_TRANSITION: f64 = 0.025 / 1000.0;

/// One strategy's rollout.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StrategyCost {
    pub strategy: String,
    /// State transitions of the whole execution (rollout, final bake, rollback window).
    pub transitions: u64,
    /// Task states run (Lambda invocations and SNS publishes).
    pub tasks: u64,
    /// `transitions` × [`USD_PER_TRANSITION`].
    pub standard_usd: f64,
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

/// Runs one rollout per strategy and counts what it cost.
pub fn strategy_costs(example: &Config) -> Vec<StrategyCost> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    strategies()
        .into_iter()
        .map(|(name, strategy)| {
            let mut config = example.clone();
            if let Some(env) = config
                .apps
                .get_mut("web")
                .and_then(|a| a.environments.get_mut("staging"))
            {
                env.strategy = strategy;
            }
            let history = rt.block_on(async {
                let s = Simulation::new(
                    &config,
                    &digest_for("v0"),
                    2,
                    1,
                    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap(),
                );
                let _ = s
                    .push(
                        "web",
                        "v2.0.0",
                        &digest_for("v2"),
                        greenlight_sim::Behaviour::healthy(),
                    )
                    .await;
                s.settle().await;
                let history: Vec<String> = s
                    .finished()
                    .into_iter()
                    .flat_map(|e| e.history.into_iter().map(|h| h.kind))
                    .collect();
                s.close();
                history
            });
            let transitions = history
                .iter()
                .filter(|k| k.ends_with("StateEntered"))
                .count() as u64;
            let tasks = history
                .iter()
                .filter(|k| k.as_str() == "TaskScheduled")
                .count() as u64;
            StrategyCost {
                strategy: name,
                transitions,
                tasks,
                standard_usd: transitions as f64 * USD_PER_TRANSITION,
            }
        })
        .collect()
}

/// The table `cargo bench --bench cost` prints and docs/PERFORMANCE.md holds.
pub fn table(costs: &[StrategyCost]) -> String {
    let mut out = String::from(
        "| strategy | state transitions | task states | Standard workflow cost |\n|---|---:|---:|---:|\n",
    );
    for c in costs {
        out.push_str(&format!(
            "| {} | {} | {} | ${:.5} |\n",
            c.strategy, c.transitions, c.tasks, c.standard_usd
        ));
    }
    out
}
