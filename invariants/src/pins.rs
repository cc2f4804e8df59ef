//! Invariants of longterm GUP pins (I44–I47; docs/kernel/gup-pins.md):
//! what a pin sees stays what the pinning process reads and wrote, and the
//! pin is counted where the kernel counts it.

use crate::report;
use rmapcheck_model::{ghost_allows, Kernel, Pin, Pte, State};

/// Every pin a live process holds: (pid, pin).
fn pins(s: &State) -> impl Iterator<Item = (usize, &Pin)> + '_ {
    s.mms.iter().enumerate().filter(|(_, m)| m.alive).flat_map(|(pid, m)| m.pins.iter().map(move |p| (pid, p)))
}

/// I44: while the pinner's mapping is the one pinned, its PTE at the
/// pinned address maps the pinned page, so every load and store the
/// process makes there reaches what the pin (the device) sees: no COW, no
/// swap-out, no KSM merge moved the process away from the page.
pub fn pin_coherent(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, p) in pins(s).filter(|(_, p)| p.attached) {
        match s.mms[pid].ptes[p.at as usize] {
            Pte::Present { folio, sub, .. } if folio == p.folio && sub == p.sub => {}
            other => bad.push(format!(
                "P{pid} page {page}: pinned F{f} but the PTE is {other:?}: the process no longer reads what the pin sees",
                page = p.at,
                f = p.folio
            )),
        }
    }
    report(bad)
}

/// I45: a pinned page holds what the pinner last stored through the
/// pinned mapping (or what it held when pinned), also after that mapping
/// is gone: no other process's write reaches it (CVE-2020-29374: a child's
/// R/O pin on a page the parent then reused in place), and the pinner's
/// own writes are not COWed away from it (an R/O pin on a page that was
/// shared before).
pub fn pin_sees_pinner_data(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, p) in pins(s) {
        let f = &s.folios[p.folio as usize];
        let data = f.page_data(p.sub);
        if f.freed || !ghost_allows(p.ghost, data) {
            bad.push(format!(
                "P{pid} pin at page {}: F{} holds {data}{}, the pinner stored or saw {}",
                p.page,
                p.folio,
                if f.freed { " and is freed" } else { "" },
                p.ghost
            ));
        }
    }
    report(bad)
}

/// I46: a folio's pin count is the number of pins naming it, a pinned
/// folio is not freed, and its refcount covers its mappings, its swap
/// cache entry and its pins (GUP_PIN_COUNTING_BIAS each for an order-0
/// folio, one reference each for a large one).
pub fn pin_count(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut count = vec![0u8; s.folios.len()];
    for (_, p) in pins(s) {
        count[p.folio as usize] += 1;
    }
    for (i, f) in s.folios.iter().enumerate() {
        if f.pincount != count[i] {
            bad.push(format!("F{i}: pincount {} but {} pins name it", f.pincount, count[i]));
        }
        if count[i] > 0 && f.freed {
            bad.push(format!("F{i}: freed while {} pins hold it", count[i]));
        }
        let swap = if f.swap.is_some() { f.nr_pages() } else { 0 };
        if !f.freed && f.refcount < f.mapcount + swap + f.pincount {
            bad.push(format!(
                "F{i}: refcount {} below mapcount {} + swap cache {swap} + pins {}",
                f.refcount, f.mapcount, f.pincount
            ));
        }
    }
    report(bad)
}

/// I47: the page a process pinned and still maps is PageAnonExclusive and
/// mapped by that process alone: the pin was taken on an exclusive page
/// (FOLL_WRITE breaks COW, an R/O pin unshares: gup_must_unshare()), and
/// fork copies a maybe-pinned exclusive page instead of sharing it
/// (folio_needs_cow_for_dma()), KSM and reclaim leave it exclusive.
pub fn pinned_exclusive(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (pid, p) in pins(s).filter(|(_, p)| p.attached) {
        let f = &s.folios[p.folio as usize];
        let mapped = matches!(s.mms[pid].ptes[p.at as usize], Pte::Present { folio, .. } if folio == p.folio);
        if mapped && (!f.mapping.is_anon() || !f.page_exclusive(p.sub) || f.page_mapcount(p.sub) != 1) {
            bad.push(format!(
                "P{pid} page {}: pinned F{} is {}PageAnonExclusive and mapped {} times",
                p.at,
                p.folio,
                if f.page_exclusive(p.sub) { "" } else { "not " },
                f.page_mapcount(p.sub)
            ));
        }
    }
    report(bad)
}
