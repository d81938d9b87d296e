//! Where an environment is: `account`, `region` and `role`, and the ARNs that must agree
//! with them.

use crate::arn::Arn;

use super::decoding::EnvParts;
use super::validation::Checker;

/// Whether `region` reads as an AWS region name (`eu-west-1`, `us-gov-west-1`).
fn region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .parse::<u8>()
            .is_ok_and(|n| (1..=20).contains(&n))
}

/// `account`, `region` and `role`: all three or none, well formed, the role in the
/// account; and every ARN of the environment in one account and region — the declared ones
/// when given, else those of the first ARN.
pub(super) fn check_place(c: &mut Checker<'_>, env: &EnvParts, ep: &str) {
    let p = |s: &str| format!("{ep}.{s}");
    let account = env.account.as_ref().and_then(|a| a.as_deref());
    let region = env.region.as_ref().and_then(|r| r.as_deref());
    let role = env.role.as_ref().and_then(|r| r.as_ref());
    let given = [account.is_some(), region.is_some(), role.is_some()];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        let missing: Vec<&str> = ["account", "region", "role"]
            .iter()
            .zip(given)
            .filter(|(_, g)| !g)
            .map(|(k, _)| *k)
            .collect();
        c.error(
            ep,
            format!(
                "`account`, `region` and `role` go together (where the environment is, and the role greenlight assumes there); add {}, or leave all three out for the stack's own account and region",
                missing.join(" and ")
            ),
        );
    }
    if let Some(a) = account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            c.error(
                &p("account"),
                format!("`{a}` is not an AWS account ID (12 digits; quote it if it starts with 0)"),
            );
        }
    }
    if let Some(r) = region {
        if !region_name(r) {
            c.error(
                &p("region"),
                format!("`{r}` is not an AWS region name (like `eu-west-1`)"),
            );
        }
    }
    if let Some(role) = role {
        match role.parts() {
            Ok(parts) if parts.service == "iam" && parts.resource.starts_with("role/") => {
                if account.is_some_and(|a| a != parts.account) {
                    c.error(
                        &p("role"),
                        format!(
                            "the role is in account {}, not in this environment's account {}",
                            parts.account,
                            account.unwrap_or_default()
                        ),
                    );
                }
            }
            _ => c.error(
                &p("role"),
                format!("`{role}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            ),
        }
    }
    // Every ARN of the environment, where it is in the file.
    let mut arns: Vec<(String, &Arn)> = Vec::new();
    let cluster_arn = env
        .cluster
        .as_deref()
        .filter(|c| c.starts_with("arn:"))
        .and_then(|c| Arn::parse(c).ok());
    if let Some(a) = &cluster_arn {
        arns.push(("cluster".into(), a));
    }
    if let Some(Some(tgs)) = &env.target_groups {
        arns.push(("target_groups.blue".into(), &tgs.blue));
        arns.push(("target_groups.green".into(), &tgs.green));
    }
    if let Some(Some(l)) = &env.listeners {
        arns.push(("listeners.production".into(), &l.production));
        if let Some(t) = &l.test {
            arns.push(("listeners.test".into(), t));
        }
    }
    let declared = account.zip(region);
    let mut expected: Option<(String, &str, &str)> = declared.map(|(a, r)| {
        (
            "this environment's `account` and `region`".to_string(),
            a,
            r,
        )
    });
    for (path, arn) in arns {
        let Some((arn_region, arn_account)) = arn.home() else {
            continue;
        };
        match &expected {
            None => expected = Some((format!("`{path}`"), arn_account, arn_region)),
            Some((by, a, r)) if (*a, *r) != (arn_account, arn_region) => {
                let what = if *a != arn_account {
                    "account"
                } else {
                    "region"
                };
                c.error(
                    &p(&path),
                    format!(
                        "this ARN is in account {arn_account}, {arn_region}; {by} say{} account {a}, {r}: one environment's resources are in one {what}{}",
                        if by.starts_with('`') { "s" } else { "" },
                        if declared.is_none() && what == "account" {
                            " (an environment in another account names it with `account`, `region` and `role`)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            Some(_) => {}
        }
    }
}
