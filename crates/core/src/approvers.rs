//! Who may answer an approval: the principal AWS authenticated for the request (the
//! caller of the stack's IAM-authenticated approval URL) against an environment's
//! `approval.approvers`.
//!
//! A principal is an ARN as AWS reports it: `arn:aws:iam::<account>:user/<name>`,
//! `arn:aws:iam::<account>:role/<name>`, `arn:aws:sts::<account>:assumed-role/<role>/<session>`
//! or `arn:aws:iam::<account>:root`. An approver entry is either an ARN pattern (`*`
//! matches any run of characters; an IAM role ARN also admits every session of that role)
//! or a name pattern, matched against the role of a session, a role's name or a user's
//! name.

use crate::glob;

/// The parts of a principal ARN that approvers are matched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    /// The role (of a role or an assumed-role session) or the user's name.
    pub name: String,
    /// `role` for roles and their sessions, `user`, or `root`.
    pub kind: &'static str,
}

impl Principal {
    /// Reads a principal ARN; anything else is refused with the reason.
    pub fn parse(arn: &str) -> Result<Principal, String> {
        let bad = || format!("`{arn}` is not an IAM user, role, assumed-role session or root ARN");
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || !parts[3].is_empty() {
            return Err(bad());
        }
        let (service, account, resource) = (parts[2], parts[4], parts[5]);
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (kind, name) = match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
            ("iam", ["root"]) => ("root", "root"),
            ("iam", ["user", .., name]) => ("user", *name),
            ("iam", ["role", .., name]) => ("role", *name),
            ("sts", ["assumed-role", role, _session]) => ("role", *role),
            _ => return Err(bad()),
        };
        if name.is_empty() {
            return Err(bad());
        }
        Ok(Principal {
            arn: arn.to_string(),
            account: account.to_string(),
            name: name.to_string(),
            kind,
        })
    }
}

/// Whether an approver entry is well formed.
pub fn check_pattern(entry: &str) -> Result<(), String> {
    if entry.trim().is_empty() {
        return Err("an approver cannot be empty".into());
    }
    if entry.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "`{}` holds a space or a control character",
            entry.escape_debug()
        ));
    }
    if entry == "*" {
        return Err(
            "`*` admits every principal that can call the approval URL; name the roles or users"
                .into(),
        );
    }
    if entry.starts_with("arn:") && entry.splitn(6, ':').count() != 6 {
        return Err(format!(
            "`{entry}` is not an ARN (arn:aws:iam::<account>:role/<name>)"
        ));
    }
    Ok(())
}

/// Whether `principal` is one of `approvers`.
pub fn admits(approvers: &[String], principal: &Principal) -> bool {
    approvers.iter().any(|entry| {
        if entry.starts_with("arn:") {
            if glob::matches(entry, &principal.arn) {
                return true;
            }
            // An IAM role ARN admits the sessions of that role.
            let session_role = format!(
                "arn:{}:iam::{}:role/{}",
                principal.arn.split(':').nth(1).unwrap_or("aws"),
                principal.account,
                principal.name
            );
            principal.arn.contains(":assumed-role/") && glob::matches(entry, &session_role)
        } else {
            principal.kind != "root" && glob::matches(entry, &principal.name)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(arn: &str) -> Principal {
        Principal::parse(arn).unwrap()
    }

    #[test]
    fn principals_of_every_kind_are_read() {
        let s = p("arn:aws:sts::123456789012:assumed-role/ops-lead/alice@example.com");
        assert_eq!((s.kind, s.name.as_str()), ("role", "ops-lead"));
        let u = p("arn:aws:iam::123456789012:user/division/bob");
        assert_eq!((u.kind, u.name.as_str()), ("user", "bob"));
        assert_eq!(p("arn:aws:iam::123456789012:root").kind, "root");
        for bad in [
            "",
            "ops-lead",
            "arn:aws:iam::12345:role/x",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::123456789012:federated-user/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(Principal::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn approvers_match_arns_roles_and_names() {
        let session = p("arn:aws:sts::123456789012:assumed-role/release-managers/carol");
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(admits(&list(&["release-*"]), &session));
        assert!(admits(
            &list(&["arn:aws:iam::123456789012:role/release-managers"]),
            &session
        ));
        assert!(admits(
            &list(&["arn:aws:sts::123456789012:assumed-role/release-managers/*"]),
            &session
        ));
        assert!(!admits(&list(&["ops-lead"]), &session));
        assert!(
            !admits(
                &list(&["arn:aws:iam::210987654321:role/release-managers"]),
                &session
            ),
            "another account"
        );
        assert!(!admits(
            &list(&["release-managers"]),
            &p("arn:aws:iam::123456789012:root")
        ));
        assert!(!admits(&[], &session));
        assert!(check_pattern("*").is_err());
        assert!(check_pattern("ops lead").is_err());
        assert!(check_pattern("arn:aws:iam").is_err());
        assert!(check_pattern("ops-lead").is_ok());
    }
}
