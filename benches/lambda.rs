//! `cargo bench --bench lambda [-- --write]`: greenlight's function binary beside the same
//! step written in Python with boto3, both run as Lambda runs them — each process under a
//! local Lambda Runtime API (greenlight_aws::testing::runtime_api), its AWS calls going to
//! moto — and timed the same way in the same run: init (start to first request for an
//! invocation), the first invocation, the warm ones, and the process's peak resident set.
//!
//! The step is the event relay (one SNS notification put on EventBridge with PutEvents):
//! `greenlight-functions` with `_HANDLER=event-relay`, built as the functions ship (the
//! size-tuned release profile, here for this machine's architecture), and
//! benches/lambda/event_relay.py. It builds the binary first (`cargo build --release`),
//! needs moto and boto3 in `.venv` (./scripts/test installs them), and runs on this
//! machine's architecture. The figures are wall-clock: printed, never asserted.
//!
//! `-- --binary PATH` measures that binary instead of building one (an older build, for a
//! before and after); its figures are printed only, never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use greenlight_aws::testing::runtime_api::{self, Answer, Run};

/// Cold starts per runtime, and warm invocations after each one's first.
const COLD_STARTS: usize = 5;
const WARM: usize = 20;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn binary() -> PathBuf {
    // From the binary's crate, so that its release profile is the one the functions ship
    // with (functions/common/.cargo/config.toml).
    eprintln!("$ (cd functions/common && cargo build --release --bin greenlight-functions)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--bin", "greenlight-functions"])
        .current_dir(root().join("functions/common"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the function binary does not build");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/functions"));
    target.join("release/greenlight-functions")
}

fn python() -> PathBuf {
    let python = std::env::var("GREENLIGHT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".venv/bin/python3"));
    let ok = Command::new(&python)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import boto3: run ./scripts/test once (it makes .venv) or set GREENLIGHT_PYTHON",
        python.display()
    );
    python
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Medians over the cold starts: init, first invocation, warm invocations (ms), peak RSS (MB).
struct Figures {
    init_ms: f64,
    first_ms: f64,
    warm_ms: f64,
    peak_mb: f64,
}

fn measure(name: &str, command: impl Fn() -> Command, env: &BTreeMap<String, String>) -> Figures {
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/event-relay/notification.json")).unwrap(),
    )
    .unwrap();
    let events = vec![event; 1 + WARM];
    let mut runs: Vec<Run> = Vec::new();
    for n in 0..COLD_STARTS {
        let run = runtime_api::run(command(), env, &events, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (_, answer) in &run.invocations {
            let Answer::Response(body) = answer else {
                panic!("{name}: {answer:?}");
            };
            let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            assert_eq!(answer["forwarded"], 1, "{name}: {body}");
        }
        eprintln!("{name}: cold start {}/{COLD_STARTS}", n + 1);
        runs.push(run);
    }
    Figures {
        init_ms: median(runs.iter().map(|r| ms(r.init)).collect()),
        first_ms: median(runs.iter().map(|r| ms(r.invocations[0].0)).collect()),
        warm_ms: median(
            runs.iter()
                .flat_map(|r| r.invocations[1..].iter().map(|(d, _)| ms(*d)))
                .collect(),
        ),
        peak_mb: median(
            runs.iter()
                .map(|r| r.peak_rss_kib as f64 / 1024.0)
                .collect(),
        ),
    }
}

/// The value of `--binary PATH`, if given.
fn binary_arg() -> Option<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--binary")?;
    let path = args.get(at + 1).map(PathBuf::from);
    assert!(
        path.is_some(),
        "--binary takes the path of a binary to measure"
    );
    path
}

fn main() {
    let given = binary_arg();
    let write = std::env::args().any(|a| a == "--write");
    assert!(
        !(write && given.is_some()),
        "--write records the binary the functions ship with: not with --binary"
    );
    let binary = given.clone().unwrap_or_else(binary);
    let label = given
        .as_deref()
        .and_then(Path::file_name)
        .map_or("greenlight-functions (Rust)".to_string(), |n| {
            format!("{} (Rust)", n.to_string_lossy())
        });
    let python = python();
    let moto = greenlight_aws::testing::moto();
    let mut env: BTreeMap<String, String> = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("GREENLIGHT_TABLE", "greenlight"),
        (
            "GREENLIGHT_TOPIC",
            "arn:aws:sns:us-east-1:123456789012:greenlight",
        ),
        ("_HANDLER", "event-relay"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let rust = measure(&label, || Command::new(&binary), &env);
    env.remove("_HANDLER");
    let script = root().join("benches/lambda/event_relay.py");
    let py = measure(
        "python + boto3",
        || {
            let mut c = Command::new(&python);
            c.arg(&script);
            c
        },
        &env,
    );
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let row = |what: &str, f: &Figures| {
        format!(
            "| {what} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} MB |\n",
            f.init_ms, f.first_ms, f.warm_ms, f.peak_mb
        )
    };
    let mut block = format!(
        "The event relay, {COLD_STARTS} cold starts each with {WARM} warm invocations after the first (medians), on {} ({:.1} MB binary):\n\n",
        std::env::consts::ARCH,
        size as f64 / 1e6
    );
    block.push_str("| function | init | first invocation | warm invocation | peak resident set |\n|---|---:|---:|---:|---:|\n");
    block.push_str(&row(&label, &rust));
    block.push_str(&row("Python 3 + boto3", &py));
    block.push_str(&format!(
        "| **Python / Rust** | **{:.0}×** | **{:.1}×** | **{:.1}×** | **{:.1}×** |\n",
        py.init_ms / rust.init_ms,
        py.first_ms / rust.first_ms,
        py.warm_ms / rust.warm_ms,
        py.peak_mb / rust.peak_mb
    ));
    print!("{block}");
    if write {
        let path = greenlight::cost::write_section("lambda", &block)
            .expect("docs/PERFORMANCE.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
