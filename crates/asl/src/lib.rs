//! Runs Amazon States Language definitions (JSONPath query language): every state type,
//! input/output processing, intrinsic functions, Retry and Catch, timeouts and
//! `.waitForTaskToken`, on tokio's clock (virtual when paused). Task states are dispatched to
//! a [`Dispatcher`]. Features it does not support are refused when the definition loads.

pub mod definition;
pub mod engine;
pub mod intrinsics;
pub mod path;

pub use definition::{LoadError, Machine};
pub use engine::{Dispatcher, Engine, Execution, HistoryEvent, Status, TaskError};
