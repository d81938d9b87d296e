//! The `greenlight` command line, as a library so its tests can drive what it drives.

pub mod config_file;
pub mod cost;
pub mod demo;
pub mod init;
pub mod ops;
pub mod render;
pub mod scenario;
pub mod simulation;
pub mod timeline;

/// Exit codes, documented in README.md.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The input was read but is not acceptable (invalid config, unreadable event, …), or a
    /// simulation broke an invariant.
    pub const INVALID: u8 = 1;
    /// A file could not be read or written.
    pub const IO: u8 = 3;
    /// AWS kept failing with transient errors (throttling, 5xx, timeouts) while a command
    /// followed a deployment: what it followed may still be running.
    pub const UNAVAILABLE: u8 = 4;
    /// A `--wait` ran out of its `--timeout`: the deployment is still running.
    pub const TIMED_OUT: u8 = 5;
}
