//! Text rendering for the terminal.

use greenlight_core::config::Strategy;
use greenlight_core::matching::MatchOutcome;
use greenlight_core::plan::Plan;

/// A traffic bar: `[██████░░░░░░░░░░░░░░]  30%`.
pub fn bar(weight: u8, width: usize) -> String {
    let filled = (usize::from(weight) * width + 50) / 100;
    format!(
        "[{}{}] {weight:>3}%",
        "█".repeat(filled),
        "░".repeat(width - filled)
    )
}

pub fn match_outcome(outcome: &MatchOutcome) -> String {
    let mut out = String::new();
    for d in &outcome.deployments {
        out.push_str(&format!(
            "deploy {}/{}  {}  (tag {} matched `{}`)\n  execution {}\n",
            d.app,
            d.environment,
            d.image,
            d.tag.as_deref().unwrap_or("-"),
            d.matched,
            d.execution_name
        ));
    }
    if !outcome.deployments.is_empty() {
        for s in &outcome.skipped {
            out.push_str(&format!(
                "skip   {}/{}: {}\n",
                s.app, s.environment, s.reason
            ));
        }
    }
    if let Some(reason) = &outcome.ignored {
        out.push_str(&format!("starts nothing: {reason}\n"));
    }
    out
}

pub fn plan(strategy: &Strategy, plan: &Plan) -> String {
    let mut out = format!("{}\n", strategy.describe());
    let mut t = 0u64;
    for (i, step) in plan.steps.iter().enumerate() {
        out.push_str(&format!(
            "  step {:>2}  t+{:<8} {}  hold {}\n",
            i + 1,
            greenlight_core::Duration::from_secs(t).to_string(),
            bar(step.weight, 20),
            step.bake
        ));
        t += step.bake.as_secs();
    }
    out.push_str(&format!("  total bake {}\n", plan.total_bake()));
    out
}

/// What `greenlight promote` says about the promotion it started (or found started).
pub fn promotion(p: &greenlight_core::usecase::promote::Promotion, app: &str, to: &str) -> String {
    match &p.start {
        greenlight_core::ports::StartOutcome::Started { arn } => format!(
            "started {} ({}) to {app}/{to}\n  execution {arn}",
            p.deployment, p.image
        ),
        greenlight_core::ports::StartOutcome::AlreadyExists { .. } => format!(
            "{} exists already: {} was promoted to {app}/{to} before",
            p.deployment, p.image
        ),
    }
}

/// The four DORA measures, a line per environment.
pub fn dora(r: &greenlight_core::usecase::report::Report) -> String {
    let duration = |s: Option<u64>| {
        s.map_or("-".to_string(), |s| {
            greenlight_core::Duration::from_secs(s).to_string()
        })
    };
    let mut out = format!(
        "  {:<24} {:>7} {:>9} {:>6} {:>9}  {:<11} {:<11} {:<14} {}\n",
        "environment",
        "started",
        "succeeded",
        "failed",
        "per day",
        "lead time",
        "from build",
        "change failure",
        "time to restore"
    );
    for e in &r.environments {
        out.push_str(&format!(
            "  {:<24} {:>7} {:>9} {:>6} {:>9.2}  {:<11} {:<11} {:<14} {}\n",
            format!("{}/{}", e.app, e.environment),
            e.started,
            e.succeeded,
            e.failed,
            e.deployment_frequency,
            duration(e.lead_time_seconds),
            duration(e.lead_time_from_build_seconds),
            e.change_failure_rate
                .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0)),
            duration(e.time_to_restore_seconds)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_in_proportion() {
        assert_eq!(bar(0, 10), format!("[{}]   0%", "░".repeat(10)));
        assert_eq!(bar(100, 10), format!("[{}] 100%", "█".repeat(10)));
        assert_eq!(
            bar(30, 10),
            format!("[{}{}]  30%", "█".repeat(3), "░".repeat(7))
        );
    }
}
