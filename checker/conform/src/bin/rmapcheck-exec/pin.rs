//! Longterm R/W pins from user space: one io_uring per pinned page, its
//! page registered as a fixed buffer (IORING_REGISTER_BUFFERS ->
//! io_sqe_buffer_register() -> io_pin_pages() -> pin_user_pages_fast(
//! FOLL_WRITE | FOLL_LONGTERM)), dropped with IORING_UNREGISTER_BUFFERS
//! (unpin_user_page()). What the pin sees is read back through the fixed
//! buffer itself: IORING_OP_WRITE_FIXED copies it into a memfd, which
//! the worker then reads. Raw system calls, no liburing.
//!
//! There is no R/O longterm pin user space can take on this kernel:
//! io_uring registers buffers with FOLL_WRITE, and CONFIG_GUP_TEST is unset
//! (no /sys/kernel/debug/gup_test); R/O pins are model-only.

use crate::sys::errno;
use rmapcheck_conform::proto::{page_addr, NONCE_OFFSET, PAGE_SIZE};
use std::cell::RefCell;

const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_ENTER: libc::c_long = 426;
const SYS_IO_URING_REGISTER: libc::c_long = 427;
const IORING_REGISTER_BUFFERS: u32 = 0;
const IORING_UNREGISTER_BUFFERS: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_OP_WRITE_FIXED: u8 = 5;

/// struct io_sqring_offsets.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

/// struct io_cqring_offsets.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// struct io_uring_params.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// struct io_uring_sqe (64 bytes), the fields WRITE_FIXED uses.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    rw_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    pad: [u64; 2],
}

/// One ring holding one page as fixed buffer 0.
struct Ring {
    page: u8,
    fd: i32,
    sq: *mut u8,
    sq_len: usize,
    cq: *mut u8,
    cq_len: usize,
    sqes: *mut Sqe,
    p: Params,
}

thread_local! {
    /// The rings of this worker (workers are single-threaded processes).
    static RINGS: RefCell<Vec<Ring>> = const { RefCell::new(Vec::new()) };
    /// The memfd WRITE_FIXED copies a pinned page into.
    static SINK: RefCell<i32> = const { RefCell::new(-1) };
}

fn map(fd: i32, len: usize, off: i64) -> Result<*mut u8, i32> {
    // SAFETY: a shared mapping of the ring's own regions.
    let p =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, off) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p.cast())
    }
}

/// Pins page `page` with a new ring; 0 or the errno.
pub fn pin(page: u8) -> i32 {
    let mut p = Params::default();
    // SAFETY: io_uring_setup(1, &p) fills `p`.
    let fd = unsafe { libc::syscall(SYS_IO_URING_SETUP, 1u32, &mut p as *mut Params) } as i32;
    if fd < 0 {
        return errno();
    }
    let sq_len = (p.sq_off.array + p.sq_entries * 4) as usize;
    let cq_len = (p.cq_off.cqes + p.cq_entries * 16) as usize;
    let sqe_len = p.sq_entries as usize * std::mem::size_of::<Sqe>();
    let rings = (|| {
        Ok((
            map(fd, sq_len, IORING_OFF_SQ_RING)?,
            map(fd, cq_len, IORING_OFF_CQ_RING)?,
            map(fd, sqe_len, IORING_OFF_SQES)?,
        ))
    })();
    let (sq, cq, sqes) = match rings {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: our own ring descriptor (mappings of a closed ring go with the process).
            unsafe { libc::close(fd) };
            return e;
        }
    };
    let iov = libc::iovec { iov_base: page_addr(page) as *mut _, iov_len: PAGE_SIZE as usize };
    // SAFETY: one iovec naming one page of the window.
    let r =
        unsafe { libc::syscall(SYS_IO_URING_REGISTER, fd, IORING_REGISTER_BUFFERS, &iov as *const libc::iovec, 1u32) };
    if r < 0 {
        let e = errno();
        // SAFETY: our own ring descriptor.
        unsafe { libc::close(fd) };
        return e;
    }
    let ring = Ring { page, fd, sq, sq_len, cq, cq_len, sqes: sqes.cast(), p };
    RINGS.with(|r| r.borrow_mut().push(ring));
    0
}

/// Unregisters the buffer of page `page` and closes its ring; 0 or errno.
pub fn unpin(page: u8) -> i32 {
    let Some(ring) = RINGS.with(|r| {
        let mut r = r.borrow_mut();
        r.iter().position(|x| x.page == page).map(|i| r.remove(i))
    }) else {
        return libc::ENOENT;
    };
    // SAFETY: the ring's own descriptor; no request is in flight.
    let r = unsafe { libc::syscall(SYS_IO_URING_REGISTER, ring.fd, IORING_UNREGISTER_BUFFERS, 0usize, 0u32) };
    let e = if r < 0 { errno() } else { 0 };
    drop_ring(&ring);
    e
}

fn drop_ring(ring: &Ring) {
    // SAFETY: the ring's own mappings and descriptor, used no more.
    unsafe {
        libc::munmap(ring.sq.cast(), ring.sq_len);
        libc::munmap(ring.cq.cast(), ring.cq_len);
        libc::munmap(ring.sqes.cast(), ring.p.sq_entries as usize * std::mem::size_of::<Sqe>());
        libc::close(ring.fd);
    }
}

/// Every pin this worker holds is dropped (before it exits: the ring's
/// release after exit is asynchronous, io_ring_exit_work()).
pub fn release_all() {
    let pages: Vec<u8> = RINGS.with(|r| r.borrow().iter().map(|x| x.page).collect());
    for p in pages {
        unpin(p);
    }
}

/// In a forked child: the parent's rings are the parent's (their pins are
/// held by the ring, not by an mm); the child forgets its copies of the
/// descriptors so that only the parent's unpin or exit drops the pins.
pub fn forget_inherited() {
    let rings = RINGS.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for ring in &rings {
        drop_ring(ring);
    }
    SINK.with(|s| {
        let fd = std::mem::replace(&mut *s.borrow_mut(), -1);
        if fd >= 0 {
            // SAFETY: the child's copy of the parent's memfd.
            unsafe { libc::close(fd) };
        }
    });
}

/// What the pin on page `page` sees: byte 0 and the nonce word, copied out
/// through the fixed buffer (IORING_OP_WRITE_FIXED into a memfd) and read
/// back. `Err` is an errno.
pub fn peek(page: u8) -> Result<(u8, u64), i32> {
    let sink = SINK.with(|s| {
        let mut s = s.borrow_mut();
        if *s < 0 {
            // SAFETY: a new anonymous file for this worker.
            *s = unsafe { libc::memfd_create(c"rmapcheck-pin".as_ptr(), libc::MFD_CLOEXEC) };
        }
        *s
    });
    if sink < 0 {
        return Err(errno());
    }
    RINGS.with(|r| {
        let r = r.borrow();
        let ring = r.iter().find(|x| x.page == page).ok_or(libc::ENOENT)?;
        let len = NONCE_OFFSET + 8;
        let sqe = Sqe {
            opcode: IORING_OP_WRITE_FIXED,
            fd: sink,
            off: 0,
            addr: page_addr(page),
            len: len as u32,
            buf_index: 0,
            ..Sqe::default()
        };
        let o = &ring.p.sq_off;
        // SAFETY: the ring's shared regions at the offsets the kernel gave;
        // one SQE in flight at a time, completed before we return.
        unsafe {
            let tail = ring.sq.add(o.tail as usize).cast::<u32>();
            let mask = *ring.sq.add(o.ring_mask as usize).cast::<u32>();
            let t = std::ptr::read_volatile(tail);
            let idx = t & mask;
            std::ptr::write_volatile(ring.sqes.add(idx as usize), sqe);
            std::ptr::write_volatile(ring.sq.add(o.array as usize).cast::<u32>().add(idx as usize), idx);
            std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
            std::ptr::write_volatile(tail, t.wrapping_add(1));
            let n = libc::syscall(SYS_IO_URING_ENTER, ring.fd, 1u32, 1u32, IORING_ENTER_GETEVENTS, 0usize, 0usize);
            if n < 0 {
                return Err(errno());
            }
            let c = &ring.p.cq_off;
            let head = ring.cq.add(c.head as usize).cast::<u32>();
            let h = std::ptr::read_volatile(head);
            let cmask = *ring.cq.add(c.ring_mask as usize).cast::<u32>();
            let cqe = ring.cq.add(c.cqes as usize + ((h & cmask) as usize) * 16);
            let res = std::ptr::read_volatile(cqe.add(8).cast::<i32>());
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            std::ptr::write_volatile(head, h.wrapping_add(1));
            if res < 0 {
                return Err(-res);
            }
            if res as usize != len {
                return Err(libc::EIO);
            }
        }
        let mut buf = [0u8; NONCE_OFFSET + 8];
        // SAFETY: reading back what WRITE_FIXED stored.
        let got = unsafe { libc::pread(sink, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got != buf.len() as isize {
            return Err(libc::EIO);
        }
        Ok((buf[0], u64::from_le_bytes(buf[NONCE_OFFSET..].try_into().unwrap())))
    })
}
