//! `ImageRegistry` on Amazon ECR.

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, ImageIdentifier, TagStatus};
use greenlight_core::ports::{ImageInfo, ImageRegistry, PortError, PortResult};
use greenlight_core::{Digest, ImageRef};

use crate::error::{classify, missing};
use crate::AwsCloud;

impl AwsCloud {
    async fn describe_image(
        &self,
        repository: &str,
        id: ImageIdentifier,
        what: String,
    ) -> PortResult<ImageInfo> {
        const OP: &str = "ecr:DescribeImages";
        let out = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_image_not_found_exception() => PortError::not_found(what.clone()),
                Some(se) if se.is_repository_not_found_exception() => {
                    PortError::not_found(format!("ECR repository {repository}"))
                }
                _ => classify(OP, e),
            })?;
        let detail = out
            .image_details()
            .first()
            .ok_or_else(|| PortError::not_found(what))?;
        image_info(repository, detail)
    }
}

/// An ECR image detail as the port's `ImageInfo`.
fn image_info(repository: &str, detail: &ImageDetail) -> PortResult<ImageInfo> {
    const OP: &str = "ecr:DescribeImages";
    let digest = detail
        .image_digest()
        .ok_or_else(|| missing(OP, "imageDigest"))?;
    Ok(ImageInfo {
        image: ImageRef {
            repository: repository.to_string(),
            digest: Digest::parse(digest).map_err(|message| PortError::Other {
                operation: OP.into(),
                message,
            })?,
        },
        tags: detail.image_tags().to_vec(),
        pushed_at: detail
            .image_pushed_at()
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
    })
}

impl ImageRegistry for AwsCloud {
    async fn image_by_digest(&self, repository: &str, digest: &Digest) -> PortResult<ImageInfo> {
        let id = ImageIdentifier::builder()
            .image_digest(digest.as_str())
            .build();
        self.describe_image(repository, id, format!("image {repository}@{digest}"))
            .await
    }

    async fn image_by_tag(&self, repository: &str, tag: &str) -> PortResult<ImageInfo> {
        let id = ImageIdentifier::builder().image_tag(tag).build();
        self.describe_image(repository, id, format!("image {repository}:{tag}"))
            .await
    }

    async fn tagged_images(&self, repository: &str) -> PortResult<Vec<ImageInfo>> {
        const OP: &str = "ecr:DescribeImages";
        let mut images = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .ecr
                .describe_images()
                .repository_name(repository)
                .filter(
                    DescribeImagesFilter::builder()
                        .tag_status(TagStatus::Tagged)
                        .build(),
                )
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(se) if se.is_repository_not_found_exception() => {
                        PortError::not_found(format!("ECR repository {repository}"))
                    }
                    _ => classify(OP, e),
                })?;
            // The filter asks for tagged images only; an untagged one is dropped here too
            // (not every endpoint applies the filter).
            for detail in out.image_details() {
                if !detail.image_tags().is_empty() {
                    images.push(image_info(repository, detail)?);
                }
            }
            match out.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(images),
            }
        }
    }

    async fn repository_uri(&self, repository: &str) -> PortResult<String> {
        const OP: &str = "ecr:DescribeRepositories";
        let out = self
            .ecr
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_repository_not_found_exception() => {
                    PortError::not_found(format!("ECR repository {repository}"))
                }
                _ => classify(OP, e),
            })?;
        out.repositories()
            .first()
            .and_then(|r| r.repository_uri())
            .map(str::to_string)
            .ok_or_else(|| PortError::not_found(format!("ECR repository {repository}")))
    }
}
