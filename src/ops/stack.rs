//! Where the greenlight stack is: its name (whose outputs say the rest) or each location
//! by flag or variable.

use greenlight_aws::AwsCloud;
use greenlight_core::Arn;

use super::Stop;
use crate::exit;

/// Where the greenlight stack is (flags, or the stack's outputs exported as variables).
#[derive(Clone, Debug, clap::Args)]
pub struct Stack {
    /// The greenlight stack's name: the table, state machine, topic, dead-letter queue and
    /// approval URL are read from its outputs (what a flag or variable names wins).
    #[arg(long = "stack", env = "GREENLIGHT_STACK", global = true)]
    pub stack: Option<String>,
    /// AWS profile (default: the standard chain).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (default: the standard chain).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// The state table (the stack's StateTableName output).
    #[arg(long, env = "GREENLIGHT_TABLE", global = true)]
    pub table: Option<String>,
    /// The rollout state machine (StateMachineArn output).
    #[arg(long, env = "GREENLIGHT_STATE_MACHINE", global = true)]
    pub state_machine: Option<String>,
    /// The notification topic (TopicArn output).
    #[arg(long, env = "GREENLIGHT_TOPIC", global = true)]
    pub topic: Option<String>,
    /// The dead-letter queue's URL (DeadLetterQueueUrl output).
    #[arg(long, env = "GREENLIGHT_DEAD_LETTERS", global = true)]
    pub dead_letters: Option<String>,
    /// The approval URL (ApprovalUrl output): approvals and rejections are signed requests
    /// to it, and AWS tells it who you are.
    #[arg(long, env = "GREENLIGHT_APPROVAL_URL", global = true)]
    pub approval_url: Option<String>,
    /// The external ID greenlight gives when it assumes an environment's role in another
    /// account or region (TargetExternalId output; greenlight.yaml's `role`).
    #[arg(long, env = "GREENLIGHT_EXTERNAL_ID", global = true)]
    pub external_id: Option<String>,
}

impl Stack {
    /// With `--stack`: every location not given by a flag or variable, read from the
    /// stack's outputs (CloudFormation DescribeStacks).
    pub async fn resolve(mut self) -> Result<Stack, Stop> {
        let Some(name) = self.stack.clone() else {
            return Ok(self);
        };
        let outputs = greenlight_core::ports::Stacks::stack_outputs(
            &greenlight_aws::stacks::CloudFormation::new(&self.sdk_config().await),
            &name,
        )
        .await
        .map_err(|e| match e {
            greenlight_core::ports::PortError::NotFound { .. } => Stop(
                format!("no stack {name} in this account and region (check --stack, --region, --profile)"),
                exit::INVALID,
            ),
            e => Stop(format!("reading stack {name}: {e}"), exit::UNAVAILABLE),
        })?;
        self.fill_from(&name, &outputs)?;
        Ok(self)
    }

    /// Fills what is not given from a stack's outputs; a greenlight stack has them all.
    pub fn fill_from(
        &mut self,
        name: &str,
        outputs: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), Stop> {
        let table = outputs.get("StateTableName");
        if table.is_none() && self.table.is_none() {
            return Err(Stop(
                format!("stack {name} has no StateTableName output: is it a greenlight stack?"),
                exit::INVALID,
            ));
        }
        for (slot, key) in [
            (&mut self.table, "StateTableName"),
            (&mut self.state_machine, "StateMachineArn"),
            (&mut self.topic, "TopicArn"),
            (&mut self.dead_letters, "DeadLetterQueueUrl"),
            (&mut self.approval_url, "ApprovalUrl"),
            (&mut self.external_id, "TargetExternalId"),
        ] {
            if slot.is_none() {
                *slot = outputs.get(key).cloned();
            }
        }
        Ok(())
    }

    async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        loader.load().await
    }

    /// The AWS clients for reading what exists (`init`: no greenlight stack needed).
    pub async fn inventory(&self) -> AwsCloud {
        AwsCloud::new(&self.sdk_config().await, String::new())
    }

    pub async fn cloud(&self) -> Result<AwsCloud, Stop> {
        let table = self.table.clone().ok_or_else(|| Stop("no state table: pass --stack NAME (or set GREENLIGHT_STACK), or --table / GREENLIGHT_TABLE (the stack's StateTableName output)".into(), exit::INVALID))?;
        let mut cloud = AwsCloud::new(&self.sdk_config().await, table);
        if self.external_id.is_some() {
            cloud.external_id = self.external_id.clone();
        }
        Ok(cloud)
    }

    fn arn(value: &Option<String>, flag: &str, var: &str, output: &str) -> Result<Arn, Stop> {
        let text = value.as_deref().ok_or_else(|| {
            Stop(
                format!("pass {flag} or set {var} (the stack's {output} output)"),
                exit::INVALID,
            )
        })?;
        Arn::parse(text).map_err(|e| Stop(format!("{flag}: {e}"), exit::INVALID))
    }

    pub fn state_machine(&self) -> Result<Arn, Stop> {
        Self::arn(
            &self.state_machine,
            "--state-machine",
            "GREENLIGHT_STATE_MACHINE",
            "StateMachineArn",
        )
    }

    pub fn topic(&self) -> Result<Arn, Stop> {
        Self::arn(&self.topic, "--topic", "GREENLIGHT_TOPIC", "TopicArn")
    }

    /// The approval URL.
    pub fn approval_url(&self) -> Result<String, Stop> {
        self.approval_url.clone().ok_or_else(|| {
            Stop(
                "pass --approval-url or set GREENLIGHT_APPROVAL_URL (the stack's ApprovalUrl output)".into(),
                exit::INVALID,
            )
        })
    }

    /// The dead-letter queue's URL (a URL, not an ARN: SQS addresses queues by URL).
    pub fn dead_letter_queue(&self) -> Result<String, Stop> {
        self.dead_letters.clone().ok_or_else(|| {
            Stop(
                "pass --dead-letters or set GREENLIGHT_DEAD_LETTERS (the stack's DeadLetterQueueUrl output)".into(),
                exit::INVALID,
            )
        })
    }
}
