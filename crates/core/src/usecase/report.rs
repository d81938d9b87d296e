//! report: the four DORA measures per app and environment over a period, from the
//! deployment history in the state store (what `greenlight report` prints).
//!
//! - **deployment frequency**: successful deployments per day;
//! - **lead time**: from the first deployment of the digest anywhere in the app (its push,
//!   within seconds) to this deployment's success — for a promotion, the time the image
//!   took from push to this environment; the median; and, for images whose OCI label
//!   `org.opencontainers.image.created` says when they were built from their commit, the
//!   median from that build to this success (`lead_time_from_build_seconds`);
//! - **change failure rate**: deployments rolled back or reverted over the deployments that
//!   took the environment and ended;
//! - **time to restore**: how long a failed change could affect the environment — a rolled
//!   back deployment from its start to its verified rollback, a reverted one from its
//!   success to the revert; the median.
//!
//! A deployment counts in the period its start falls in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::image::Digest;
use crate::ports::{Clock, DeploymentRecord, Outcome, StateStore};

use super::status::StatusError;

/// The most deployments read per environment.
const HISTORY_LIMIT: usize = 10_000;

/// The measures of every environment asked for, over one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub environments: Vec<EnvironmentReport>,
}

/// The four measures of one environment (`null` where nothing was there to measure).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentReport {
    pub app: String,
    pub environment: String,
    /// Deployments that took the environment in the period.
    pub started: u32,
    pub succeeded: u32,
    /// Rolled back or reverted.
    pub failed: u32,
    /// Successful deployments per day.
    pub deployment_frequency: f64,
    /// Median seconds from the digest's first deployment in the app to this success.
    pub lead_time_seconds: Option<u64>,
    /// Median seconds from the image's build (its `created` label) to this success, over
    /// the successes whose image has the label.
    #[serde(default)]
    pub lead_time_from_build_seconds: Option<u64>,
    /// `failed` over the deployments that ended (0 to 1).
    pub change_failure_rate: Option<f64>,
    /// Median seconds a failed change could affect the environment.
    pub time_to_restore_seconds: Option<u64>,
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    (to - from).num_seconds().max(0) as u64
}

/// The measures of one environment's `records` started in `[since, until)`; `first_seen`
/// gives when a digest was first deployed anywhere in the app.
pub fn measure(
    app: &str,
    environment: &str,
    records: &[DeploymentRecord],
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    first_seen: impl Fn(&Digest) -> Option<DateTime<Utc>>,
) -> EnvironmentReport {
    let in_period: Vec<&DeploymentRecord> = records
        .iter()
        .filter(|r| r.took_environment() && r.started_at >= since && r.started_at < until)
        .collect();
    let ended = in_period.iter().filter(|r| r.outcome.is_some()).count() as u32;
    let succeeded: Vec<&&DeploymentRecord> = in_period
        .iter()
        .filter(|r| r.outcome == Some(Outcome::Succeeded))
        .collect();
    let failed: Vec<&&DeploymentRecord> = in_period
        .iter()
        .filter(|r| matches!(r.outcome, Some(Outcome::RolledBack | Outcome::Reverted)))
        .collect();
    let days = (until - since).num_seconds().max(1) as f64 / 86_400.0;
    // A reverted deployment succeeded first: its lead time counts too.
    let lead_times = in_period
        .iter()
        .filter(|r| matches!(r.outcome, Some(Outcome::Succeeded | Outcome::Reverted)))
        .filter_map(|r| {
            let live_at = r.ended_at?;
            let pushed = first_seen(&r.image.digest).unwrap_or(r.started_at);
            Some(seconds(pushed, live_at))
        })
        .collect();
    let from_build = in_period
        .iter()
        .filter(|r| matches!(r.outcome, Some(Outcome::Succeeded | Outcome::Reverted)))
        .filter_map(|r| {
            let (built, live_at) = (r.source.created?, r.ended_at?);
            // A reproducible build's fixed date (1970, 1980) or a clock ahead says nothing
            // of when the commit was made: such labels are left out.
            (built <= live_at && live_at - built <= chrono::Duration::days(365))
                .then(|| seconds(built, live_at))
        })
        .collect();
    let restores = failed
        .iter()
        .filter_map(|r| match r.outcome {
            Some(Outcome::RolledBack) => Some(seconds(r.started_at, r.ended_at?)),
            Some(Outcome::Reverted) => Some(seconds(r.ended_at?, r.reverted_at?)),
            _ => None,
        })
        .collect();
    EnvironmentReport {
        app: app.to_string(),
        environment: environment.to_string(),
        started: in_period.len() as u32,
        succeeded: succeeded.len() as u32,
        failed: failed.len() as u32,
        deployment_frequency: succeeded.len() as f64 / days,
        lead_time_seconds: median(lead_times),
        lead_time_from_build_seconds: median(from_build),
        change_failure_rate: (ended > 0).then(|| f64::from(failed.len() as u32) / f64::from(ended)),
        time_to_restore_seconds: median(restores),
    }
}

/// The report of every environment in the stored configuration (of `app`, and named
/// `environment`, when given) over the `period` that ends now.
pub async fn report<P>(
    p: &P,
    app: Option<&str>,
    environment: Option<&str>,
    period: crate::Duration,
) -> Result<Report, StatusError>
where
    P: StateStore + Clock,
{
    let until = p.now();
    let since = until
        - chrono::TimeDelta::try_seconds(i64::try_from(period.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(chrono::TimeDelta::MAX);
    report_between(p, app, environment, since, until).await
}

/// [`report`] over `[since, until)`.
pub async fn report_between<P>(
    p: &P,
    app: Option<&str>,
    environment: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Report, StatusError>
where
    P: StateStore + Clock,
{
    let stored = p.get_config().await?.ok_or(StatusError::NotConfigured)?;
    super::status::known(&stored.config, app, environment)?;
    let mut environments = Vec::new();
    for (app_name, a) in stored
        .config
        .apps
        .iter()
        .filter(|(n, _)| app.is_none_or(|f| f == *n))
    {
        // Every environment's history, for when each digest was first deployed.
        let mut histories = Vec::new();
        for env_name in a.environments.keys() {
            histories.push((
                env_name,
                p.history(app_name, env_name, HISTORY_LIMIT).await?,
            ));
        }
        let first_seen = |d: &Digest| {
            histories
                .iter()
                .flat_map(|(_, h)| h.iter())
                .filter(|r| &r.image.digest == d && r.took_environment())
                .map(|r| r.started_at)
                .min()
        };
        for (env_name, records) in &histories {
            if environment.is_some_and(|e| e != env_name.as_str()) {
                continue;
            }
            environments.push(measure(
                app_name,
                env_name,
                records,
                (since, until),
                first_seen,
            ));
        }
    }
    Ok(Report {
        since,
        until,
        environments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Colour;
    use crate::ports::{Phase, TriggerInfo};

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn digest(n: char) -> Digest {
        Digest::parse(&format!("sha256:{}", n.to_string().repeat(64))).unwrap()
    }

    fn rec(
        id: &str,
        d: char,
        started: i64,
        ended: Option<i64>,
        outcome: Option<Outcome>,
    ) -> DeploymentRecord {
        let mut r = super::super::record::for_input(
            &crate::rollout::StartInput {
                deployment: id.into(),
                app: "web".into(),
                environment: "prod".into(),
                image: crate::ImageRef {
                    repository: "web".into(),
                    digest: digest(d),
                },
                tag: None,
                trigger: TriggerInfo::Promotion {
                    from: "staging".into(),
                    by: "alice".into(),
                },
            },
            Phase::Done,
            t(started),
        );
        r.colour = Some(Colour::Green);
        r.ended_at = ended.map(t);
        r.outcome = outcome;
        r
    }

    /// Five deployments in a 10-day period and one before it: two successes, one rolled
    /// back, one reverted, one refused (never took the environment), one still running.
    #[test]
    fn the_four_measures_of_a_known_history() {
        let mut reverted = rec(
            "r",
            'c',
            3 * 1440,
            Some(3 * 1440 + 10),
            Some(Outcome::Reverted),
        );
        reverted.reverted_at = Some(t(3 * 1440 + 10 + 25));
        let mut refused = rec(
            "x",
            'e',
            4 * 1440,
            Some(4 * 1440),
            Some(Outcome::RolledBack),
        );
        refused.colour = None;
        // Built from their commits: a 3 hours before its success, c 30 minutes before; d
        // has no label (it is left out of the lead time from the build).
        let mut a = rec("a", 'a', 1440, Some(1440 + 12), Some(Outcome::Succeeded));
        a.source.created = Some(t(1440 + 12 - 180));
        reverted.source.created = Some(t(3 * 1440 + 10 - 30));
        // A reproducible build's date (1970) is no build time: d is left out too.
        let mut d = rec(
            "d",
            'd',
            5 * 1440,
            Some(5 * 1440 + 20),
            Some(Outcome::Succeeded),
        );
        d.source.created = DateTime::from_timestamp(0, 0);
        let records = vec![
            rec("old", '9', -60, Some(-50), Some(Outcome::RolledBack)),
            a,
            rec(
                "b",
                'b',
                2 * 1440,
                Some(2 * 1440 + 8),
                Some(Outcome::RolledBack),
            ),
            reverted,
            refused,
            d,
            rec("run", 'f', 6 * 1440, None, None),
        ];
        // Digest a was pushed (first deployed, in staging) an hour before its prod
        // deployment; the others first appear here.
        let first_seen = |d: &Digest| (d == &digest('a')).then(|| t(1440 - 60));
        let m = measure("web", "prod", &records, (t(0), t(10 * 1440)), first_seen);
        assert_eq!((m.started, m.succeeded, m.failed), (5, 2, 2));
        assert!(
            (m.deployment_frequency - 0.2).abs() < 1e-9,
            "{}",
            m.deployment_frequency
        );
        // Lead times: a 72m (pushed an hour before, 12m to succeed), c 10m, d 20m.
        assert_eq!(m.lead_time_seconds, Some(20 * 60));
        // From the build: a 180m, c 30m; median 105m.
        assert_eq!(m.lead_time_from_build_seconds, Some(105 * 60));
        // 2 failed of the 4 that ended.
        assert_eq!(m.change_failure_rate, Some(0.5));
        // Restores: b 8m (start to rollback), c 25m (success to revert): median 16m30s.
        assert_eq!(m.time_to_restore_seconds, Some(16 * 60 + 30));
        // An empty period measures nothing.
        let none = measure(
            "web",
            "prod",
            &records,
            (t(20 * 1440), t(21 * 1440)),
            |_| None,
        );
        assert_eq!(
            (
                none.started,
                none.lead_time_seconds,
                none.change_failure_rate
            ),
            (0, None, None)
        );
    }
}
