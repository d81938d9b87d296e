//! `ImageRegistry` on Amazon ECR.

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, ImageIdentifier, TagStatus};
use std::collections::BTreeMap;

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

/// The manifest types greenlight reads (Docker v2 and OCI, images and indexes).
const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

impl AwsCloud {
    /// An image's manifest, as JSON.
    async fn manifest(&self, repository: &str, digest: &str) -> PortResult<serde_json::Value> {
        const OP: &str = "ecr:BatchGetImage";
        let out = self
            .ecr
            .batch_get_image()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .set_accepted_media_types(Some(MANIFEST_TYPES.map(String::from).to_vec()))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_repository_not_found_exception() => {
                    PortError::not_found(format!("ECR repository {repository}"))
                }
                _ => classify(OP, e),
            })?;
        let text = out
            .images()
            .first()
            .and_then(|i| i.image_manifest())
            .ok_or_else(|| PortError::not_found(format!("image {repository}@{digest}")))?;
        serde_json::from_str(text).map_err(|e| PortError::Other {
            operation: OP.into(),
            message: format!("the manifest is not JSON: {e}"),
        })
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

    async fn image_labels(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> PortResult<BTreeMap<String, String>> {
        const OP: &str = "ecr:GetDownloadUrlForLayer";
        let mut manifest = self.manifest(repository, digest.as_str()).await?;
        // An image index (several platforms): the first image's manifest (attestations
        // are listed with the platform `unknown`).
        if let Some(list) = manifest["manifests"].as_array() {
            let first = list
                .iter()
                .find(|m| m["platform"]["os"] != "unknown")
                .and_then(|m| m["digest"].as_str())
                .ok_or_else(|| missing("ecr:BatchGetImage", "manifests[].digest"))?
                .to_string();
            manifest = self.manifest(repository, &first).await?;
        }
        let Some(config) = manifest["config"]["digest"].as_str() else {
            return Ok(BTreeMap::new());
        };
        let url = self
            .ecr
            .get_download_url_for_layer()
            .repository_name(repository)
            .layer_digest(config)
            .send()
            .await
            .map_err(|e| classify(OP, e))?
            .download_url
            .ok_or_else(|| missing(OP, "downloadUrl"))?;
        let unavailable = |message: String| PortError::Unavailable {
            operation: "GET image configuration".into(),
            message,
        };
        let response = self
            .http
            .get(&url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| PortError::Other {
                operation: "GET image configuration".into(),
                message: format!("the configuration is not JSON: {e}"),
            })?;
        Ok(body["config"]["Labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect())
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

    async fn repository_policy(&self, repository: &str) -> PortResult<Option<String>> {
        const OP: &str = "ecr:GetRepositoryPolicy";
        match self
            .ecr
            .get_repository_policy()
            .repository_name(repository)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy_text().map(str::to_string)),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_repository_policy_not_found_exception() => Ok(None),
                Some(se) if se.is_repository_not_found_exception() => {
                    Err(PortError::not_found(format!("ECR repository {repository}")))
                }
                _ => Err(classify(OP, e)),
            },
        }
    }
}
