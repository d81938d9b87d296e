//! Simulator scale: `apps` apps, each with one environment deploying on push, all pushed at
//! once and rolled out together (all at once, no bake, no rollback window: the simulator's
//! own cost, not virtual waiting), finished executions keeping their summary only. What it
//! measures: that every rollout succeeded, the wall time, and the memory the process grew
//! by (peak resident set, from `/proc/self/status`).

use greenlight_core::config::Config;
use greenlight_core::ports::Outcome;

use crate::simulation::digest_for;

/// What one run at scale gave.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScaleRun {
    pub apps: usize,
    pub succeeded: usize,
    pub wall_secs: f64,
    pub rollouts_per_sec: f64,
    /// Peak resident set before and after the run, in KiB (`VmHWM`); 0 where it is not
    /// readable.
    pub peak_kib_before: u64,
    pub peak_kib_after: u64,
    /// Heap in use, in bytes, as the caller's [`Heap`] counts it: before the run, at its
    /// peak (every rollout in flight), and once every rollout has finished (what finished
    /// rollouts keep). 0 without a counter.
    pub heap_before: u64,
    pub heap_peak: u64,
    pub heap_finished: u64,
}

impl ScaleRun {
    /// The peak resident set's growth divided by the rollouts, in KiB.
    pub fn kib_per_rollout(&self) -> f64 {
        self.peak_kib_after.saturating_sub(self.peak_kib_before) as f64 / self.apps.max(1) as f64
    }

    /// The heap's peak growth per rollout in flight, in KiB.
    pub fn peak_heap_kib_per_rollout(&self) -> f64 {
        self.heap_peak.saturating_sub(self.heap_before) as f64 / 1024.0 / self.apps.max(1) as f64
    }

    /// The heap kept per finished rollout, in KiB.
    pub fn finished_heap_kib_per_rollout(&self) -> f64 {
        self.heap_finished.saturating_sub(self.heap_before) as f64
            / 1024.0
            / self.apps.max(1) as f64
    }
}

/// A count of the heap in use, for a binary whose global allocator keeps one (the scale
/// bench's does).
pub trait Heap {
    /// Bytes in use now.
    fn in_use(&self) -> u64;
    /// The most bytes in use since the last reset; resets the peak to what is in use now.
    fn take_peak(&self) -> u64;
}

/// No counter: every figure 0.
pub struct NoHeap;

impl Heap for NoHeap {
    fn in_use(&self) -> u64 {
        0
    }
    fn take_peak(&self) -> u64 {
        0
    }
}

/// A configuration of `apps` apps named `app0000`…, each with a `staging` environment behind
/// its own load balancer.
pub fn config(apps: usize) -> Config {
    let mut yaml = String::from("version: 1\napps:\n");
    for i in 0..apps {
        let id = format!("{i:016x}");
        let elb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012";
        yaml.push_str(&format!(
            "  app{i:04}:
    repository: app{i:04}
    container: app
    environments:
      staging:
        trigger: {{ on_push: {{ tags: [\"v*\"] }} }}
        cluster: staging
        services: {{ blue: app{i:04}-blue, green: app{i:04}-green }}
        target_groups:
          blue: {elb}:targetgroup/app{i:04}-blue/{id}
          green: {elb}:targetgroup/app{i:04}-green/{id}
        listeners:
          production: {elb}:listener/app/app{i:04}/{id}/{id}
        strategy: all_at_once
        checks: {{ interval: 10s, final_bake: 0s }}
        rollback_window: 0s
"
        ));
    }
    greenlight_core::config::load(&yaml)
        .config
        .expect("the generated configuration is valid")
}

/// The peak resident set of this process so far, in KiB.
pub fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Builds the world for `apps` apps, pushes every app at once and waits until every rollout
/// has ended; `heap` counts the memory.
pub fn run(apps: usize, heap: &dyn Heap) -> ScaleRun {
    let config = config(apps);
    let rt = super::paused_runtime();
    let peak_kib_before = peak_kib();
    let heap_before = heap.in_use();
    heap.take_peak();
    let mut heap_finished = 0;
    let started = std::time::Instant::now();
    let succeeded = rt.block_on(async {
        let s = super::simulation(&config);
        s.summaries_only();
        for app in config.apps.keys() {
            let _ = s
                .push(
                    app,
                    "v1.0.0",
                    &digest_for(&format!("{app}-v1")),
                    greenlight_sim::Behaviour::healthy(),
                )
                .await;
        }
        s.settle().await;
        heap_finished = heap.in_use();
        let mut succeeded = 0;
        for app in config.apps.keys() {
            let latest = greenlight_core::usecase::record::latest(&s.sim, app, "staging")
                .await
                .ok()
                .flatten();
            if latest.is_some_and(|r| r.outcome == Some(Outcome::Succeeded)) {
                succeeded += 1;
            }
        }
        s.close();
        succeeded
    });
    let wall_secs = started.elapsed().as_secs_f64();
    let heap_peak = heap.take_peak();
    ScaleRun {
        heap_before,
        heap_peak,
        heap_finished,
        apps,
        succeeded,
        wall_secs,
        rollouts_per_sec: apps as f64 / wall_secs.max(1e-9),
        peak_kib_before,
        peak_kib_after: peak_kib(),
    }
}
