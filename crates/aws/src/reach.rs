//! Reaching an environment in another account or region: clients for ECS, Elastic Load
//! Balancing, CloudWatch and ECR there, signed with the credentials of the environment's
//! role (STS `AssumeRole` with the stack's external ID and a session named after the
//! deployment). Built once per role, region and session in an execution environment and
//! kept (up to [`KEPT`]); the SDK's identity cache refreshes the credentials before they
//! expire.

use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use greenlight_core::config::Place;
use greenlight_core::ports::{PortResult, Reach};
use greenlight_core::usecase::reach::session_name;

use crate::AwsCloud;

/// How many reached places an execution environment keeps (oldest dropped first).
pub const KEPT: usize = 32;

type Key = (String, String, String);

fn kept() -> &'static Mutex<Vec<(Key, AwsCloud)>> {
    static KEPT_CLOUDS: OnceLock<Mutex<Vec<(Key, AwsCloud)>>> = OnceLock::new();
    KEPT_CLOUDS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Credentials from STS `AssumeRole`, asked with the stack's own credentials.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    role: String,
    external_id: Option<String>,
    session: String,
}

impl AssumedRole {
    async fn assume(&self) -> Result<Credentials, CredentialsError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role)
            .role_session_name(&self.session)
            .set_external_id(self.external_id.clone())
            .send()
            .await
            .map_err(|e| {
                let port = crate::error::classify("sts:AssumeRole", e);
                let why = format!(
                    "assuming role {} as session {}: {port}",
                    self.role, self.session
                );
                if port.is_retryable() {
                    CredentialsError::provider_error(why)
                } else {
                    // The role is missing, does not trust the stack, or wants another
                    // external ID: a person must fix it.
                    CredentialsError::invalid_configuration(why)
                }
            })?;
        let c = out.credentials.ok_or_else(|| {
            CredentialsError::unhandled(format!("STS returned no credentials for {}", self.role))
        })?;
        let expiry = SystemTime::try_from(c.expiration).ok();
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "greenlight-assume-role",
        ))
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

impl Reach for AwsCloud {
    fn reach(&self, place: &Place, session: &str) -> PortResult<Self> {
        let session = session_name(session);
        let key = (
            place.role.to_string(),
            place.region.clone(),
            session.clone(),
        );
        let mut kept = kept().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, cloud)) = kept
            .iter()
            .find(|(k, c)| *k == key && c.table == self.table)
        {
            return Ok(cloud.clone());
        }
        let role = AssumedRole {
            sts: self.sts.clone(),
            role: place.role.to_string(),
            external_id: self.external_id.clone(),
            session,
        };
        let there = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(place.region.clone()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(role),
            )
            .build();
        let mut cloud = self.clone();
        cloud.ecs = aws_sdk_ecs::Client::new(&there);
        cloud.ecr = aws_sdk_ecr::Client::new(&there);
        cloud.elb = aws_sdk_elasticloadbalancingv2::Client::new(&there);
        cloud.cloudwatch = aws_sdk_cloudwatch::Client::new(&there);
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((key, cloud.clone()));
        Ok(cloud)
    }
}
