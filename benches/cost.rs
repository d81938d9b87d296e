//! `cargo bench --bench cost`: what one rollout per strategy costs — state transitions,
//! Lambda invocations, AWS calls, priced (src/cost.rs) — counted from the real state machine
//! and handlers run in the simulator, on the example's `web/staging` with its canary
//! analysis and without it, and the rollback reaction time per strategy (src/cost/reaction.rs).
//! `-- --write` also writes the tables into docs/PERFORMANCE.md.
//! The counts are deterministic; tests/scenarios.rs keeps them at or under
//! benches/figures.txt. The wall time printed is this machine's, and is never asserted.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/greenlight.yaml"))
        .expect("examples/greenlight.yaml");
    let example = greenlight_core::config::load(&text)
        .config
        .expect("the example is valid");
    let started = std::time::Instant::now();
    let mut block = String::new();
    for (title, config) in [
        (
            "With the example's canary analysis (2 metrics: 6 CloudWatch metrics per analysis)",
            example.clone(),
        ),
        (
            "With the same analysis at most every 5 minutes (`analysis.interval: 5m`)",
            greenlight::cost::analysis_every(&example, 5),
        ),
        (
            "Without canary analysis (alarms, target health and probes)",
            greenlight::cost::without_analysis(&example),
        ),
    ] {
        let costs = greenlight::cost::strategy_costs(&config);
        block.push_str(&format!(
            "{title}:\n\n{}\n",
            greenlight::cost::table(&costs)
        ));
    }
    let costs_secs = started.elapsed().as_secs_f64();
    let reactions = greenlight::cost::reaction::reaction_times(&example);
    block.push_str(&format!(
        "Rollback reaction time (virtual time, a failure 45 s into the first step's bake):\n\n{}\n",
        greenlight::cost::reaction::table(&reactions)
    ));
    print!("{block}");
    eprintln!(
        "16 rollouts costed in {costs_secs:.2} s and 16 failures timed in {:.2} s of wall time",
        started.elapsed().as_secs_f64() - costs_secs
    );
    if std::env::args().any(|a| a == "--write") {
        let path = greenlight::cost::write_section("cost", &block)
            .expect("docs/PERFORMANCE.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
