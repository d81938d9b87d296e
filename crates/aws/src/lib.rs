//! greenlight's ports implemented with the AWS SDK for Rust. Production runs only these.
//!
//! One [`AwsCloud`] holds a client per service, built once per cold start from the standard
//! configuration chain (environment, profile, instance role; `AWS_ENDPOINT_URL` works, which
//! is how the contract tests point it at a local moto server).

mod approval_url;
mod cloudwatch;
mod ecr;
mod ecs;
mod elb;
pub mod error;
mod events;
mod http;
#[cfg(feature = "inventory")]
mod inventory;
mod reach;
pub mod sfn;
mod sns;
mod sqs;
#[cfg(feature = "stacks")]
pub mod stacks;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use sfn::execution_arn as sfn_execution_arn;
pub use store::HISTORY_INDEX;

/// Every AWS client greenlight uses, and the name of its DynamoDB table.
#[derive(Clone, Debug)]
pub struct AwsCloud {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sts: aws_sdk_sts::Client,
    pub http: reqwest::Client,
    pub table: String,
    /// The external ID greenlight gives when it assumes an environment's role
    /// (`GREENLIGHT_EXTERNAL_ID`, the stack's `TargetExternalId`).
    pub external_id: Option<String>,
    /// The URL of the stack's tick queue (`GREENLIGHT_TICK_QUEUE`): where the rounds of a
    /// wait are scheduled.
    pub tick_queue: Option<String>,
    /// Region and credentials, for the requests signed by hand (the approval URL).
    pub sdk: aws_config::SdkConfig,
}

/// A builder for an HTTPS client (the health probes'), with aws-lc-rs — the crypto library
/// the AWS SDK's client uses — installed as the process's rustls provider first: reqwest is
/// built without a provider of its own, so the binary carries one crypto library, not two.
pub fn http_client() -> reqwest::ClientBuilder {
    // An error only says a provider is installed already (this one, by an earlier call).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
}

impl AwsCloud {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        AwsCloud {
            ecs: aws_sdk_ecs::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            sdk: config.clone(),
            http: http_client()
                .user_agent(concat!(
                    "greenlight/",
                    env!("CARGO_PKG_VERSION"),
                    " (health probe)"
                ))
                .build()
                .expect("the HTTP client builds"),
            table: table.into(),
            tick_queue: std::env::var("GREENLIGHT_TICK_QUEUE")
                .ok()
                .filter(|q| !q.is_empty()),
            external_id: std::env::var("GREENLIGHT_EXTERNAL_ID")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    /// Loads the standard AWS configuration and builds every client.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(&config, table)
    }
}

impl greenlight_core::ports::Clock for AwsCloud {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
