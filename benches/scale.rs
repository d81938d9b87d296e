//! `cargo bench --bench scale [-- APPS…]`: the simulator at scale — the given numbers of
//! apps (default 100, 500 and 1000), each pushed at once and rolled out together with no
//! bake (src/cost/scale.rs), finished executions keeping their summary only. Prints, per
//! run: rollouts that succeeded, wall time, rollouts per second, the heap per rollout at the
//! peak (all in flight) and once finished (counted by this binary's allocator), and the
//! growth of the process's peak resident set per rollout. Each size runs three times, each
//! in a fresh process (the resident peak only grows) started by this one; the row of the
//! median wall time is printed. Wall time and memory are printed,
//! never asserted.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

use mimalloc::MiMalloc;

/// The CLI's allocator (mimalloc, as `src/main.rs` sets it), counting the bytes in use and
/// their peak.
struct Counting;

static IN_USE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed through unchanged to the allocator.
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            let now =
                IN_USE.fetch_add(layout.size() as u64, Ordering::Relaxed) + layout.size() as u64;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by this allocator with `layout`; the caller upholds
        // `realloc`'s contract, passed through unchanged.
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let (old, new) = (layout.size() as u64, new_size as u64);
            let now = if new >= old {
                IN_USE.fetch_add(new - old, Ordering::Relaxed) + (new - old)
            } else {
                IN_USE.fetch_sub(old - new, Ordering::Relaxed) - (old - new)
            };
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { MiMalloc.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Counted;

impl greenlight::cost::scale::Heap for Counted {
    fn in_use(&self) -> u64 {
        IN_USE.load(Ordering::Relaxed)
    }
    fn take_peak(&self) -> u64 {
        PEAK.swap(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed)
    }
}

/// How many times each size runs; the median is reported.
const RUNS: usize = 3;

/// The wall time of a row (its third cell, "1.23 s"); infinite when it has none (a run
/// that failed sorts last).
fn wall_secs(row: &str) -> f64 {
    row.split('|')
        .nth(3)
        .and_then(|c| c.trim().trim_end_matches(" s").parse().ok())
        .unwrap_or(f64::INFINITY)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let [one] = args.as_slice() {
        if let Ok(apps) = one.parse::<usize>() {
            let r = greenlight::cost::scale::run(apps, &Counted);
            println!(
                "| {} | {} | {:.2} s | {:.0} | {:.0} KiB | {:.0} KiB | {:.0} KiB |",
                r.apps,
                r.succeeded,
                r.wall_secs,
                r.rollouts_per_sec,
                r.peak_heap_kib_per_rollout(),
                r.finished_heap_kib_per_rollout(),
                r.kib_per_rollout()
            );
            return;
        }
    }
    let sizes = if args.is_empty() {
        vec!["100".to_string(), "500".into(), "1000".into()]
    } else {
        args
    };
    let mut block = "| apps | succeeded | wall time | rollouts/s | heap per rollout, all in flight | heap per finished rollout | peak resident set per rollout |\n|---:|---:|---:|---:|---:|---:|---:|\n".to_string();
    print!("{block}");
    let me = std::env::current_exe().expect("the bench's own path");
    for n in sizes {
        // Three runs, each in a fresh process; the row of the median wall time.
        let mut rows: Vec<(f64, String)> = (0..RUNS)
            .map(|_| {
                let out = std::process::Command::new(&me)
                    .arg(&n)
                    .output()
                    .expect("the bench runs itself");
                let row = String::from_utf8_lossy(&out.stdout).into_owned();
                (wall_secs(&row), row)
            })
            .collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let row = &rows[RUNS / 2].1;
        print!("{row}");
        block.push_str(row);
    }
    if std::env::args().any(|a| a == "--write") {
        let path = greenlight::cost::write_section("scale", &block)
            .expect("docs/PERFORMANCE.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
