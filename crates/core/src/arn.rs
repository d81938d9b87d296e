//! Amazon Resource Names, checked for the shape each field needs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `arn:partition:service:region:account:resource`, kept as written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arn(String);

/// The parts of an ARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl Arn {
    /// Parses any well-formed ARN.
    pub fn parse(text: &str) -> Result<Arn, String> {
        Arn::parse_owned(text.trim().to_string())
    }

    /// Parses an ARN already in a `String`, keeping it (trimmed) without a copy.
    pub fn parse_owned(mut text: String) -> Result<Arn, String> {
        if text.trim().len() != text.len() {
            text = text.trim().to_string();
        }
        let arn = Arn(text);
        arn.parts()?;
        Ok(arn)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parts(&self) -> Result<ArnParts<'_>, String> {
        let mut it = self.0.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        )
        else {
            return Err(format!(
                "`{}` is not an ARN; expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE",
                self.0
            ));
        };
        if !matches!(
            partition,
            "aws"
                | "aws-cn"
                | "aws-us-gov"
                | "aws-iso"
                | "aws-iso-b"
                | "aws-iso-e"
                | "aws-iso-f"
                | "aws-eusc"
        ) {
            return Err(format!(
                "`{}` has an unknown partition `{partition}`",
                self.0
            ));
        }
        if service.is_empty() || resource.is_empty() {
            return Err(format!("`{}` is missing its service or resource", self.0));
        }
        if !account.is_empty()
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "`{}` has account `{account}`; an account ID is 12 digits",
                self.0
            ));
        }
        Ok(ArnParts {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// Checks that the ARN names a resource of `service` whose resource part starts with
    /// `resource_prefix`, in a region and account.
    pub fn expect(&self, service: &str, resource_prefix: &str, what: &str) -> Result<(), String> {
        let p = self.parts()?;
        if p.service != service || !p.resource.starts_with(resource_prefix) {
            return Err(format!(
                "`{}` is not {what} ARN (expected arn:aws:{service}:REGION:ACCOUNT:{resource_prefix}…)",
                self.0
            ));
        }
        if p.region.is_empty() || p.account.is_empty() {
            return Err(format!("`{}` must name its region and account", self.0));
        }
        Ok(())
    }

    /// The region and account, for checking that related resources live together.
    pub fn home(&self) -> Option<(&str, &str)> {
        self.parts().ok().map(|p| (p.region, p.account))
    }

    /// The last path segment of the resource, e.g. the topic or target group name.
    pub fn short_name(&self) -> &str {
        let resource = self.parts().map(|p| p.resource).unwrap_or(&self.0);
        match resource.strip_prefix("targetgroup/") {
            Some(rest) => rest.split('/').next().unwrap_or(rest),
            None => resource.rsplit(['/', ':']).next().unwrap_or(resource),
        }
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Arn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Arn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Arn::parse_owned(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Arn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Arn".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12})?:.+$",
            "description": "An Amazon Resource Name."
        })
    }
}

impl crate::decode::Decode for Arn {
    fn decode(
        node: &crate::yaml::Node,
        path: &str,
        dx: &mut crate::decode::Diagnostics,
    ) -> Option<Self> {
        let text = crate::decode::scalar(node, path, dx, "an ARN")?;
        match Arn::parse(text) {
            Ok(arn) => Some(arn),
            Err(e) => {
                dx.error(path, Some(node.span), e);
                None
            }
        }
    }
}

/// The ARN of the execution `name` of a state machine.
pub fn execution_arn(state_machine: &Arn, name: &str) -> Option<String> {
    let (head, machine) = state_machine.as_str().rsplit_once(":stateMachine:")?;
    Some(format!("{head}:execution:{machine}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";

    #[test]
    fn parses_and_checks_kind() {
        let arn = Arn::parse(LISTENER).unwrap();
        assert!(arn
            .expect("elasticloadbalancing", "listener/app/", "an ALB listener")
            .is_ok());
        assert!(arn
            .expect("elasticloadbalancing", "targetgroup/", "a target group")
            .is_err());
        assert_eq!(arn.home(), Some(("eu-west-1", "123456789012")));
    }

    #[test]
    fn refuses_malformed() {
        assert!(Arn::parse("listener/app/web").is_err());
        assert!(Arn::parse("arn:aws:sns:eu-west-1:1234:topic").is_err());
        assert!(Arn::parse("arn:nope:sns:eu-west-1:123456789012:topic").is_err());
    }

    #[test]
    fn short_names() {
        let tg = Arn::parse("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-blue/73e2d6bc24d8a067").unwrap();
        assert_eq!(tg.short_name(), "web-blue");
        let topic = Arn::parse("arn:aws:sns:eu-west-1:123456789012:deploys").unwrap();
        assert_eq!(topic.short_name(), "deploys");
    }
}
