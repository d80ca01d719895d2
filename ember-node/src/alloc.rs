//! The process allocator: mimalloc, counted. `used_memory` in INFO is the bytes mimalloc
//! really handed out (its usable size of every live block), summed over per-thread
//! counters so counting never bounces one cache line between shard threads.
//!
//! Only the `ember-server` binary installs it; elsewhere (unit tests, the simulator)
//! `allocated_bytes` is `None` and callers fall back to the shards' own accounting.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

const STRIPES: usize = 16;
/// mimalloc aligns every block to this already; asking for it through the aligned entry
/// points would send allocations down a slower path that over-allocates.
const NATURAL_ALIGN: usize = 16;

#[repr(align(64))]
struct Stripe(AtomicIsize);

static STRIPES_USED: [Stripe; STRIPES] = [const { Stripe(AtomicIsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn stripe() -> &'static AtomicIsize {
    let index = STRIPE
        .try_with(|stripe| {
            if stripe.get() == usize::MAX {
                stripe.set(NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            stripe.get()
        })
        .unwrap_or(0);
    &STRIPES_USED[index].0
}

/// mimalloc with every block's usable size counted.
pub struct Counting;

// SAFETY: forwards to mimalloc, which upholds GlobalAlloc's contract; counting only reads
// the blocks' sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = if natural(&layout) {
            libmimalloc_sys::mi_malloc(layout.size())
        } else {
            libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align())
        } as *mut u8;
        if !pointer.is_null() {
            let size = libmimalloc_sys::mi_usable_size(pointer as *const _);
            stripe().fetch_add(size as isize, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = if natural(&layout) {
            libmimalloc_sys::mi_zalloc(layout.size())
        } else {
            libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align())
        } as *mut u8;
        if !pointer.is_null() {
            let size = libmimalloc_sys::mi_usable_size(pointer as *const _);
            stripe().fetch_add(size as isize, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, _layout: Layout) {
        let size = libmimalloc_sys::mi_usable_size(pointer as *const _);
        stripe().fetch_sub(size as isize, Ordering::Relaxed);
        libmimalloc_sys::mi_free(pointer as *mut _);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = libmimalloc_sys::mi_usable_size(pointer as *const _);
        let moved = libmimalloc_sys::mi_realloc_aligned(pointer as *mut _, new_size, layout.align())
            as *mut u8;
        if !moved.is_null() {
            let after = libmimalloc_sys::mi_usable_size(moved as *const _);
            stripe().fetch_add(after as isize - before as isize, Ordering::Relaxed);
        }
        moved
    }
}

fn natural(layout: &Layout) -> bool {
    layout.align() <= NATURAL_ALIGN && layout.align() <= layout.size()
}

/// Marks the counting allocator as the process's (called once, first thing, by
/// `ember-server`'s main).
pub fn install() {
    INSTALLED.store(true, Ordering::Relaxed);
}

/// mimalloc reads its options when the process starts, before `main`, and by then its
/// first arena is committed up front, which costs an idle server about 10 MB of RSS. So
/// unless the option is already set, this sets it (arenas committed as they are used) and
/// execs the same binary again, keeping the process id. If the exec fails, the server runs
/// on as it is.
pub fn tune_and_restart() {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(binary) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(binary)
        .args(std::env::args_os().skip(1))
        .env(OPTION, "0")
        .exec();
    eprintln!("ember: could not restart with {OPTION}=0 ({error}); running on");
}

/// Bytes allocated and not yet freed, process-wide; `None` without the counting allocator.
pub fn allocated_bytes() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let total: isize = STRIPES_USED
        .iter()
        .map(|stripe| stripe.0.load(Ordering::Relaxed))
        .sum();
    Some(total.max(0) as usize)
}
