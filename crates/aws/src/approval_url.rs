//! `ApprovalUrl`: a decision POSTed to the stack's approval URL (a Lambda function URL
//! with `AWS_IAM` auth), signed with SigV4 by the caller's own credentials, so that the
//! function learns from AWS who answers.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use greenlight_core::ports::{ApprovalUrl, CallerIdentity, PortError, PortResult};
use greenlight_core::usecase::approval::Decision;

use crate::AwsCloud;

const OP: &str = "lambda:InvokeFunctionUrl";

/// The region a function URL lives in (`<id>.lambda-url.<region>.on.aws`), if it says.
pub fn url_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut parts = host.split('.');
    let (_, kind, region) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == "lambda-url").then(|| region.to_string())
}

impl CallerIdentity for AwsCloud {
    async fn caller(&self) -> PortResult<String> {
        const OP: &str = "sts:GetCallerIdentity";
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| crate::error::classify(OP, e))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| PortError::Invalid {
                operation: OP.into(),
                message: "the answer names no ARN".into(),
            })
    }
}

impl ApprovalUrl for AwsCloud {
    async fn send_decision(&self, url: &str, decision: &Decision) -> PortResult<(u16, String)> {
        let invalid = |message: String| PortError::Invalid {
            operation: OP.into(),
            message,
        };
        let region = url_region(url)
            .or_else(|| self.sdk.region().map(|r| r.to_string()))
            .ok_or_else(|| invalid("no region: set AWS_REGION or --region".into()))?;
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| invalid("no AWS credentials to sign the request with".into()))?;
        let credentials =
            provider
                .provide_credentials()
                .await
                .map_err(|e| PortError::AccessDenied {
                    operation: OP.into(),
                    message: format!("no AWS credentials to sign the request with: {e}"),
                })?;
        let identity = credentials.into();
        let body = serde_json::to_vec(decision).expect("a decision serializes");
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| invalid(e.to_string()))?
            .into();
        let headers = [("content-type", "application/json")];
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| invalid(format!("{url} cannot be signed: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| invalid(e.to_string()))?
            .into_parts();
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json");
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| PortError::Unavailable {
                operation: OP.into(),
                message: format!("{url}: {e}"),
            })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        // The URL answers JSON `{message}` (the function) or `{Message}` (Lambda's own 403).
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let message = json["message"]
            .as_str()
            .or_else(|| json["Message"].as_str())
            .map(str::to_string)
            .unwrap_or(text);
        Ok((status, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_read_from_a_function_url() {
        assert_eq!(
            url_region("https://abcdefghij.lambda-url.eu-west-1.on.aws/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(url_region("http://127.0.0.1:9000/"), None);
        assert_eq!(url_region("nonsense"), None);
    }
}
