//! `greenlight`: blue/green deployments for Amazon ECS.

use greenlight::{demo, render};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use greenlight_core::config::{self, Config};
use greenlight_core::decode::Level;
use greenlight_core::event::{parse_event, EcrEvent};
use greenlight_core::matching::{match_push, MatchOutcome};

use greenlight::config_file::{self, print_problems, read};
use greenlight::{exit, ops};

/// The simulator allocates and frees small JSON values at a high rate: mimalloc serves
/// them much faster than the system allocator (docs/PERFORMANCE.md, "Simulator scale").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A configuration `config apply`/`diff` could not use: nothing reaches the stack.
fn nothing_written(file: &Path, code: u8) -> u8 {
    eprintln!(
        "greenlight: {} is not valid; nothing was written",
        file.display()
    );
    code
}

/// Runs an AWS command, printing its failure.
fn aws<F, Fut>(f: F) -> u8
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ops::Outcome>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match rt.block_on(f()) {
        Ok(()) => exit::OK,
        Err(ops::Stop(message, code)) => {
            eprintln!("greenlight: {message}");
            code
        }
    }
}

#[derive(Parser)]
#[command(name = "greenlight", version, about = "Blue/green deployments for Amazon ECS, orchestrated by Step Functions", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    stack: greenlight::ops::Stack,
}

#[derive(Subcommand)]
enum Command {
    /// Work with greenlight.yaml.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Adopt an existing ECS service: read it (Describe calls only) and write the
    /// CloudFormation template that adds its second colour; once that is deployed, run it
    /// again to write the greenlight.yaml environment with every ARN filled in.
    Init {
        #[command(flatten)]
        args: greenlight::init::InitArgs,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Show which deployments an ECR event would start, and why others would not.
    Match {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// An EventBridge event as JSON (e.g. events/on-push/push-tagged.json).
        #[arg(long, short)]
        event: PathBuf,
        /// Print one JSON document instead of text (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Show the traffic steps an environment's strategy turns into.
    Plan {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// The app, as named in the configuration.
        app: String,
        /// The environment of that app.
        environment: String,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Start the rollout, in the next environment, of the newest digest that succeeded in one environment (or `--digest`).
    Promote {
        /// The app, as named in the configuration.
        app: String,
        /// The environment the digest succeeded in.
        #[arg(long)]
        from: String,
        /// The environment to deploy it to (its `trigger` must be `promote_from: FROM`).
        #[arg(long)]
        to: String,
        /// A digest that is live in --from, or succeeded there before.
        #[arg(long)]
        digest: Option<String>,
        /// Follow the deployment until it ends (exit 1 unless it succeeds). Progress goes
        /// to standard error, so that with --json standard output holds one document.
        #[arg(long)]
        wait: bool,
        /// With --wait: stop following after this long (`30m`, `2h`) and exit 5.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<greenlight_core::Duration>,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Approve a deployment that waits for approval, as the AWS identity you are signed in
    /// as (a signed request to the stack's approval URL).
    Approve {
        /// The deployment id (`greenlight status` shows the one waiting).
        deployment: String,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Reject a deployment that waits for approval: it rolls back.
    Reject {
        /// The deployment id (`greenlight status` shows the one waiting).
        deployment: String,
        /// Why: recorded in the history and sent with the notification.
        #[arg(long)]
        reason: String,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Stop a running deployment (it rolls back), or flip a finished one back to the
    /// previous colour within its rollback window.
    Rollback {
        /// The app, as named in the configuration.
        app: String,
        /// The environment to roll back.
        #[arg(long = "env")]
        environment: String,
        /// When a running deployment is asked to stop: follow it until it has rolled back
        /// (exit 1 if it succeeded anyway). Progress goes to standard error.
        #[arg(long)]
        wait: bool,
        /// With --wait: stop following after this long (`10m`) and exit 5.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<greenlight_core::Duration>,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// What runs where: live colour, image, weights, deployment in flight.
    Status {
        /// Only this app.
        app: Option<String>,
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
        /// Refresh every 5 seconds until interrupted (the screen is redrawn only on a
        /// terminal).
        #[arg(long)]
        watch: bool,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// The four DORA measures per app and environment over a period, from the deployment
    /// history: deployment frequency, lead time, change failure rate, time to restore.
    Report {
        /// Only this app.
        app: Option<String>,
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
        /// The period, ending now (`7d`, `30d`, `12h`).
        #[arg(long, default_value = "30d", value_parser = parse_duration)]
        since: greenlight_core::Duration,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Past deployments of an environment, newest first.
    History {
        /// The app, as named in the configuration.
        app: String,
        /// The environment.
        #[arg(long = "env")]
        environment: String,
        /// How many deployments, newest first.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Subscribe an e-mail address, queue, HTTPS endpoint or function to notifications,
    /// filtered on app, environment, severity and event.
    Subscribe {
        #[command(flatten)]
        args: greenlight::ops::SubscribeArgs,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscription.
    Unsubscribe {
        /// The subscription's ARN (`greenlight subscriptions` lists them).
        subscription: String,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// List the pushes and alarm changes greenlight could not act on (the stack's
    /// dead-letter queue); `--replay` deploys the pushes now (idempotently) and drops the
    /// alarm changes. Exits 1 when something is left in the queue after a replay.
    DeadLetters {
        /// Act on them: replay the pushes, drop the alarm changes.
        #[arg(long)]
        replay: bool,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// List the topic's subscriptions and their filters.
    Subscriptions {
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Rehearse a configuration against scenarios (pushes, approvals, alarms, faults) in a
    /// simulated AWS account. Exits 1 when an invariant breaks or an expectation is not met.
    Simulate {
        /// The configuration file to rehearse.
        #[arg(long, short)]
        config: PathBuf,
        /// A scenario file, or a directory of them (repeatable). Format: docs/SCENARIOS.md.
        #[arg(long, short, required = true)]
        scenario: Vec<PathBuf>,
        /// After each scenario, the four DORA measures of its history (as `greenlight
        /// report` computes them).
        #[arg(long)]
        report: bool,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// The real state machine and handlers against a simulated AWS, in four acts; needs no
    /// AWS account.
    Demo {
        /// Print the full event log as one JSON document instead of the timeline (its
        /// shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a configuration and list every problem, with its YAML path and line.
    Validate {
        /// The configuration file (greenlight.yaml).
        file: PathBuf,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of greenlight.yaml (published as docs/greenlight.schema.json).
    Schema,
    /// Validate FILE, show how it differs from the stored configuration, and store it.
    Apply {
        /// The configuration file (greenlight.yaml).
        file: PathBuf,
        /// Show the differences only.
        #[arg(long)]
        dry_run: bool,
        /// Who applies it, as recorded with the version (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Print the stored configuration.
    Show {
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
    /// Show how FILE differs from the stored configuration.
    Diff {
        /// The configuration file (greenlight.yaml).
        file: PathBuf,
        /// Print one JSON document (its shape: docs/JSON.md).
        #[arg(long)]
        json: bool,
    },
}

/// A duration flag (`30s`, `5m`, `1h30m`).
fn parse_duration(s: &str) -> Result<greenlight_core::Duration, String> {
    s.parse()
        .map_err(|e: greenlight_core::duration::DurationError| e.to_string())
}

/// A reader that closed the pipe (`greenlight demo --json | head`) is not an error: printing
/// to it ends the command quietly, with exit code 0, instead of a panic message.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // `println!` and the completion writer both fail with EPIPE's message.
        if message.contains("Broken pipe") {
            std::process::exit(i32::from(exit::OK));
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    ExitCode::from(run(cli.command, cli.stack))
}

/// The commands that need no AWS account; the others go to [`operate`].
fn run(command: Command, stack: ops::Stack) -> u8 {
    match command {
        Command::Config(ConfigCommand::Validate { file, json }) => validate(&file, json),
        Command::Config(ConfigCommand::Schema) => {
            println!("{}", schema_json());
            exit::OK
        }
        Command::Match {
            config,
            event,
            json,
        } => match_cmd(&config, &event, json),
        Command::Plan {
            config,
            app,
            environment,
            json,
        } => plan_cmd(&config, &app, &environment, json),
        Command::Demo { json } => demo::run(json),
        Command::Simulate {
            config,
            scenario,
            report,
            json,
        } => simulate_cmd(&config, &scenario, report, json),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "greenlight",
                &mut std::io::stdout(),
            );
            exit::OK
        }
        other => operate(other, stack),
    }
}

/// The commands that read or change a stack in AWS.
fn operate(command: Command, stack: ops::Stack) -> u8 {
    if matches!(
        command,
        Command::Config(ConfigCommand::Validate { .. } | ConfigCommand::Schema)
            | Command::Match { .. }
            | Command::Plan { .. }
            | Command::Demo { .. }
            | Command::Simulate { .. }
            | Command::Completions { .. }
    ) {
        return run(command, stack);
    }
    // `init` reads the service to adopt, not the greenlight stack (which may not exist yet).
    if let Command::Init { args, json } = command {
        return aws(|| async move {
            greenlight::init::init_cmd(&stack.inventory().await, &args, json).await
        });
    }
    let mut resolved = None;
    let code = aws(|| async {
        resolved = Some(stack.resolve().await?);
        Ok(())
    });
    let Some(stack) = resolved.filter(|_| code == exit::OK) else {
        return code;
    };
    match command {
        Command::Config(ConfigCommand::Apply {
            file,
            dry_run,
            by,
            json,
        }) => match config_file::load_with_text(&file) {
            Err(code) => nothing_written(&file, code),
            Ok((config, text)) => aws(|| async move {
                ops::config_apply(&stack, &config, &text, &ops::who(&by), dry_run, json).await
            }),
        },
        Command::Config(ConfigCommand::Show { json }) => {
            aws(|| async move { ops::config_show(&stack, json).await })
        }
        Command::Config(ConfigCommand::Diff { file, json }) => {
            match config_file::load_with_text(&file) {
                Err(code) => nothing_written(&file, code),
                Ok((config, text)) => {
                    aws(|| async move { ops::config_diff(&stack, &config, &text, json).await })
                }
            }
        }
        Command::Promote {
            app,
            from,
            to,
            digest,
            wait,
            timeout,
            json,
        } => aws(|| async move {
            let wait = wait.then_some(ops::Wait { timeout });
            ops::promote_and_follow(&stack, &app, &from, &to, digest.as_deref(), wait, json).await
        }),
        Command::Approve { deployment, json } => {
            aws(|| async move { ops::answer_cmd(&stack, &deployment, None, json).await })
        }
        Command::Reject {
            deployment,
            reason,
            json,
        } => aws(|| async move { ops::answer_cmd(&stack, &deployment, Some(&reason), json).await }),
        Command::Rollback {
            app,
            environment,
            wait,
            timeout,
            json,
        } => aws(|| async move {
            let by = ops::caller(&stack.cloud().await?).await?;
            let wait = wait.then_some(ops::Wait { timeout });
            ops::rollback_cmd(&stack, &app, &environment, &by, wait, json).await
        }),
        Command::Status {
            app,
            environment,
            watch,
            json,
        } => aws(|| async move {
            ops::status_watch(&stack, app.as_deref(), environment.as_deref(), watch, json).await
        }),
        Command::Report {
            app,
            environment,
            since,
            json,
        } => aws(|| async move {
            ops::report_cmd(&stack, app.as_deref(), environment.as_deref(), since, json).await
        }),
        Command::History {
            app,
            environment,
            limit,
            json,
        } => aws(|| async move { ops::history_cmd(&stack, &app, &environment, limit, json).await }),
        Command::Subscribe { args, json } => {
            aws(|| async move { ops::subscribe_cmd(&stack, &args, json).await })
        }
        Command::DeadLetters { replay, json } => {
            aws(|| async move { ops::dead_letters_cmd(&stack, replay, json).await })
        }
        Command::Unsubscribe { subscription, json } => {
            aws(|| async move { ops::unsubscribe_cmd(&stack, &subscription, json).await })
        }
        Command::Subscriptions { json } => {
            aws(|| async move { ops::subscriptions_cmd(&stack, json).await })
        }

        local => run(local, stack),
    }
}

/// The JSON Schema of the configuration format.
fn schema_json() -> String {
    let mut schema = schemars::schema_for!(Config);
    schema.insert(
        "$id".into(),
        "https://greenlight.dev/greenlight.schema.json".into(),
    );
    schema.insert("title".into(), "greenlight.yaml".into());
    serde_json::to_string_pretty(&schema).expect("schema serializes")
}

fn validate(file: &Path, json: bool) -> u8 {
    let text = match read(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let report = config::load(&text);
    let errors = report
        .problems
        .iter()
        .filter(|p| p.level == Level::Error)
        .count();
    let warnings = report
        .problems
        .iter()
        .filter(|p| p.level == Level::Warning)
        .count();
    if json {
        let out = config_file::Validation {
            file: file.display().to_string(),
            valid: report.is_valid(),
            errors,
            warnings,
            problems: report.problems.clone(),
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    } else {
        print_problems(file, &report);
        if let Some(config) = &report.config {
            let envs: usize = config.apps.values().map(|a| a.environments.len()).sum();
            println!(
                "{}: valid ({} app(s), {envs} environment(s){})",
                file.display(),
                config.apps.len(),
                if warnings > 0 {
                    format!(", {warnings} warning(s)")
                } else {
                    String::new()
                }
            );
        } else {
            println!(
                "{}: {errors} error(s), {warnings} warning(s)",
                file.display()
            );
        }
    }
    if report.is_valid() {
        exit::OK
    } else {
        exit::INVALID
    }
}

fn match_cmd(config_file: &Path, event_file: &Path, json: bool) -> u8 {
    let config = match config_file::load(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let text = match read(event_file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{}: not JSON: {e}", event_file.display());
            return exit::INVALID;
        }
    };
    let outcome = match parse_event(&value) {
        Ok(EcrEvent::Push(push)) => match_push(&config, &push),
        Ok(EcrEvent::Ignored(reason)) => MatchOutcome {
            ignored: Some(reason),
            ..Default::default()
        },
        Err(e) => {
            eprintln!("{}: {e}", event_file.display());
            return exit::INVALID;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome).unwrap());
    } else {
        print!("{}", render::match_outcome(&outcome));
    }
    exit::OK
}

fn plan_cmd(config_file: &Path, app: &str, environment: &str, json: bool) -> u8 {
    let config = match config_file::load(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some((_, env)) = config.environment(app, environment) else {
        let known: Vec<String> = config
            .apps
            .iter()
            .flat_map(|(a, app)| app.environments.keys().map(move |e| format!("{a}/{e}")))
            .collect();
        eprintln!(
            "no environment {app}/{environment} in {}; configured: {}",
            config_file.display(),
            known.join(", ")
        );
        return exit::INVALID;
    };
    let plan = match env.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{app}/{environment}: {e}");
            return exit::INVALID;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan).unwrap());
    } else {
        print!("{}", render::plan(&env.strategy, &plan));
    }
    exit::OK
}

fn simulate_cmd(config_file: &Path, paths: &[PathBuf], dora: bool, json: bool) -> u8 {
    let config = match config_file::load(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = match std::fs::read_dir(p) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| {
                        matches!(f.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
                    })
                    .collect(),
                Err(e) => {
                    eprintln!("greenlight: cannot read {}: {e}", p.display());
                    return exit::IO;
                }
            };
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut scenarios = std::collections::BTreeMap::new();
    for f in &files {
        let text = match read(f) {
            Ok(t) => t,
            Err(code) => return code,
        };
        match greenlight::scenario::parse(&text) {
            Ok(s) => {
                scenarios.insert(f.display().to_string(), s);
            }
            Err(e) => {
                for line in e.lines() {
                    eprintln!("{}:{line}", f.display());
                }
                return exit::INVALID;
            }
        }
    }
    let problems = greenlight::scenario::check_all(&config, &scenarios);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return exit::INVALID;
    }
    if greenlight::scenario::simulate(&config, &scenarios, json, dora) {
        exit::OK
    } else {
        exit::INVALID
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command, flag and argument says what it is in `--help`.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(format!("{here}: no description"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{here}: {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&<Cli as clap::CommandFactory>::command(), "", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
