//! Which deployments a push starts, and the execution name that makes each one happen once.

use serde::{Deserialize, Serialize};

use crate::config::{Config, Trigger};
use crate::event::ImagePush;
use crate::image::{Digest, ImageRef};

/// A deployment a push (or a promotion) asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    pub app: String,
    pub environment: String,
    pub image: ImageRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The Step Functions execution name; the same for the same app, environment and
    /// digest, so a duplicate event cannot start a second deployment.
    pub execution_name: String,
    /// The tag pattern that matched.
    pub matched: String,
}

/// An environment of an app on the pushed repository that the push does not deploy to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub app: String,
    pub environment: String,
    pub reason: String,
}

/// Everything a push means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MatchOutcome {
    pub deployments: Vec<DeploymentRequest>,
    pub skipped: Vec<Skipped>,
    /// Set when the push starts nothing: the one-line reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// Matches a push against every app and environment.
pub fn match_push(config: &Config, push: &ImagePush) -> MatchOutcome {
    let mut out = MatchOutcome::default();
    let mut apps_on_repo = 0;
    for (app_name, app) in &config.apps {
        if app.repository != push.image.repository {
            continue;
        }
        apps_on_repo += 1;
        for (env_name, env) in &app.environments {
            let skip = |reason: String| Skipped {
                app: app_name.clone(),
                environment: env_name.clone(),
                reason,
            };
            match (&env.trigger, &push.tag) {
                (Trigger::PromoteFrom(source), _) => {
                    out.skipped
                        .push(skip(format!("deploys only by promotion from `{source}`")));
                }
                (Trigger::OnPush(_), None) => {
                    out.skipped.push(skip(
                        "the push has no tag (pushed by digest); push rules match tags".into(),
                    ));
                }
                (Trigger::OnPush(rule), Some(tag)) => match rule.pattern_for(tag) {
                    Some(pattern) => out.deployments.push(DeploymentRequest {
                        app: app_name.clone(),
                        environment: env_name.clone(),
                        image: push.image.clone(),
                        tag: Some(tag.clone()),
                        execution_name: execution_name(app_name, env_name, &push.image.digest, 1),
                        matched: pattern.to_string(),
                    }),
                    None => out.skipped.push(skip(format!(
                        "tag `{tag}` matches none of {}",
                        rule.tags
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                },
            }
        }
    }
    if out.deployments.is_empty() {
        out.ignored = Some(if apps_on_repo == 0 {
            format!(
                "no app is configured for repository `{}`",
                push.image.repository
            )
        } else {
            let reasons: Vec<String> = out
                .skipped
                .iter()
                .map(|s| format!("{}/{}: {}", s.app, s.environment, s.reason))
                .collect();
            format!("no environment deploys this push ({})", reasons.join("; "))
        });
    }
    out
}

/// The longest execution name Step Functions accepts.
pub const MAX_EXECUTION_NAME: usize = 80;

/// A deterministic Step Functions execution name: `app-env-<16 hex of the digest>`, with
/// `-rN` for a deliberate redeploy (attempt N > 1). Only letters, digits, `-` and `_`; when
/// app and environment names are long they are shortened and a hash of the full names keeps
/// the result unique.
pub fn execution_name(app: &str, environment: &str, digest: &Digest, attempt: u32) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut suffix = format!("-{}", &digest.hex()[..16]);
    if attempt > 1 {
        suffix.push_str(&format!("-r{attempt}"));
    }
    let mut head = format!("{}-{}", clean(app), clean(environment));
    if head.len() + suffix.len() > MAX_EXECUTION_NAME || head != format!("{app}-{environment}") {
        // Shortened or altered names could collide: add a hash of the exact original names.
        let hash = format!(
            "-{:08x}",
            fnv1a(format!("{app}\u{0}{environment}").as_bytes())
        );
        let room = MAX_EXECUTION_NAME - suffix.len() - hash.len();
        head.truncate(room);
        head.push_str(&hash);
    }
    head + &suffix
}

/// 32-bit FNV-1a: small, stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_digest;
    use proptest::prelude::*;

    fn config() -> Config {
        crate::config::load(include_str!("../../../examples/greenlight.yaml"))
            .config
            .unwrap()
    }

    fn push(repo: &str, tag: Option<&str>) -> ImagePush {
        ImagePush {
            image: ImageRef {
                repository: repo.into(),
                digest: test_digest(7),
            },
            tag: tag.map(Into::into),
            account: None,
            region: None,
            time: None,
            event_id: None,
        }
    }

    #[test]
    fn a_release_tag_deploys_staging_only() {
        let out = match_push(&config(), &push("web", Some("v2.0.0")));
        assert_eq!(out.deployments.len(), 1);
        let d = &out.deployments[0];
        assert_eq!(
            (d.app.as_str(), d.environment.as_str(), d.matched.as_str()),
            ("web", "staging", "v*")
        );
        assert_eq!(d.execution_name, format!("web-staging-{}", "07".repeat(8)));
        assert_eq!(out.skipped.len(), 1);
        assert!(out.skipped[0].reason.contains("promotion from `staging`"));
        assert_eq!(out.ignored, None);
    }

    #[test]
    fn pushes_that_start_nothing_say_why() {
        let other = match_push(&config(), &push("billing", Some("v1")));
        assert_eq!(
            other.ignored.as_deref(),
            Some("no app is configured for repository `billing`")
        );
        let untagged = match_push(&config(), &push("web", None));
        assert!(untagged.deployments.is_empty());
        assert!(untagged.ignored.unwrap().contains("pushed by digest"));
        let latest = match_push(&config(), &push("web", Some("latest")));
        assert!(latest
            .ignored
            .unwrap()
            .contains("tag `latest` matches none of `v*`, `rc-*`"));
    }

    #[test]
    fn the_same_digest_under_another_tag_gets_the_same_name() {
        let a = match_push(&config(), &push("web", Some("v2")));
        let b = match_push(&config(), &push("web", Some("rc-2")));
        assert_eq!(
            a.deployments[0].execution_name,
            b.deployments[0].execution_name
        );
    }

    #[test]
    fn redeploys_and_odd_names_stay_valid_and_distinct() {
        let d = test_digest(1);
        assert!(execution_name("web", "prod", &d, 2).ends_with("-r2"));
        assert_ne!(
            execution_name("a.b", "c", &d, 1),
            execution_name("a_b", "c", &d, 1)
        );
    }

    proptest! {
        #[test]
        fn names_are_valid_deterministic_and_bounded(app in "[a-zA-Z0-9_.-]{1,60}", env in "[a-zA-Z0-9_-]{1,60}", seed in any::<u8>(), attempt in 1u32..1000) {
            let d = test_digest(seed);
            let name = execution_name(&app, &env, &d, attempt);
            prop_assert!(name.len() <= MAX_EXECUTION_NAME, "{} is {} long", name, name.len());
            prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert_eq!(&name, &execution_name(&app, &env, &d, attempt));
            prop_assert!(name.contains(&d.hex()[..16]));
        }
    }
}
