//! `cargo bench --bench cost`: the Step Functions state transitions (and their Standard
//! workflow price) of one rollout per strategy, counted from the real state machine run in
//! the simulator. `-- --write` also writes the table into docs/PERFORMANCE.md. The figures
//! are deterministic; tests/scenarios.rs keeps them at or under benches/transitions.txt.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/greenlight.yaml"))
        .expect("examples/greenlight.yaml");
    let example = greenlight_core::config::load(&text)
        .config
        .expect("the example is valid");
    let costs = greenlight::cost::strategy_costs(&example);
    let table = greenlight::cost::table(&costs);
    print!("{table}");
    if std::env::args().any(|a| a == "--write") {
        let path = root.join("docs/PERFORMANCE.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let (start, end) = ("<!-- cost:start -->\n", "<!-- cost:end -->");
        let updated = match (doc.find(start), doc.find(end)) {
            (Some(a), Some(b)) if a < b => {
                format!("{}{start}{table}{}", &doc[..a], &doc[b..])
            }
            _ => format!("{doc}{start}{table}{end}\n"),
        };
        std::fs::write(&path, updated).expect("docs/PERFORMANCE.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
