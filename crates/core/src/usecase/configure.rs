//! configure: the configuration stored in the state table, compared with a new one and
//! replaced by it (`greenlight config diff` and `config apply`). Writes are conditional on
//! the version read, so two people applying at once cannot overwrite each other unseen.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::json::sort_keys;
use crate::ports::{Clock, PortError, StateStore};

/// The lines that differ between two configurations in their JSON form (keys sorted, two
/// spaces of indent): `- ` what is stored, `+ ` what replaces it. Empty when they are equal.
pub fn diff(old: Option<&Config>, new: &Config) -> Vec<String> {
    let text = |c: Option<&Config>| -> String {
        c.and_then(|c| serde_json::to_value(c).ok())
            .and_then(|v| serde_json::to_string_pretty(&sort_keys(&v)).ok())
            .map(|t| t + "\n")
            .unwrap_or_default()
    };
    let (a, b) = (text(old), text(Some(new)));
    similar::TextDiff::from_lines(&a, &b)
        .iter_all_changes()
        .filter_map(|change| {
            let line = change.value().trim_end_matches('\n');
            match change.tag() {
                similar::ChangeTag::Delete => Some(format!("- {line}")),
                similar::ChangeTag::Insert => Some(format!("+ {line}")),
                similar::ChangeTag::Equal => None,
            }
        })
        .collect()
}

/// What `config diff` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// [`diff`] of the stored configuration and the new one.
    pub changes: Vec<String>,
}

/// What `config apply` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// [`diff`] of the stored configuration and the new one.
    pub changes: Vec<String>,
    /// The stored version before (0: none was stored).
    pub previous_version: u64,
    /// The version written; `None` when nothing changed or on a dry run.
    pub applied_version: Option<u64>,
}

/// The differences between the stored configuration and `config`.
pub async fn compare<P: StateStore>(p: &P, config: &Config) -> Result<Vec<String>, PortError> {
    let current = p.get_config().await?;
    Ok(diff(current.as_ref().map(|c| &c.config), config))
}

/// Stores `config` as `by` unless it is what is stored already, or `dry_run`; the write
/// fails with a conflict when someone else wrote in between.
pub async fn apply<P: StateStore + Clock>(
    p: &P,
    config: &Config,
    by: &str,
    dry_run: bool,
) -> Result<Applied, PortError> {
    let current = p.get_config().await?;
    let changes = diff(current.as_ref().map(|c| &c.config), config);
    let previous_version = current.as_ref().map_or(0, |c| c.version);
    let applied_version = if changes.is_empty() || dry_run {
        None
    } else {
        Some(p.put_config(config, previous_version, by, p.now()).await?)
    };
    Ok(Applied {
        changes,
        previous_version,
        applied_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Config {
        crate::config::load(include_str!("../../../../examples/greenlight.yaml"))
            .config
            .unwrap()
    }

    #[test]
    fn a_diff_shows_only_the_lines_that_changed() {
        let old = example();
        let mut new = old.clone();
        new.apps.get_mut("web").unwrap().container = "server".into();
        let d = diff(Some(&old), &new);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d[0].starts_with("- ") && d[0].ends_with("\"container\": \"app\","),
            "{d:#?}"
        );
        assert!(
            d[1].starts_with("+ ") && d[1].ends_with("\"container\": \"server\","),
            "{d:#?}"
        );
        assert!(diff(Some(&old), &old).is_empty());
        let first = diff(None, &old);
        assert!(!first.is_empty() && first.iter().all(|l| l.starts_with("+ ")));
    }
}
