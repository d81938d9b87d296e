//! `greenlight simulate`: rehearse a configuration against what could go wrong. A scenario
//! (YAML, see docs/SCENARIOS.md) lists timed steps — pushes with image behaviours,
//! promotions, approvals and rejections, manual rollbacks, forced alarms, injected faults —
//! and, optionally, the outcomes it expects.

mod check;
mod model;
mod reading;
mod run;

pub use check::check_all;
pub use model::*;
pub use reading::{parse, FAULT_OPERATIONS};
pub use run::*;

#[allow(unused_imports)]
use reading::{fault_kind, Problems};
