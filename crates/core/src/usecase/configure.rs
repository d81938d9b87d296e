//! configure: the configuration stored in the state table, compared with a new one and
//! replaced by it (`greenlight config diff` and `config apply`). The YAML is stored as
//! written, beside the decoded configuration, so a diff shows the lines people wrote —
//! comments included. Writes are conditional on the version read, so two people applying
//! at once cannot overwrite each other unseen.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::json::sort_keys;
use crate::ports::{Clock, PortError, StateStore, StoredConfig};

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// A unified diff of two texts: for each hunk a `@@ -a,b +c,d @@` line, then its lines —
/// `  ` unchanged, `- ` only in `old`, `+ ` only in `new`. Empty when they are equal.
pub fn diff_text(old: &str, new: &str) -> Vec<String> {
    let d = similar::TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in d.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o, n) = (
            first.old_range().start..last.old_range().end,
            first.new_range().start..last.new_range().end,
        );
        out.push(format!(
            "@@ -{},{} +{},{} @@",
            o.start + 1,
            o.len(),
            n.start + 1,
            n.len()
        ));
        for op in &group {
            for change in d.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Equal => "  ",
                    similar::ChangeTag::Delete => "- ",
                    similar::ChangeTag::Insert => "+ ",
                };
                out.push(format!("{sign}{}", change.value().trim_end_matches('\n')));
            }
        }
    }
    out
}

/// A configuration in its JSON form (keys sorted, two spaces of indent): how one stored
/// without its YAML is compared.
fn json_text(c: &Config) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&sort_keys(&v)).ok())
        .map(|t| t + "\n")
        .unwrap_or_default()
}

/// What differs between the stored configuration and a new one (`config` read from
/// `source`): their YAML, or — when the stored one was written without its YAML — their JSON
/// forms. Empty when they are the same text.
pub fn diff(stored: Option<&StoredConfig>, config: &Config, source: &str) -> Vec<String> {
    match stored {
        None => diff_text("", source),
        Some(StoredConfig {
            source: Some(old), ..
        }) => diff_text(old, source),
        Some(old) => diff_text(&json_text(&old.config), &json_text(config)),
    }
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

/// The differences between the stored configuration and `config` (read from `source`).
pub async fn compare<P: StateStore>(
    p: &P,
    config: &Config,
    source: &str,
) -> Result<Diff, PortError> {
    let current = p.get_config().await?;
    Ok(Diff {
        changes: diff(current.as_ref(), config, source),
    })
}

/// Stores `config` (with `source`, the YAML it was read from) as `by`, unless the stored
/// text is the same, or `dry_run`. A change of comments or layout alone is stored too: the
/// stored YAML is what was applied. The write fails with a conflict when someone else wrote
/// in between.
pub async fn apply<P: StateStore + Clock>(
    p: &P,
    config: &Config,
    source: &str,
    by: &str,
    dry_run: bool,
) -> Result<Applied, PortError> {
    let current = p.get_config().await?;
    let changes = diff(current.as_ref(), config, source);
    let previous_version = current.as_ref().map_or(0, |c| c.version);
    // A configuration stored without its YAML gets it at the next apply.
    let missing_source = current.as_ref().is_some_and(|c| c.source.is_none());
    let applied_version = if (changes.is_empty() && !missing_source) || dry_run {
        None
    } else {
        Some(
            p.put_config(config, source, previous_version, by, p.now())
                .await?,
        )
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

    const EXAMPLE: &str = include_str!("../../../../examples/greenlight.yaml");

    fn stored(source: Option<&str>) -> StoredConfig {
        StoredConfig {
            config: std::sync::Arc::new(crate::config::load(EXAMPLE).config.unwrap()),
            version: 3,
            updated_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            updated_by: "alice".into(),
            source: source.map(str::to_string),
        }
    }

    #[test]
    fn a_diff_shows_the_yaml_people_wrote_in_hunks_with_context() {
        let new_text = EXAMPLE.replace("rollback_window: 30m", "rollback_window: 45m");
        let new = crate::config::load(&new_text).config.unwrap();
        let d = diff(Some(&stored(Some(EXAMPLE))), &new, &new_text);
        let changed: Vec<_> = d
            .iter()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .collect();
        assert_eq!(
            changed,
            [
                "-         rollback_window: 30m",
                "+         rollback_window: 45m"
            ]
        );
        assert!(d[0].starts_with("@@ -"), "{d:#?}");
        assert_eq!(
            d.iter().filter(|l| l.starts_with("  ")).count(),
            6,
            "{d:#?}"
        );
        assert!(diff(Some(&stored(Some(EXAMPLE))), &new, EXAMPLE).is_empty());
        // A comment is a change of what was written.
        let commented = format!("# owned by the platform team\n{EXAMPLE}");
        assert_eq!(
            diff(Some(&stored(Some(EXAMPLE))), &new, &commented)[1],
            "+ # owned by the platform team"
        );
    }

    #[test]
    fn a_configuration_stored_without_its_yaml_is_compared_in_json() {
        let old = stored(None);
        let mut new = (*old.config).clone();
        new.apps.get_mut("web").unwrap().container = "server".into();
        let d = diff(Some(&old), &new, "ignored");
        let changed: Vec<_> = d
            .iter()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .collect();
        assert_eq!(changed.len(), 2, "{d:#?}");
        assert!(changed[0].ends_with("\"container\": \"app\","), "{d:#?}");
        assert!(diff(Some(&old), &old.config, "ignored").is_empty());
        // Nothing stored: every line is new.
        let first = diff(None, &old.config, EXAMPLE);
        assert!(first.iter().skip(1).all(|l| l.starts_with("+ ")));
    }
}
