//! Turning SDK errors into [`PortError`]s: by the error's kind, HTTP status and typed error
//! code (the same codes the SDK's own retry classifier uses), never by message text.

// The throttling and transient error codes are the SDK's own retry classifier's lists.
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS as THROTTLING, TRANSIENT_ERRORS};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use greenlight_core::ports::PortError;

/// The SDK error type every operation returns.
pub type SdkError<E> = aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>;

/// Error codes that mean the service had a transient problem: the SDK's list, and the codes
/// some services send with them (usually, but not always, with a 5xx status).
fn transient(code: &str) -> bool {
    TRANSIENT_ERRORS.contains(&code)
        || [
            "InternalError",
            "InternalFailure",
            "ServiceUnavailable",
            "ServerException",
        ]
        .contains(&code)
}

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "AuthorizationError",
];

/// Classifies any SDK error.
pub fn classify<E>(operation: &str, err: SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let operation = operation.to_string();
    // Credentials for an environment's role that could not be had: the role refused
    // (permanent) or STS unreachable (transient); see `reach.rs`.
    if let Some(e) = credentials_error(&err) {
        use aws_credential_types::provider::error::CredentialsError;
        let message = describe(&err);
        return match e {
            CredentialsError::InvalidConfiguration(_)
            | CredentialsError::CredentialsNotLoaded(_) => {
                PortError::AccessDenied { operation, message }
            }
            _ => PortError::Unavailable { operation, message },
        };
    }
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Unavailable {
                operation,
                message: describe(&err),
            }
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default().to_string();
            let message = format!("{code}: {}", service.err().message().unwrap_or_default());
            if status == 429 || THROTTLING.contains(&code.as_str()) {
                PortError::Throttled { operation, message }
            } else if status >= 500 || transient(&code) {
                PortError::Unavailable { operation, message }
            } else if status == 403 || ACCESS_DENIED.contains(&code.as_str()) {
                PortError::AccessDenied { operation, message }
            } else if status == 404 {
                PortError::NotFound { what: message }
            } else {
                PortError::Invalid { operation, message }
            }
        }
        _ => PortError::Other {
            operation,
            message: describe(&err),
        },
    }
}

/// The credentials error behind an SDK error, if that is why it failed.
fn credentials_error<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e aws_credential_types::provider::error::CredentialsError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            return Some(c);
        }
        source = s.source();
    }
    None
}

fn describe(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A response that lacked a field the service always sends.
pub fn missing(operation: &str, field: &str) -> PortError {
    PortError::Other {
        operation: operation.to_string(),
        message: format!("response has no {field}"),
    }
}
