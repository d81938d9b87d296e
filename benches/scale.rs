//! `cargo bench --bench scale [-- APPS…]`: the simulator at scale — the given numbers of
//! apps (default 100, 500 and 1000), each pushed at once and rolled out together with no
//! bake (src/cost/scale.rs), finished executions keeping their summary only. Prints, per
//! run: rollouts that succeeded, wall time, rollouts per second, the heap per rollout at the
//! peak (all in flight) and once finished (counted by this binary's allocator), and the
//! growth of the process's peak resident set per rollout. Each size runs in a fresh process
//! (the resident peak only grows), started by this one. Wall time and memory are printed,
//! never asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the layout is passed through unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now =
                IN_USE.fetch_add(layout.size() as u64, Ordering::Relaxed) + layout.size() as u64;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
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
        let out = std::process::Command::new(&me)
            .arg(&n)
            .output()
            .expect("the bench runs itself");
        let row = String::from_utf8_lossy(&out.stdout);
        print!("{row}");
        block.push_str(&row);
    }
    if std::env::args().any(|a| a == "--write") {
        let path = greenlight::cost::write_section("scale", &block)
            .expect("docs/PERFORMANCE.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
