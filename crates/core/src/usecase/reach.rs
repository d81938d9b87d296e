//! Which ports an environment's calls go through: the stack's own, or those reaching the
//! environment's account and region through its role.

use std::borrow::Cow;

use crate::config::{Environment, Place};
use crate::ports::{PortError, Reach};

/// The ports for `env`'s resources: `p` itself for an environment in the stack's account and
/// region, else `p` reaching the environment's place as role session `session` (a
/// deployment ID, or what the caller is).
pub fn ports_for<'p, P: Reach>(
    p: &'p P,
    env: &Environment,
    session: &str,
) -> Result<Cow<'p, P>, PortError> {
    match env.place() {
        None => Ok(Cow::Borrowed(p)),
        Some(place) => p.reach(&place, session).map(Cow::Owned),
    }
}

/// The key under which a watched alarm is stored for the alarm relay: its name for an
/// environment in the stack's account and region, else `ACCOUNT:REGION:NAME`, since alarm
/// names are unique only within one account and region.
pub fn alarm_key(place: Option<&Place>, alarm: &str) -> String {
    match place {
        None => alarm.to_string(),
        Some(p) => format!("{}:{}:{alarm}", p.account, p.region),
    }
}

/// The keys an alarm state change from `(account, region)` may be stored under: its
/// placed key, and its bare name when it comes from the stack's own account and region
/// (`home`) or says not where it comes from.
pub fn alarm_keys(
    origin: Option<(&str, &str)>,
    home: Option<(&str, &str)>,
    alarm: &str,
) -> Vec<String> {
    match origin {
        None => vec![alarm.to_string()],
        Some((account, region)) => {
            let mut keys = vec![format!("{account}:{region}:{alarm}")];
            if home.is_none_or(|h| h == (account, region)) {
                keys.push(alarm.to_string());
            }
            keys
        }
    }
}

/// A role session name from a deployment ID or caller: at most 64 characters of
/// `[A-Za-z0-9+=,.@-]`, at least 2 (STS's rule); anything else becomes `-`.
pub fn session_name(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while s.len() < 2 {
        s.push('-');
    }
    s
}

/// The two actions a registry must allow for an image to be pulled from it.
pub const PULL_ACTIONS: [&str; 2] = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"];

/// Whether a repository policy lets `account` pull: statements allowing both
/// [`PULL_ACTIONS`] (exactly, or by a wildcard such as `ecr:*`) to the whole account
/// (`ACCOUNT`, `arn:aws:iam::ACCOUNT:root`, or `*`), and no statement denying either to it.
/// A grant to one role of the account is not taken as a grant to the account: greenlight
/// cannot tell whether that role is the one the tasks pull with. Statements written with
/// `NotPrincipal` or `NotAction`, and conditions, are not evaluated (a condition that shuts
/// the account out shows when its tasks can't pull, and the stable check rolls back).
pub fn grants_pull(policy: &str, account: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(s) => s.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => return false,
    };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let names_account = |principal: &serde_json::Value| -> bool {
        let listed = match principal {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Object(o) => o.get("AWS").map(strings).unwrap_or_default(),
            _ => Vec::new(),
        };
        listed.iter().any(|p| {
            p == "*"
                || p == account
                || crate::arn::Arn::parse(p).ok().is_some_and(|a| {
                    a.parts()
                        .is_ok_and(|x| x.account == account && x.resource == "root")
                })
        })
    };
    let covers = |actions: &[String], wanted: &str| {
        actions
            .iter()
            .any(|a| crate::glob::matches(&a.to_ascii_lowercase(), &wanted.to_ascii_lowercase()))
    };
    let mut allowed = [false; 2];
    for st in &statements {
        if !names_account(&st["Principal"]) {
            continue;
        }
        let actions = strings(&st["Action"]);
        let hits = PULL_ACTIONS.map(|w| covers(&actions, w));
        match st["Effect"].as_str() {
            Some("Deny") if hits.iter().any(|h| *h) => return false,
            Some("Allow") => {
                for (a, h) in allowed.iter_mut().zip(hits) {
                    *a |= h;
                }
            }
            _ => {}
        }
    }
    allowed.iter().all(|a| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_policy_grants_pulls_to_an_account_or_not() {
        let policy = |principal: &str, actions: &str, effect: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"pull","Effect":"{effect}","Principal":{principal},"Action":{actions}}}]}}"#
            )
        };
        let both = r#"["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]"#;
        let b = "222222222222";
        for principal in [
            r#"{"AWS":"arn:aws:iam::222222222222:root"}"#,
            r#"{"AWS":["arn:aws:iam::333333333333:root","222222222222"]}"#,
            r#""*""#,
        ] {
            assert!(
                grants_pull(&policy(principal, both, "Allow"), b),
                "{principal}"
            );
        }
        // One role of the account is not the account.
        let one_role = r#"{"AWS":"arn:aws:iam::222222222222:role/ci"}"#;
        assert!(!grants_pull(&policy(one_role, both, "Allow"), b));
        let root = r#"{"AWS":"arn:aws:iam::222222222222:root"}"#;
        assert!(grants_pull(&policy(root, r#""ecr:*""#, "Allow"), b));
        // Another account, one action only, a denial, or no policy at all: no pull.
        assert!(!grants_pull(&policy(root, both, "Allow"), "333333333333"));
        assert!(!grants_pull(
            &policy(root, r#""ecr:BatchGetImage""#, "Allow"),
            b
        ));
        assert!(!grants_pull(&policy(root, both, "Deny"), b));
        assert!(!grants_pull("not json", b));
        let allow_and_deny = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"ecr:GetDownloadUrlForLayer"}]}"#;
        assert!(!grants_pull(allow_and_deny, b));
        assert!(grants_pull(allow_and_deny, "333333333333"));
    }

    #[test]
    fn session_names_fit_sts() {
        assert_eq!(session_name("web-prod-20261130-1"), "web-prod-20261130-1");
        assert_eq!(session_name("a b/c"), "a-b-c");
        assert_eq!(session_name(""), "--");
        assert_eq!(session_name(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn alarm_keys_separate_accounts() {
        let place = Place {
            account: "222222222222".into(),
            region: "us-east-1".into(),
            role: crate::arn::Arn::parse("arn:aws:iam::222222222222:role/r").unwrap(),
        };
        assert_eq!(alarm_key(None, "5xx"), "5xx");
        assert_eq!(alarm_key(Some(&place), "5xx"), "222222222222:us-east-1:5xx");
        let home = Some(("123456789012", "eu-west-1"));
        // From the other account: only the placed key, never a home alarm of that name.
        assert_eq!(
            alarm_keys(Some(("222222222222", "us-east-1")), home, "5xx"),
            vec!["222222222222:us-east-1:5xx".to_string()]
        );
        // From home: both (an environment may name the stack's own place explicitly).
        assert_eq!(
            alarm_keys(Some(("123456789012", "eu-west-1")), home, "5xx"),
            vec!["123456789012:eu-west-1:5xx".to_string(), "5xx".to_string()]
        );
        assert_eq!(alarm_keys(None, home, "5xx"), vec!["5xx".to_string()]);
    }
}
