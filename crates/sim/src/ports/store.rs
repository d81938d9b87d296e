//! The state store (DynamoDB): locks, records, tokens, alarm watches, configuration.

#[allow(unused_imports)]
use super::*;

impl StateStore for Sim {
    async fn acquire_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<LockOutcome> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "LOCK#")?;
            w.note_access("dynamodb:GetItem LOCK#");
            let key = (app.to_string(), environment.to_string());
            if let Some(lock) = w.store.locks.get(&key) {
                if lock.owner != owner && lock.expires_at > now {
                    return Ok(LockOutcome::Held { lock: lock.clone() });
                }
            }
            let lock = Lock {
                app: app.to_string(),
                environment: environment.to_string(),
                owner: owner.to_string(),
                acquired_at: now,
                expires_at: lease.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC),
            };
            w.store.locks.insert(key, lock.clone());
            Ok(LockOutcome::Acquired { lock })
        })
    }

    async fn renew_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<Lock> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:UpdateItem", "LOCK#")?;
            match w
                .store
                .locks
                .get_mut(&(app.to_string(), environment.to_string()))
            {
                Some(lock) if lock.owner == owner => {
                    lock.expires_at = lease.after(now).unwrap_or(DateTime::<Utc>::MAX_UTC);
                    Ok(lock.clone())
                }
                _ => Err(conflict(
                    "dynamodb:UpdateItem",
                    format!("the lock of {app}/{environment} is not {owner}'s"),
                )),
            }
        })
    }

    async fn release_lock(&self, app: &str, environment: &str, owner: &str) -> PortResult<bool> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:DeleteItem", "LOCK#")?;
            let key = (app.to_string(), environment.to_string());
            if w.store.locks.get(&key).is_some_and(|l| l.owner == owner) {
                w.store.locks.remove(&key);
                return Ok(true);
            }
            Ok(false)
        })
    }

    async fn get_lock(&self, app: &str, environment: &str) -> PortResult<Option<Lock>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "LOCK#")?;
            Ok(w.store
                .locks
                .get(&(app.to_string(), environment.to_string()))
                .cloned())
        })
    }

    async fn put_deployment(&self, record: &DeploymentRecord) -> PortResult<u64> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "DEPLOYMENT#")?;
            let stored = w.store.deployments.get(&record.id).map_or(0, |r| r.version);
            if stored != record.version {
                return Err(conflict(
                    "dynamodb:PutItem",
                    format!(
                        "deployment {} is at version {stored}, not {}",
                        record.id, record.version
                    ),
                ));
            }
            let version = stored + 1;
            w.store.deployments.insert(
                record.id.clone(),
                DeploymentRecord {
                    version,
                    ..record.clone()
                },
            );
            Ok(version)
        })
    }

    async fn get_deployment(&self, id: &str) -> PortResult<Option<DeploymentRecord>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "DEPLOYMENT#")?;
            Ok(w.store.deployments.get(id).cloned())
        })
    }

    async fn history(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> PortResult<Vec<DeploymentRecord>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:Query", "HISTORY#")?;
            let mut out: Vec<DeploymentRecord> = w
                .store
                .deployments
                .values()
                .filter(|d| d.app == app && d.environment == environment)
                .cloned()
                .collect();
            out.sort_by(|a, b| {
                b.started_at
                    .cmp(&a.started_at)
                    .then_with(|| b.id.cmp(&a.id))
            });
            out.truncate(limit);
            Ok(out)
        })
    }

    async fn put_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
        token: &str,
        alarms: &[String],
    ) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "TOKEN#")?;
            if !alarms.is_empty() {
                w.note_access("dynamodb:PutItem ALARM#");
            }
            w.store.tokens.insert(
                (deployment.to_string(), purpose),
                (token.to_string(), alarms.to_vec()),
            );
            Ok(())
        })
    }

    async fn tokens_watching(&self, alarm: &str) -> PortResult<Vec<(String, String)>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:Query", "ALARM#")?;
            Ok(w.store
                .tokens
                .iter()
                .filter(|(_, (_, alarms))| alarms.iter().any(|a| a == alarm))
                .map(|((d, _), (t, _))| (d.clone(), t.clone()))
                .collect())
        })
    }

    async fn get_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> PortResult<Option<String>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "TOKEN#")?;
            Ok(w.store
                .tokens
                .get(&(deployment.to_string(), purpose))
                .map(|(t, _)| t.clone()))
        })
    }

    async fn delete_task_token(&self, deployment: &str, purpose: TokenPurpose) -> PortResult<()> {
        self.answered(|| {
            let mut w = self.world();
            w.note_access("dynamodb:GetItem TOKEN#");
            w.note_access("dynamodb:DeleteItem ALARM#");
            w.call_item("dynamodb:DeleteItem", "TOKEN#")?;
            w.store.tokens.remove(&(deployment.to_string(), purpose));
            Ok(())
        })
    }

    async fn get_config(&self) -> PortResult<Option<StoredConfig>> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:GetItem", "CONFIG")?;
            Ok(w.store.config.clone())
        })
    }

    async fn put_config(
        &self,
        config: &Config,
        source: &str,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> PortResult<u64> {
        self.answered(|| {
            let mut w = self.world();
            w.call_item("dynamodb:PutItem", "CONFIG")?;
            let current = w.store.config.as_ref().map_or(0, |c| c.version);
            if current != expected_version {
                return Err(conflict(
                    "dynamodb:PutItem",
                    format!("configuration is at version {current}, not {expected_version}"),
                ));
            }
            w.store.config = Some(StoredConfig {
                config: std::sync::Arc::new(config.clone()),
                version: current + 1,
                updated_at: now,
                updated_by: by.to_string(),
                source: Some(source.to_string()),
            });
            Ok(current + 1)
        })
    }
}
