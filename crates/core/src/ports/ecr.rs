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

/// Amazon ECR.
pub trait ImageRegistry: Send + Sync {
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

    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`.
    fn repository_uri(&self, repository: &str) -> impl Future<Output = PortResult<String>> + Send;
}
