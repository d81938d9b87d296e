//! Amazon ECR: images by digest and tag.

#[allow(unused_imports)]
use super::*;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageInfo {
    pub image: ImageRef,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
}

/// What an image says of its source, from its OCI labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImageSource {
    /// `org.opencontainers.image.revision`: the commit the image was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `org.opencontainers.image.created`: when the image was built (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
}

pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
pub const LABEL_CREATED: &str = "org.opencontainers.image.created";

impl ImageSource {
    /// The source of an image with these labels; a label that is empty, too long to be a
    /// revision (over 100 characters) or not a time is left out.
    pub fn from_labels(labels: &std::collections::BTreeMap<String, String>) -> ImageSource {
        ImageSource {
            revision: labels
                .get(LABEL_REVISION)
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty() && r.len() <= 100 && !r.contains(char::is_control)),
            created: labels
                .get(LABEL_CREATED)
                .and_then(|c| DateTime::parse_from_rfc3339(c.trim()).ok())
                .map(|c| c.with_timezone(&Utc)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.revision.is_none() && self.created.is_none()
    }

    /// The revision as people quote a commit: its first 12 characters.
    pub fn short_revision(&self) -> Option<&str> {
        self.revision.as_deref().map(|r| r.get(..12).unwrap_or(r))
    }
}

/// Amazon ECR.
pub trait ImageRegistry: super::Reach + Send + Sync {
    /// The image with this digest; `NotFound` when the repository or image is missing.
    fn image_by_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = PortResult<ImageInfo>> + Send;

    /// The image a tag points at now.
    fn image_by_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> impl Future<Output = PortResult<ImageInfo>> + Send;

    /// Every tagged image in the repository (ECR `DescribeImages`, all pages), in no
    /// particular order; `pushed_at` is when the digest first arrived in the repository.
    fn tagged_images(
        &self,
        repository: &str,
    ) -> impl Future<Output = PortResult<Vec<ImageInfo>>> + Send;

    /// The labels of the image's configuration: its manifest (`BatchGetImage`; for an
    /// image index, the manifest of its first image), then the configuration blob it names
    /// (`GetDownloadUrlForLayer` and a download).
    fn image_labels(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> impl Future<Output = PortResult<std::collections::BTreeMap<String, String>>> + Send;

    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`.
    fn repository_uri(&self, repository: &str) -> impl Future<Output = PortResult<String>> + Send;

    /// The repository's policy document (`GetRepositoryPolicy`); `None` when it has none.
    fn repository_policy(
        &self,
        repository: &str,
    ) -> impl Future<Output = PortResult<Option<String>>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_read_from_the_oci_labels_and_bad_ones_are_left_out() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let s = ImageSource::from_labels(&labels(&[
            (LABEL_REVISION, "0123456789abcdef0123456789abcdef01234567"),
            (LABEL_CREATED, "2026-11-30T10:15:00+01:00"),
            ("org.opencontainers.image.source", "https://example.com/web"),
        ]));
        assert_eq!(s.short_revision(), Some("0123456789ab"));
        assert_eq!(s.created.unwrap().to_rfc3339(), "2026-11-30T09:15:00+00:00");
        let bad = ImageSource::from_labels(&labels(&[
            (LABEL_REVISION, "  "),
            (LABEL_CREATED, "yesterday"),
        ]));
        assert!(bad.is_empty(), "{bad:?}");
        let long = "x".repeat(101);
        assert!(ImageSource::from_labels(&labels(&[(LABEL_REVISION, &long)])).is_empty());
        assert!(ImageSource::from_labels(&labels(&[(LABEL_REVISION, "a\nb")])).is_empty());
        assert!(ImageSource::from_labels(&labels(&[])).is_empty());
    }
}
