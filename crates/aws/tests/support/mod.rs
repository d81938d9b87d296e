//! The moto harness lives in greenlight-aws (feature `testing`) so other crates' tests share it.

#![allow(unused_imports)]

pub use greenlight_aws::testing::*;
