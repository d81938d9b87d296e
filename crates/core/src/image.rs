//! Image digests and references. greenlight deploys `repository@digest`, never a tag.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A content digest such as `sha256:4f1c…` (64 hex digits; `sha512` takes 128).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, String> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(format!(
                "`{text}` is not an image digest; expected sha256:<64 hex digits>"
            ));
        };
        let expected = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(format!(
                    "`{text}` uses digest algorithm `{algorithm}`; expected sha256 or sha512"
                ))
            }
        };
        if hex.len() != expected
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "`{text}` is not an image digest; expected {algorithm}:<{expected} lowercase hex digits>"
            ));
        }
        Ok(Digest(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(_, h)| h)
    }

    /// The first 12 hex digits, as people write them.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image in an ECR repository, pinned by digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ImageRef {
    pub repository: String,
    pub digest: Digest,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.digest)
    }
}

impl ImageRef {
    /// The image as ECS pulls it, given the repository URI
    /// (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`).
    pub fn pull_reference(&self, repository_uri: &str) -> String {
        format!("{repository_uri}@{}", self.digest)
    }
}

#[cfg(test)]
pub(crate) fn test_digest(seed: u8) -> Digest {
    Digest::parse(&format!("sha256:{}", format!("{seed:02x}").repeat(32))).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let d = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        assert_eq!(d.short(), "abababababab");
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse(&format!("sha256:{}", "AB".repeat(32))).is_err());
        assert!(Digest::parse(&format!("md5:{}", "ab".repeat(32))).is_err());
        assert!(Digest::parse("latest").is_err());
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
