//! The use cases: what each Lambda function and each CLI command does, written against the
//! ports. Each is a plain async function taking `&impl Port + …` for exactly the ports it
//! uses, so the same code runs against AWS, the simulator, or a test double.

pub mod approval;
pub mod check;
pub mod configure;
pub mod dead_letters;
pub mod events;
pub mod finish;
pub mod init;
pub mod notices;
pub mod on_push;
pub mod prepare;
pub mod promote;
pub mod reach;
pub mod reconcile;
pub mod record;
pub mod report;
pub mod rollback;
pub mod shift;
pub mod status;
pub mod subscribe;
pub mod tick;
pub mod traffic;
pub mod watch;

pub use notices::{notice, notification};
pub use record::{ensure_not_stopped, guard, record, record_with};
pub use traffic::{colour_of, describe_traffic, describe_weights, live_colour};
pub use traffic::{set_and_verify, task_counts, task_split, weights_for};
