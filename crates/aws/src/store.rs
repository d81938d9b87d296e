//! `StateStore` on one DynamoDB table (on-demand, with TTL on `expires`).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | lock | `LOCK#app#env` | `LOCK` | owner, acquired_at, expires_at (epoch s), expires (TTL) |
//! | deployment | `DEPLOYMENT#id` | `RECORD` | record (JSON), version (conditional writes), gsi1pk `HISTORY#app#env`, gsi1sk `<started_at>#<id>` |
//! | task token | `TOKEN#deployment` | purpose | token, alarms, expires |
//! | alarm watch | `ALARM#name` | `deployment#purpose` | token, expires |
//! | configuration | `CONFIG` | `CURRENT` | config (JSON), version, updated_at, updated_by |
//!
//! History is a query on the `history` index (gsi1pk, gsi1sk), newest first.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use greenlight_core::config::Config;
use greenlight_core::ports::{
    DeploymentRecord, Lock, LockOutcome, PortError, PortResult, StateStore, StoredConfig,
    TokenPurpose,
};
use greenlight_core::Duration;

use crate::error::classify;
use crate::AwsCloud;

pub const HISTORY_INDEX: &str = "history";
/// Task tokens outlive any wait they belong to by far; the TTL only cleans up.
const TOKEN_TTL_SECS: i64 = 400 * 86_400;

type Item = HashMap<String, AttributeValue>;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, key: &str) -> PortResult<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(&format!("attribute {key} missing or not a string")))
}

fn get_n(item: &Item, key: &str) -> PortResult<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt(&format!("attribute {key} missing or not a number")))
}

fn corrupt(message: &str) -> PortError {
    PortError::Other {
        operation: "dynamodb".into(),
        message: format!("unexpected item: {message}"),
    }
}

fn epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// When a lease taken now ends, in epoch seconds (saturating, never overflowing).
fn lease_end(now: DateTime<Utc>, lease: Duration) -> i64 {
    epoch(now).saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX))
}

fn from_epoch(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn lock_key(app: &str, environment: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("LOCK#{app}#{environment}")), s("LOCK"))
}

fn purpose_name(p: TokenPurpose) -> &'static str {
    match p {
        TokenPurpose::Approval => "approval",
        TokenPurpose::Bake => "bake",
        TokenPurpose::Window => "window",
    }
}

fn lock_from(item: &Item, app: &str, environment: &str) -> PortResult<Lock> {
    Ok(Lock {
        app: app.to_string(),
        environment: environment.to_string(),
        owner: get_s(item, "owner")?.to_string(),
        acquired_at: from_epoch(get_n(item, "acquired_at")?),
        expires_at: from_epoch(get_n(item, "expires_at")?),
    })
}

impl AwsCloud {
    async fn get_item(&self, pk: AttributeValue, sk: AttributeValue) -> PortResult<Option<Item>> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e))?;
        Ok(out.item)
    }

    async fn delete_item(&self, pk: AttributeValue, sk: AttributeValue) -> PortResult<()> {
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .send()
            .await
            .map_err(|e| classify("dynamodb:DeleteItem", e))?;
        Ok(())
    }
}

impl StateStore for AwsCloud {
    async fn acquire_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<LockOutcome> {
        let (pk, sk) = lock_key(app, environment);
        let expires_at = lease_end(now, lease);
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", pk.clone())
            .item("sk", sk.clone())
            .item("owner", s(owner))
            .item("acquired_at", n(epoch(now)))
            .item("expires_at", n(expires_at))
            .item("expires", n(expires_at.saturating_add(86_400)))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(epoch(now)))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(LockOutcome::Acquired {
                lock: Lock {
                    app: app.to_string(),
                    environment: environment.to_string(),
                    owner: owner.to_string(),
                    acquired_at: from_epoch(epoch(now)),
                    expires_at: from_epoch(expires_at),
                },
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                match self.get_item(pk, sk).await? {
                    Some(item) => Ok(LockOutcome::Held {
                        lock: lock_from(&item, app, environment)?,
                    }),
                    // Released between our write and our read: try again.
                    None => Err(PortError::Conflict {
                        operation: "dynamodb:PutItem".into(),
                        message: "the lock changed while being taken; retry".into(),
                    }),
                }
            }
            Err(e) => Err(classify("dynamodb:PutItem", e)),
        }
    }

    async fn renew_lock(
        &self,
        app: &str,
        environment: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> PortResult<Lock> {
        let (pk, sk) = lock_key(app, environment);
        let expires_at = lease_end(now, lease);
        let out = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .update_expression("SET expires_at = :e, expires = :ttl")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":e", n(expires_at))
            .expression_attribute_values(":ttl", n(expires_at.saturating_add(86_400)))
            .expression_attribute_values(":owner", s(owner))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => PortError::Conflict {
                    operation: "dynamodb:UpdateItem".into(),
                    message: format!("the lock of {app}/{environment} is not {owner}'s"),
                },
                _ => classify("dynamodb:UpdateItem", e),
            })?;
        lock_from(&out.attributes.unwrap_or_default(), app, environment)
    }

    async fn release_lock(&self, app: &str, environment: &str, owner: &str) -> PortResult<bool> {
        let (pk, sk) = lock_key(app, environment);
        let result = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("dynamodb:DeleteItem", e)),
        }
    }

    async fn get_lock(&self, app: &str, environment: &str) -> PortResult<Option<Lock>> {
        let (pk, sk) = lock_key(app, environment);
        self.get_item(pk, sk)
            .await?
            .map(|item| lock_from(&item, app, environment))
            .transpose()
    }

    async fn put_deployment(&self, record: &DeploymentRecord) -> PortResult<u64> {
        let version = record.version + 1;
        let body = serde_json::to_string(&DeploymentRecord {
            version,
            ..record.clone()
        })
        .map_err(|e| corrupt(&e.to_string()))?;
        let put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("DEPLOYMENT#{}", record.id)))
            .item("sk", s("RECORD"))
            .item("record", s(body))
            .item(
                "gsi1pk",
                s(format!("HISTORY#{}#{}", record.app, record.environment)),
            )
            .item(
                "gsi1sk",
                s(format!(
                    "{}#{}",
                    record
                        .started_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    record.id
                )),
            )
            .item("version", n(version as i64));
        let put = if record.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(record.version as i64))
        };
        put.send().await.map_err(|e| match e.as_service_error() {
            Some(se) if se.is_conditional_check_failed_exception() => PortError::Conflict {
                operation: "dynamodb:PutItem".into(),
                message: format!(
                    "deployment {} changed since version {} was read",
                    record.id, record.version
                ),
            },
            _ => classify("dynamodb:PutItem", e),
        })?;
        Ok(version)
    }

    async fn get_deployment(&self, id: &str) -> PortResult<Option<DeploymentRecord>> {
        let item = self
            .get_item(s(format!("DEPLOYMENT#{id}")), s("RECORD"))
            .await?;
        item.map(|i| {
            serde_json::from_str(get_s(&i, "record")?).map_err(|e| corrupt(&e.to_string()))
        })
        .transpose()
    }

    async fn history(
        &self,
        app: &str,
        environment: &str,
        limit: usize,
    ) -> PortResult<Vec<DeploymentRecord>> {
        let mut out = Vec::new();
        let mut pages = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(HISTORY_INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(format!("HISTORY#{app}#{environment}")))
            .scan_index_forward(false)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("dynamodb:Query", e))?;
            for item in page.items() {
                out.push(
                    serde_json::from_str(get_s(item, "record")?)
                        .map_err(|e| corrupt(&e.to_string()))?,
                );
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    async fn put_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
        token: &str,
        alarms: &[String],
    ) -> PortResult<()> {
        let expires = n(Utc::now().timestamp() + TOKEN_TTL_SECS);
        // Watches first: a token is only findable by alarm once its watches exist, and a
        // watch without its token item is harmless (deleted with the token).
        for alarm in alarms {
            self.dynamodb
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("ALARM#{alarm}")))
                .item("sk", s(format!("{deployment}#{}", purpose_name(purpose))))
                .item("token", s(token))
                .item("deployment", s(deployment))
                .item("expires", expires.clone())
                .send()
                .await
                .map_err(|e| classify("dynamodb:PutItem", e))?;
        }
        let mut put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("TOKEN#{deployment}")))
            .item("sk", s(purpose_name(purpose)))
            .item("token", s(token))
            .item("expires", expires);
        if !alarms.is_empty() {
            put = put.item("alarms", AttributeValue::Ss(alarms.to_vec()));
        }
        put.send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e))?;
        Ok(())
    }

    async fn tokens_watching(&self, alarm: &str) -> PortResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut pages = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(format!("ALARM#{alarm}")))
            .consistent_read(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("dynamodb:Query", e))?;
            for item in page.items() {
                out.push((
                    get_s(item, "deployment")?.to_string(),
                    get_s(item, "token")?.to_string(),
                ));
            }
        }
        Ok(out)
    }

    async fn get_task_token(
        &self,
        deployment: &str,
        purpose: TokenPurpose,
    ) -> PortResult<Option<String>> {
        let item = self
            .get_item(s(format!("TOKEN#{deployment}")), s(purpose_name(purpose)))
            .await?;
        item.map(|i| get_s(&i, "token").map(str::to_string))
            .transpose()
    }

    async fn delete_task_token(&self, deployment: &str, purpose: TokenPurpose) -> PortResult<()> {
        let (pk, sk) = (s(format!("TOKEN#{deployment}")), s(purpose_name(purpose)));
        if let Some(item) = self.get_item(pk.clone(), sk.clone()).await? {
            let alarms = item
                .get("alarms")
                .and_then(|a| a.as_ss().ok())
                .cloned()
                .unwrap_or_default();
            for alarm in alarms {
                self.delete_item(
                    s(format!("ALARM#{alarm}")),
                    s(format!("{deployment}#{}", purpose_name(purpose))),
                )
                .await?;
            }
            self.delete_item(pk, sk).await?;
        }
        Ok(())
    }

    async fn get_config(&self) -> PortResult<Option<StoredConfig>> {
        let Some(item) = self.get_item(s("CONFIG"), s("CURRENT")).await? else {
            return Ok(None);
        };
        Ok(Some(StoredConfig {
            config: serde_json::from_str::<Config>(get_s(&item, "config")?)
                .map(std::sync::Arc::new)
                .map_err(|e| corrupt(&format!("stored configuration: {e}")))?,
            version: get_n(&item, "version")? as u64,
            updated_at: DateTime::parse_from_rfc3339(get_s(&item, "updated_at")?)
                .map_err(|e| corrupt(&e.to_string()))?
                .with_timezone(&Utc),
            updated_by: get_s(&item, "updated_by")?.to_string(),
            source: item.get("source").and_then(|v| v.as_s().ok()).cloned(),
        }))
    }

    async fn put_config(
        &self,
        config: &Config,
        source: &str,
        expected_version: u64,
        by: &str,
        now: DateTime<Utc>,
    ) -> PortResult<u64> {
        let version = expected_version + 1;
        let mut put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", s("CONFIG"))
            .item("sk", s("CURRENT"))
            .item(
                "config",
                s(serde_json::to_string(config).expect("a config serializes")),
            )
            .item("version", n(version as i64))
            .item("updated_at", s(now.to_rfc3339()))
            .item("updated_by", s(by))
            .item("source", s(source));
        put = if expected_version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version as i64))
        };
        put.send().await.map_err(|e| match e.as_service_error() {
            Some(se) if se.is_conditional_check_failed_exception() => PortError::Conflict {
                operation: "dynamodb:PutItem".into(),
                message: format!("the stored configuration is no longer version {expected_version}; read it again"),
            },
            _ => classify("dynamodb:PutItem", e),
        })?;
        Ok(version)
    }
}
