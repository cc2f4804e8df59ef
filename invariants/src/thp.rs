//! Invariants of large anonymous folios (mTHP mapped by PTEs), I35–I38:
//! the v6.18 accounting of CONFIG_PAGE_MAPCOUNT and CONFIG_MM_ID, per-page
//! PageAnonExclusive, and the deferred split queue. (Index linearity and
//! rmap completeness of every page are I28 and I11, which look at each
//! PTE's page.)

use crate::report;
use rmapcheck_model::{Kernel, Pid, Pte, State};

/// Every present PTE of a live process mapping a large folio:
/// (pid, page, folio, page of the folio, writable).
fn large_ptes(s: &State) -> impl Iterator<Item = (usize, u8, u8, u8, bool)> + '_ {
    s.mms.iter().enumerate().filter(|(_, m)| m.alive).flat_map(move |(pid, mm)| {
        mm.ptes.iter().enumerate().filter_map(move |(p, pte)| match *pte {
            Pte::Present { folio, sub, writable, .. } if s.folios[folio as usize].large.is_some() => {
                Some((pid, p as u8, folio, sub, writable))
            }
            _ => None,
        })
    })
}

/// I35: each page's `_mapcount` + 1 is the PTEs mapping that page, the
/// large mapcount (`folio_mapcount()`) is their sum, `_nr_pages_mapped`
/// counts the mapped pages, and every PTE names a page inside the folio.
pub fn large_mapcount(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut count = vec![[0u8; rmapcheck_model::MAX_FOLIO_PAGES]; s.folios.len()];
    for (pid, page, folio, sub, _) in large_ptes(s) {
        if sub >= s.folios[folio as usize].nr_pages() {
            bad.push(format!("P{pid} page {page}: PTE names page {sub} of F{folio}, which has fewer"));
            continue;
        }
        count[folio as usize][sub as usize] += 1;
    }
    for (i, f) in s.live_folios() {
        let Some(l) = f.large.as_ref() else { continue };
        let c = &count[i as usize];
        for (k, p) in l.pages.iter().enumerate() {
            if p.mapcount != c[k] {
                bad.push(format!("F{i} page {k}: _mapcount + 1 is {} but {} PTEs map it", p.mapcount, c[k]));
            }
        }
        let total: u8 = c.iter().sum();
        let mapped = c.iter().filter(|&&n| n > 0).count() as u8;
        if f.mapcount != total {
            bad.push(format!("F{i}: large mapcount {} but {total} PTEs map its pages", f.mapcount));
        }
        if l.nr_pages_mapped != mapped {
            bad.push(format!("F{i}: _nr_pages_mapped {} but {mapped} pages are mapped", l.nr_pages_mapped));
        }
    }
    report(bad)
}

/// I36: folio_maybe_mapped_shared() has no false negatives (when it says
/// "exclusive", one process maps every page), and the MM-id slots are
/// sane: a free slot counts nothing, a slot's count is at least one and at
/// most the mappings its process has.
pub fn maybe_mapped_shared(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    let mut mappers: Vec<Vec<(usize, u8)>> = vec![Vec::new(); s.folios.len()];
    for (pid, _, folio, _, _) in large_ptes(s) {
        let m = &mut mappers[folio as usize];
        match m.iter_mut().find(|(p, _)| *p == pid) {
            Some((_, n)) => *n += 1,
            None => m.push((pid, 1)),
        }
    }
    for (i, f) in s.live_folios() {
        let Some(l) = f.large.as_ref() else { continue };
        let m = &mappers[i as usize];
        if !f.maybe_mapped_shared() && m.len() > 1 {
            bad.push(format!("F{i}: folio_maybe_mapped_shared() is false but {} processes map it", m.len()));
        }
        for k in 0..2 {
            let of = |p: Pid| m.iter().find(|(q, _)| *q == p as usize).map_or(0, |(_, n)| *n);
            match l.mm_id[k] {
                None if l.mm_id_mapcount[k] != 0 => bad
                    .push(format!("F{i}: free MM-id slot {k} with _mm_id_mapcount {}", l.mm_id_mapcount[k] as i16 - 1)),
                Some(p) if l.mm_id_mapcount[k] == 0 || l.mm_id_mapcount[k] > of(p) => bad.push(format!(
                    "F{i}: MM-id slot {k} of P{p} counts {} mappings, P{p} has {}",
                    l.mm_id_mapcount[k],
                    of(p)
                )),
                _ => {}
            }
        }
    }
    report(bad)
}

/// I37: a PageAnonExclusive page of a large folio is mapped at most once,
/// and a writable PTE maps an exclusive page.
pub fn large_page_exclusive(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let Some(l) = f.large.as_ref() else { continue };
        for (k, p) in l.pages.iter().enumerate() {
            if p.anon_exclusive && p.mapcount > 1 {
                bad.push(format!("F{i} page {k}: PageAnonExclusive but mapped {} times", p.mapcount));
            }
        }
    }
    for (pid, page, folio, sub, writable) in large_ptes(s) {
        if writable && !s.folios[folio as usize].page_exclusive(sub) {
            bad.push(format!("P{pid} page {page}: writable PTE to page {sub} of F{folio}, not PageAnonExclusive"));
        }
    }
    report(bad)
}

/// I38: a large folio of order 2 or more outside the swap cache that is
/// partially mapped (some page mapped, some not) is on the deferred split
/// queue, and a queued folio is one: of order 2 or more, outside the swap
/// cache, with an unmapped page. v6.18 queues only order >= 2 ("Order 1
/// folios have no space for a deferred list") and never a swap-cache
/// folio; a folio left partially mapped while in the swap cache would stay
/// off the queue after leaving it, which needs the swap cache to be freed
/// under a partially mapped, unlocked large folio (the model has large
/// swap-cache folios only while reclaim holds them locked).
pub fn deferred_split_queue(s: &State, _: Kernel) -> Result<(), String> {
    let mut bad = Vec::new();
    for (i, f) in s.live_folios() {
        let Some(l) = f.large.as_ref() else { continue };
        let nr = f.nr_pages();
        let partial = l.nr_pages_mapped > 0 && l.nr_pages_mapped < nr;
        if partial && l.order >= 2 && f.swap.is_none() && !l.deferred {
            bad.push(format!(
                "F{i}: partially mapped ({} of {nr} pages) but not on the deferred split queue",
                l.nr_pages_mapped
            ));
        }
        if l.deferred && (l.order < 2 || f.swap.is_some() || l.nr_pages_mapped == nr) {
            bad.push(format!(
                "F{i}: on the deferred split queue with order {}, swap cache {:?}, {} of {nr} pages mapped",
                l.order, f.swap, l.nr_pages_mapped
            ));
        }
    }
    report(bad)
}
