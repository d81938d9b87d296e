//! Reading a greenlight.yaml from disk for the CLI: problems printed as
//! `file:line:column: level: path: message`, the exit code when it cannot be used.

use std::path::Path;

use greenlight_core::config::{self, Config, Report};
use greenlight_core::decode::Level;

use crate::exit;

/// A file's text; on failure says why and returns the exit code.
pub fn read(path: &Path) -> Result<String, u8> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("greenlight: cannot read {}: {e}", path.display());
        exit::IO
    })
}

/// Prints each problem of a loaded configuration.
pub fn print_problems(file: &Path, report: &Report) {
    for p in &report.problems {
        let place = match (p.line, p.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", file.display()),
            (Some(l), None) => format!("{}:{l}", file.display()),
            _ => file.display().to_string(),
        };
        let level = p.level.as_str();
        let path = if p.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", p.path)
        };
        eprintln!("{place}: {level}: {path}{}", p.message);
    }
}

/// Loads and validates a configuration; on errors prints them and returns the exit code.
pub fn load(file: &Path) -> Result<Config, u8> {
    load_with_text(file).map(|(config, _)| config)
}

/// [`load`], with the text as written (what `config apply` stores beside the configuration).
pub fn load_with_text(file: &Path) -> Result<(Config, String), u8> {
    let text = read(file)?;
    let report = config::load(&text);
    print_problems(file, &report);
    report.config.map(|c| (c, text)).ok_or_else(|| {
        let n = report
            .problems
            .iter()
            .filter(|p| p.level == Level::Error)
            .count();
        eprintln!(
            "{}: {n} error(s); fix them first (greenlight config validate {0})",
            file.display()
        );
        exit::INVALID
    })
}

/// What `greenlight config validate --json` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Validation {
    pub file: String,
    /// No errors (warnings allowed).
    pub valid: bool,
    pub errors: usize,
    pub warnings: usize,
    /// Every problem, errors and warnings, in file order.
    pub problems: Vec<greenlight_core::decode::Problem>,
}
