//! anon_vma lifecycle and folio rmap (mm/rmap.c, mm/vma.c).
//!
//! Each function mirrors one kernel function. Where v5.19 and v6.18 differ
//! (the `degree` counter that 2555283eb40d split into `num_children` and
//! `num_active_vmas`), the difference is spelled out at the line it affects.

use crate::config::Mutant;
use crate::ctx::{oops, touch, Branch, Ctx};
use crate::state::{AnonVma, AvId, Folio, FolioId, Mapping, Mm, OopsKind, Page, Pid, Pte, State, Vma, MAX_CHAIN};

/// Mirrors anon_vma_alloc(): refcount 1, its own root and parent.
/// v5.19 started `degree` at 1 ("Reference for first vma"); v6.18 starts
/// both counters at 0 and lets the caller count.
pub fn anon_vma_alloc(s: &mut State, ctx: &Ctx) -> AvId {
    let id = s.anon_vmas.len() as AvId;
    s.anon_vmas.push(AnonVma {
        root: id,
        parent: id,
        refcount: 1,
        num_children: 0,
        num_active_vmas: 0,
        degree: u8::from(ctx.degree_era()),
        freed: false,
    });
    id
}

/// Mirrors anon_vma_compatible(): adjacent, same file and policy, flags
/// equal but for VM_ACCESS_FLAGS (so read/write differences do not matter,
/// VM_ACCOUNT and VM_MERGEABLE ones do), and pgoff linear across the
/// boundary. (VM_MERGEABLE was missing here: live-kernel conformance found
/// it, `scenarios/anon-vma-not-shared-across-mergeable-boundary.rmap`.)
fn anon_vma_compatible(a: &Vma, b: &Vma) -> bool {
    a.end == b.start
        && a.account == b.account
        && a.mergeable == b.mergeable
        && a.file == b.file
        && a.shared == b.shared
        && b.pgoff == a.pgoff + (b.start - a.start)
}

/// Mirrors find_mergeable_anon_vma() with reusable_anon_vma(): try the next
/// VMA, then the previous one; take its anon_vma only when the neighbour's
/// chain is singular, i.e. it never went through fork and its anon_vma is a
/// root that only this process uses.
pub fn find_mergeable_anon_vma(mm: &Mm, vi: usize) -> Option<AvId> {
    let vma = &mm.vmas[vi];
    let reusable = |old: &Vma, a: &Vma, b: &Vma| {
        if anon_vma_compatible(a, b) && old.chain.len() == 1 {
            old.anon_vma
        } else {
            None
        }
    };
    if let Some(next) = mm.vmas.get(vi + 1) {
        if let Some(av) = reusable(next, vma, next) {
            return Some(av);
        }
    }
    if vi > 0 {
        let prev = &mm.vmas[vi - 1];
        if let Some(av) = reusable(prev, prev, vma) {
            return Some(av);
        }
    }
    None
}

/// Mirrors __anon_vma_prepare(): give an unfaulted VMA its anon_vma on the
/// first write fault, reusing a compatible neighbour's or allocating a new
/// root, and link the VMA into its tree.
pub fn anon_vma_prepare(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize) {
    if s.mms[pid].vmas[vi].anon_vma.is_some() {
        return;
    }
    match find_mergeable_anon_vma(&s.mms[pid], vi) {
        Some(av) => {
            ctx.took(Branch::PrepareReuseNeighbour);
            ctx.say(|| format!("__anon_vma_prepare: find_mergeable_anon_vma reuses neighbour's AV{av}"));
            anon_vma_link_new_vma(s, ctx, pid, vi, av);
        }
        None => anon_vma_prepare_new_root(s, ctx, pid, vi),
    }
}

/// __anon_vma_prepare() when find_mergeable_anon_vma() finds nothing:
/// anon_vma_alloc() of a new root for VMA `vi`. Also the path of a VMA
/// whose flags match no neighbour's, which the model's VMAs do not carry
/// (UFFDIO_MOVE's registered destination, see userfaultfd.rs).
pub fn anon_vma_prepare_new_root(s: &mut State, ctx: &mut Ctx, pid: usize, vi: usize) {
    let av = anon_vma_alloc(s, ctx);
    if !ctx.degree_era() {
        // "self-parent link for new root"
        s.anon_vmas[av as usize].num_children += 1;
    }
    ctx.took(Branch::PrepareNewRoot);
    ctx.say(|| format!("__anon_vma_prepare: anon_vma_alloc -> new root AV{av}"));
    anon_vma_link_new_vma(s, ctx, pid, vi, av);
}

/// The end of __anon_vma_prepare(): `vma->anon_vma = av` and
/// anon_vma_chain_link().
fn anon_vma_link_new_vma(s: &mut State, ctx: &Ctx, pid: usize, vi: usize, av: AvId) {
    let vma = &mut s.mms[pid].vmas[vi];
    vma.anon_vma = Some(av);
    vma.chain.insert(0, av); // anon_vma_chain_link(): list_add
                             // v5.19: "vma reference or self-parent link for new root"
    count_vma(s, ctx, av);
}

/// One more VMA uses `av` as its `vma->anon_vma`: `num_active_vmas++`,
/// or `degree++` in the v5.19 era.
fn count_vma(s: &mut State, ctx: &Ctx, av: AvId) {
    let a = &mut s.anon_vmas[av as usize];
    if ctx.degree_era() {
        a.degree += 1;
    } else {
        a.num_active_vmas += 1;
    }
}

/// Mirrors anon_vma_clone(dst, src): link `dst` into every anon_vma of
/// `src`'s chain, walking it in reverse (root first) so that `list_add`
/// leaves the same order. For fork (`dst.anon_vma` still `None`) an anon_vma
/// of the chain may be reused as the child's own.
pub fn anon_vma_clone(s: &mut State, ctx: &mut Ctx, dst: &mut Vma, src: &Vma) {
    let era = ctx.degree_era();
    for &av in src.chain.iter().rev() {
        touch(s, av, "anon_vma_clone");
        dst.chain.insert(0, av);
        let a = &s.anon_vmas[av as usize];
        let reuse = if era {
            // v3.19-v5.19: "Reuse existing anon_vma if its degree lower than
            // two, that means it has no vma and only one anon_vma child. Do
            // not chose parent anon_vma, otherwise first child will always
            // reuse it." The degree cannot tell a leaf with one VMA from an
            // inner node with one child: CVE-2022-42703.
            dst.anon_vma.is_none() && src.anon_vma.is_some() && Some(av) != src.anon_vma && a.degree < 2
        } else {
            // 2555283eb40d: "Reuse existing anon_vma if it has no vma and only
            // one anon_vma child. Root anon_vma is never reused: it has
            // self-parent reference and at least one child."
            dst.anon_vma.is_none() && src.anon_vma.is_some() && a.num_children < 2 && a.num_active_vmas == 0
        };
        if reuse {
            ctx.say(|| {
                if era {
                    format!("anon_vma_clone reuses AV{av} (degree={})", a.degree)
                } else {
                    format!(
                        "anon_vma_clone reuses AV{av} (num_children={}, num_active_vmas={})",
                        a.num_children, a.num_active_vmas
                    )
                }
            });
            dst.anon_vma = Some(av);
        }
    }
    if let Some(av) = dst.anon_vma {
        count_vma(s, ctx, av);
    }
}

/// Mirrors anon_vma_fork(vma, pvma): clone the parent's chain into the
/// child (so rmap finds not-yet-COWed pages in the child), then, unless an
/// anon_vma was reused, give the child a new anon_vma whose parent is the
/// parent VMA's and whose root is shared (`get_anon_vma(root)`).
pub fn anon_vma_fork(s: &mut State, ctx: &mut Ctx, vma: &mut Vma, pvma: &Vma) {
    let Some(pav) = pvma.anon_vma else {
        ctx.took(Branch::ForkUnfaulted);
        return;
    };
    vma.anon_vma = None; // "Drop inherited anon_vma, we'll reuse existing or allocate new."
    vma.chain.clear();
    anon_vma_clone(s, ctx, vma, pvma);
    if vma.anon_vma.is_some() {
        ctx.took(Branch::ForkReuseAnonVma);
        return;
    }
    touch(s, pav, "anon_vma_fork");
    let av = anon_vma_alloc(s, ctx);
    let root = s.anon_vmas[pav as usize].root;
    {
        let a = &mut s.anon_vmas[av as usize];
        if !ctx.degree_era() {
            a.num_active_vmas += 1;
        }
        a.root = root;
        a.parent = pav;
    }
    if ctx.cfg.mutant != Some(Mutant::ForkSkipsRootRef) {
        // get_anon_vma(anon_vma->root): children pin the root only.
        touch(s, root, "anon_vma_fork: get_anon_vma(root)");
        s.anon_vmas[root as usize].refcount += 1;
    }
    vma.anon_vma = Some(av);
    vma.chain.insert(0, av);
    let p = &mut s.anon_vmas[pav as usize];
    if ctx.degree_era() {
        p.degree += 1;
    } else {
        p.num_children += 1;
    }
    ctx.took(Branch::ForkNewAnonVma);
    ctx.say(|| format!("anon_vma_fork: new AV{av} (parent AV{pav}, root AV{root})"));
}

/// Mirrors unlink_anon_vmas(vma) for a VMA already detached from its mm:
/// walk the chain newest first, take each AVC out of its tree, and when a
/// tree becomes empty drop the parent's child count; then drop the VMA's own
/// count; then, outside the lock, `put_anon_vma()` every emptied anon_vma,
/// newest first, "ensuring the root anon_vma gets freed last".
///
/// `pid` is the mm the VMA was detached from: every PTE in its range must
/// already be zapped or belong to another VMA (I24, zap before
/// free_pgtables()), or an rmap walk between the two steps would miss it.
pub fn unlink_anon_vmas(s: &mut State, ctx: &mut Ctx, pid: usize, vma: &mut Vma) {
    if !vma.chain.is_empty() {
        let mm = &s.mms[pid];
        let orphan = (vma.start..vma.end)
            .find(|&p| !matches!(mm.ptes[p as usize], Pte::None | Pte::Zero) && mm.vma_index(p).is_none());
        if let Some(p) = orphan {
            let what = format!(
                "unlink_anon_vmas: VMA {}..{} of P{pid} leaves the trees while page {p} is mapped",
                vma.start, vma.end
            );
            oops(s, OopsKind::UnlinkBeforeZap, what);
        }
    }
    let mut emptied = crate::inline::Inline::<AvId, MAX_CHAIN>::new();
    for &av in &vma.chain {
        touch(s, av, "unlink_anon_vmas");
        if s.tree_empty(av) {
            let parent = s.anon_vmas[av as usize].parent;
            touch(s, parent, "unlink_anon_vmas: anon_vma->parent->num_children--");
            let p = &mut s.anon_vmas[parent as usize];
            let counter = if ctx.degree_era() { &mut p.degree } else { &mut p.num_children };
            if dec(counter).is_none() {
                oops(s, OopsKind::Warn, format!("unlink_anon_vmas: AV{parent} child count underflows"));
            }
            ctx.took(Branch::UnlinkEmptiedTree);
            emptied.push(av);
        }
    }
    if let Some(av) = vma.anon_vma.take() {
        touch(s, av, "unlink_anon_vmas: vma->anon_vma");
        let a = &mut s.anon_vmas[av as usize];
        let counter = if ctx.degree_era() { &mut a.degree } else { &mut a.num_active_vmas };
        if dec(counter).is_none() {
            oops(s, OopsKind::Warn, format!("unlink_anon_vmas: AV{av} VMA count underflows"));
        }
    }
    vma.chain.clear();
    for av in emptied {
        let a = &s.anon_vmas[av as usize];
        let busy = if ctx.degree_era() { a.degree != 0 } else { a.num_children != 0 || a.num_active_vmas != 0 };
        if busy {
            let what = if ctx.degree_era() {
                format!("VM_WARN_ON(anon_vma->degree) in unlink_anon_vmas: AV{av} degree={}", a.degree)
            } else {
                format!(
                    "VM_WARN_ON(anon_vma->num_children || num_active_vmas) in unlink_anon_vmas: AV{av} ({}, {})",
                    a.num_children, a.num_active_vmas
                )
            };
            oops(s, OopsKind::Warn, what);
        }
        put_anon_vma(s, ctx, av);
    }
}

/// Mirrors put_anon_vma() and __put_anon_vma(): drop a reference; at zero,
/// free the object and drop the reference it held on its root, freeing the
/// root too when that was the last one.
pub fn put_anon_vma(s: &mut State, ctx: &mut Ctx, av: AvId) {
    touch(s, av, "put_anon_vma");
    if !dec_ref(s, av) {
        return;
    }
    let root = s.anon_vmas[av as usize].root;
    anon_vma_free(s, ctx, av);
    ctx.took(Branch::FreeAnonVma);
    if root != av {
        touch(s, root, "__put_anon_vma: put root");
        if dec_ref(s, root) {
            anon_vma_free(s, ctx, root);
            ctx.took(Branch::FreeRootAnonVma);
        }
    }
}

/// Decrements a counter; `None` (and the counter left as it is) where the
/// kernel's unsigned counter would wrap.
fn dec(counter: &mut u8) -> Option<u8> {
    *counter = counter.checked_sub(1)?;
    Some(*counter)
}

/// `atomic_dec_and_test(&anon_vma->refcount)`, reporting an underflow.
fn dec_ref(s: &mut State, av: AvId) -> bool {
    match dec(&mut s.anon_vmas[av as usize].refcount) {
        Some(r) => r == 0,
        None => {
            oops(s, OopsKind::Warn, format!("put_anon_vma: AV{av} refcount underflows"));
            false
        }
    }
}

/// Mirrors anon_vma_free(): `VM_BUG_ON(atomic_read(&anon_vma->refcount))`,
/// then back to the slab.
fn anon_vma_free(s: &mut State, ctx: &mut Ctx, av: AvId) {
    let a = &mut s.anon_vmas[av as usize];
    if a.refcount != 0 {
        let r = a.refcount;
        oops(s, OopsKind::Bug, format!("VM_BUG_ON(anon_vma->refcount) in anon_vma_free: AV{av} refcount={r}"));
    }
    s.anon_vmas[av as usize].freed = true;
    ctx.say(|| format!("anon_vma_free(AV{av})"));
}

/// Mirrors folio_alloc() / vma_alloc_folio() for an anonymous page: a new
/// folio holding `data`, swap-backed, not anon (mapped) yet, with the
/// allocation's reference.
pub fn folio_alloc(s: &mut State, data: u8) -> FolioId {
    let id = s.folios.len() as FolioId;
    s.folios.push(Folio::small(Mapping::None, 0, 0, data, false));
    id
}

/// Mirrors folio_add_new_anon_rmap(): a folio that is not anon yet (new,
/// or read from swap and never mapped) becomes anon at page `page` of VMA
/// `vi`: PG_swapbacked, __folio_set_anon(), mapped once, and
/// PageAnonExclusive when exclusive. A large folio is mapped at its first
/// page (the aligned address), every page once
/// ([`crate::thp::folio_add_new_anon_rmap_large`]).
pub fn folio_add_new_anon_rmap(s: &mut State, folio: FolioId, pid: usize, vi: usize, page: Page, exclusive: bool) {
    s.folios[folio as usize].swapbacked = true;
    if !__folio_set_anon(s, folio, pid, vi, page, exclusive) {
        return;
    }
    let f = &mut s.folios[folio as usize];
    if f.large.is_some() {
        return crate::thp::folio_add_new_anon_rmap_large(f, pid as Pid, exclusive);
    }
    f.mapcount = 1;
    f.anon_exclusive = exclusive;
}

/// Mirrors __folio_set_anon(): `BUG_ON(!anon_vma)`; `mapping` is the VMA's
/// own anon_vma when the folio is exclusive to it, else the root ("we must
/// use the _oldest_ possible anon_vma", ea90002b0fa7: other processes may
/// map the page later, and only the root is linked to all of them; I11);
/// `index` is linear_page_index(). `false` after the BUG.
fn __folio_set_anon(s: &mut State, folio: FolioId, pid: usize, vi: usize, page: Page, exclusive: bool) -> bool {
    let vma = &s.mms[pid].vmas[vi];
    let (anon_vma, index) = (vma.anon_vma, vma.linear_page_index(page));
    let Some(av) = anon_vma else {
        oops(s, OopsKind::Bug, "BUG_ON(!anon_vma) in __folio_set_anon".into());
        return false;
    };
    let av = if exclusive { av } else { s.anon_vmas[av as usize].root };
    let f = &mut s.folios[folio as usize];
    f.mapping = Mapping::Anon(av);
    f.index = index;
    true
}

/// Mirrors folio_move_anon_rmap(): under the folio lock, point `mapping` at
/// the VMA's own anon_vma so that later rmap walks scan only this process.
/// `VM_BUG_ON_VMA(!anon_vma, vma)`.
pub fn folio_move_anon_rmap(s: &mut State, folio: FolioId, vma: &Vma) {
    match vma.anon_vma {
        Some(av) => s.folios[folio as usize].mapping = Mapping::Anon(av),
        None => oops(s, OopsKind::Bug, "VM_BUG_ON_VMA(!anon_vma) in folio_move_anon_rmap".into()),
    }
}

/// Mirrors folio_remove_rmap_pte() followed by the caller's folio_put()
/// (after the TLB flush): one mapping and one reference fewer; the folio
/// is freed with its last reference and its `mapping` reset then
/// (free_pages_prepare), never at unmap.
pub fn folio_remove_rmap_and_put(s: &mut State, ctx: &mut Ctx, folio: FolioId) {
    let f = &mut s.folios[folio as usize];
    let ok = f.mapcount > 0 && f.refcount > 0;
    f.mapcount = f.mapcount.saturating_sub(1);
    f.refcount = f.refcount.saturating_sub(1);
    if !ok {
        oops(s, OopsKind::Bug, format!("folio F{folio}: mapcount or refcount underflow in folio_remove_rmap_pte"));
        return;
    }
    if f.refcount == 0 {
        f.freed = true;
        let old = std::mem::replace(&mut f.mapping, Mapping::None);
        crate::ksm::ksm_folio_freed(s, old);
        ctx.took(Branch::FreeFolio);
        ctx.say(|| format!("folio F{folio} freed"));
    }
}
