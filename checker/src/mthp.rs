//! The `mthp` built-in configuration: large anonymous folios (16 kB mTHP)
//! checked exhaustively.

use crate::settings::{Builtin, Settings, Strategy};

/// `rmapcheck check --config mthp`.
pub const BUILTIN: Builtin = (
    "mthp",
    "v6.18-swapin-dirty (the MADV_FREE fix), 16 kB mTHP, 2 processes, 4 pages, 1 value, 4 swap slots: mmap, read, write, fork, munmap, exit, mprotect, madv_pageout and madv_free over ranges, kswapd split_deferred; exhaustive BFS",
    settings,
);

fn settings() -> Settings {
    Settings {
        kernel: Some("v6.18-swapin-dirty".into()),
        mthp: Some("16k".into()),
        procs: Some(2),
        pages: Some(4),
        values: Some(1),
        swap_slots: Some(4),
        actions: Some(
            [
                "mmap",
                "read",
                "write",
                "fork",
                "munmap",
                "exit",
                "mprotect",
                "madv_pageout",
                "madv_free",
                "split_deferred",
            ]
            .map(String::from)
            .to_vec(),
        ),
        strategy: Some(Strategy::Bfs),
        ..Settings::default()
    }
}
