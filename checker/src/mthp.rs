//! The `mthp` built-in configuration: large anonymous folios (16 kB mTHP)
//! checked exhaustively up to a depth. Two processes and a 4-page window
//! (the smallest that holds a 16 kB folio) are already too many states
//! for a complete search in minutes: the fault/fork/munmap/exit/split
//! vocabulary alone reaches 5.4 million states, and swap and madvise
//! multiply them. So the bound is the depth: every sequence of up to 8
//! actions, which holds a fault, a fork, a COW, a partial unmap and the
//! deferred split, or a whole swap-out and swap-in, with room to spare.

use crate::settings::{Builtin, Settings};

/// `rmapcheck check --config mthp`.
pub const BUILTIN: Builtin = (
    "mthp",
    "v6.18-swapin-bypass-dirty (the partial MADV_FREE fix), 16 kB mTHP, 2 processes, 4 pages, 1 value, 4 swap slots: mmap, read, write, fork, munmap, exit, madv_pageout, madv_free, split_deferred; every sequence of up to 8 actions (BFS, about 2 minutes)",
    settings,
);

fn settings() -> Settings {
    Settings {
        kernel: Some("v6.18-swapin-bypass-dirty".into()),
        mthp: Some("16k".into()),
        procs: Some(2),
        pages: Some(4),
        values: Some(1),
        swap_slots: Some(4),
        actions: Some(
            ["mmap", "read", "write", "fork", "munmap", "exit", "madv_pageout", "madv_free", "split_deferred"]
                .map(String::from)
                .to_vec(),
        ),
        strategy: Some("bfs".into()),
        max_depth: Some(8),
        ..Settings::default()
    }
}
