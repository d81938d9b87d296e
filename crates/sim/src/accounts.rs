//! Accounts and regions other than the stack's in the simulated world: which resources are
//! where, the roles greenlight may assume there, ECR replication and repository policies,
//! and which IAM actions were used there through a role.
//!
//! A [`crate::Sim`] handle that reached a place ([`greenlight_core::ports::Reach`]) finds
//! only that place's resources, as clients of another account would: a use case that
//! forgets to reach an environment's place gets `NotFound`.

use std::collections::{BTreeMap, BTreeSet};

use greenlight_core::Arn;

use crate::world::{ACCOUNT, REGION};

/// The services whose calls a reached handle makes in the target account.
pub const REACHED_SERVICES: [&str; 5] = [
    "ecs:",
    "elasticloadbalancing:",
    "cloudwatch:",
    "ecr:",
    "iam:PassRole",
];

#[derive(Clone, Debug, Default)]
pub struct Accounts {
    /// The account and region of named resources outside the stack's (keys:
    /// `service:CLUSTER/NAME`, `alarm:NAME`); ARNs say where they are themselves.
    pub owners: BTreeMap<String, (String, String)>,
    /// Roles deployed in target accounts (templates/target-account.yaml), trusting the
    /// stack with its external ID.
    pub roles: BTreeSet<Arn>,
    /// ECR replication: repository → the registries (account, region) it copies to.
    pub replicas: BTreeMap<String, BTreeSet<(String, String)>>,
    /// Repository policies (the stack's registry), by repository.
    pub policies: BTreeMap<String, String>,
    /// The role the call being made acts as (set by the handle that locked the world).
    pub acting: Option<String>,
    /// IAM actions used in target accounts: (role, action), for the target role's
    /// least-privilege test.
    pub target_access: BTreeSet<(String, String)>,
}

impl Accounts {
    /// Records that a named resource lives in `(account, region)`.
    pub fn own(&mut self, key: &str, (account, region): (&str, &str)) {
        if (account, region) != (ACCOUNT, REGION) {
            self.owners
                .insert(key.to_string(), (account.to_string(), region.to_string()));
        }
    }

    /// Where a named resource lives.
    pub fn owner(&self, key: &str) -> (String, String) {
        self.owners
            .get(key)
            .cloned()
            .unwrap_or_else(|| (ACCOUNT.to_string(), REGION.to_string()))
    }

    /// Records `action` as used through the acting role, when the call is made there.
    pub fn noted_there(&mut self, action: &str) -> bool {
        match &self.acting {
            Some(role) if REACHED_SERVICES.iter().any(|s| action.starts_with(s)) => {
                self.target_access
                    .insert((role.clone(), action.to_string()));
                true
            }
            _ => false,
        }
    }
}

/// The key of a service in [`Accounts::owners`].
pub fn service_key(cluster: &str, service: &str) -> String {
    format!("service:{cluster}/{service}")
}

/// The key of a repository in the world's `repos`: its name in the stack's registry,
/// `ACCOUNT:REGION:NAME` in another.
pub fn repo_key((account, region): (&str, &str), repository: &str) -> String {
    if (account, region) == (ACCOUNT, REGION) {
        repository.to_string()
    } else {
        format!("{account}:{region}:{repository}")
    }
}

impl crate::world::World {
    /// The places of an app's environments: each one's role (templates/target-account.yaml
    /// deployed there), and how it pulls the app's images: another account of the stack's
    /// region from a replica in its own registry (ECR replication), another region from
    /// the stack's registry, whose policy admits its account.
    pub fn install_places(&mut self, app: &greenlight_core::config::App) {
        let mut admitted = Vec::new();
        for env in app.environments.values() {
            if let Some(place) = env.place() {
                self.accounts.roles.insert(place.role.clone());
                if place.account == ACCOUNT {
                    continue;
                }
                if place.region == REGION {
                    self.accounts
                        .replicas
                        .entry(app.repository.clone())
                        .or_default()
                        .insert((place.account.clone(), place.region.clone()));
                } else {
                    admitted.push(format!("arn:aws:iam::{}:root", place.account));
                }
            }
        }
        if !admitted.is_empty() {
            let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "greenlight-environments", "Effect": "Allow",
                "Principal": {"AWS": admitted},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]});
            self.accounts
                .policies
                .insert(app.repository.clone(), policy.to_string());
        }
    }

    /// ECR replication: the repository's images copied to every registry it replicates
    /// to (the same digests and tags).
    pub fn replicate(&mut self, repository: &str) {
        let Some(to) = self.accounts.replicas.get(repository).cloned() else {
            return;
        };
        let Some(source) = self.repos.get(repository).cloned() else {
            return;
        };
        for (account, region) in to {
            let key = repo_key((&account, &region), repository);
            self.repos.insert(
                key,
                crate::world::Repo {
                    uri: format!("{account}.dkr.ecr.{region}.amazonaws.com/{repository}"),
                    images: source.images.clone(),
                },
            );
        }
    }
}
