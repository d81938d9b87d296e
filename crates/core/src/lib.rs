//! greenlight's domain: configuration, ECR events, rollout plans, notifications, and the
//! ports (traits) through which every AWS call goes. No AWS SDK here.

pub mod analysis;
pub mod approvers;
pub mod arn;
pub mod config;
pub mod decode;
pub mod duration;
pub mod errors;
pub mod event;
pub mod glob;
pub mod image;
pub mod json;
pub mod matching;
pub mod notify;
pub mod plan;
pub mod ports;
pub mod rollout;
pub mod usecase;
pub mod yaml;

pub use arn::Arn;
pub use config::{Colour, Config};
pub use duration::Duration;
pub use image::{Digest, ImageRef};
