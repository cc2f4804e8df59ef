# Hand check of the kswapd scenarios on the live kernel (README, "What the
# model leaves out (found by conformance)"). Run through kswapd-by-hand.sh,
# as root, on a kernel with a cgroup-v1 memory controller and zram.
#
# Each Pn is a real worker process; `reclaim` + `writeback` become
# clear_refs (the LRU aging the model leaves out) and memory.force_empty of
# a memcg that holds only this script and its workers, repeated up to 10
# times until the named page is unmapped. That reclaims every page they
# charged, so it stands for `Pn reclaim P` only when the scenario has one
# folio in play, and it cannot stop between unmap and writeback. Prints the
# observable view (frames and slots as first-occurrence labels) per step.
import ctypes, json, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
BASE, PG = 0x600000000000, 4096
CG = "/sys/fs/cgroup/memory/rmapcheck-kswapd"
steps = [l.split("#")[0].split() for l in open(sys.argv[1]).read().splitlines()]
steps = [s for s in steps if s and (s[0].startswith("P") or s[0] == "kswapd")]
pages = int([l for l in open(sys.argv[1]) if l.startswith("pages:")][0].split()[1])
os.sched_setaffinity(0, {0})
os.makedirs(CG, exist_ok=True)
open(CG + "/tasks", "w").write(str(os.getpid()))
def drain():
    d = libc.mmap(None, PG, 3, 0x22, -1, 0); libc.madvise(d, PG, 20); libc.munmap(d, PG)
def worker(cr, rw, first=False):
    if first:
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG SIGKILL
    while True:
        line = b""
        while not line.endswith(b"\n"):
            c = os.read(cr, 1)
            if not c: os._exit(0)
            line += c
        op, a = json.loads(line)
        res = 0
        if op == "mmap":
            p = libc.mmap(BASE + a[0] * PG, a[1] * PG, 3 if a[2] == "rw" else 1, 0x22 | 0x100000, -1, 0)
            res = 0 if p == BASE + a[0] * PG else -1
        elif op == "munmap": res = libc.munmap(BASE + a[0] * PG, a[1] * PG)
        elif op in ("read", "peek"): res = ctypes.c_ubyte.from_address(BASE + a[0] * PG).value
        elif op == "write": ctypes.c_ubyte.from_address(BASE + a[0] * PG).value = a[1]
        elif op == "madv_pageout": res = libc.madvise(BASE + a[0] * PG, a[1] * PG, 21)
        elif op == "madv_free": res = libc.madvise(BASE + a[0] * PG, a[1] * PG, 8)
        elif op == "mincore":
            v = ctypes.c_ubyte(); libc.mincore(BASE + a[0] * PG, PG, ctypes.byref(v)); res = v.value & 1
        elif op == "exit": os._exit(0)
        elif op == "fork":
            c2r, c2w = os.pipe(); r2r, r2w = os.pipe()
            pid = os.fork()
            if pid == 0: worker(c2r, r2w)
            os.write(rw, (json.dumps([pid, c2w, r2r]) + "\n").encode()); continue
        os.write(rw, (json.dumps(res) + "\n").encode())
procs = []  # [pid, cmd_w, reply_r, alive]
def call(i, op, a):
    os.write(procs[i][1], (json.dumps([op, a]) + "\n").encode())
    line = b""
    while not line.endswith(b"\n"): line += os.read(procs[i][2], 1)
    return json.loads(line)
cr, cw = os.pipe(); rr, rw = os.pipe()
pid = os.fork()
if pid == 0: worker(cr, rw, True)
procs.append([pid, cw, rr, True])
forked_fds = {}
def view():
    drain(); out = []; frames = {}; slots = {}
    for i, (pid, _, _, alive) in enumerate(procs):
        if not alive: out.append(f"P{i}: exited"); continue
        maps = open(f"/proc/{pid}/maps").read()
        cells = []
        with open(f"/proc/{pid}/pagemap", "rb") as pm:
            for p in range(pages):
                a = BASE + p * PG
                inside = any(int(l.split("-")[0], 16) <= a < int(l.split()[0].split("-")[1], 16) for l in maps.splitlines())
                if not inside: cells.append("unmapped"); continue
                pm.seek(a // PG * 8); e = struct.unpack("<Q", pm.read(8))[0]
                if e >> 63 & 1:
                    pfn = e & ((1 << 55) - 1)
                    with open("/proc/kpageflags", "rb") as f: f.seek(pfn * 8); fl = struct.unpack("<Q", f.read(8))[0]
                    with open("/proc/kpagecount", "rb") as f: f.seek(pfn * 8); c = struct.unpack("<Q", f.read(8))[0]
                    if fl >> 24 & 1: cells.append("zero"); continue
                    lab = frames.setdefault(pfn, f"F{len(frames) + 1}")
                    fs = ",".join(n for b, n in ((14, "swapbacked"), (13, "swapcache"), (4, "dirty"), (5, "lru"), (6, "active"), (2, "referenced"), (18, "unevictable"), (25, "idle")) if fl >> b & 1)
                    with open("/proc/kpagecgroup", "rb") as f: f.seek(pfn * 8); cg = struct.unpack("<Q", f.read(8))[0]
                    cgs = "cg=ours" if cg == os.stat(CG).st_ino else f"cg={cg}"
                    cells.append(f"{lab} cnt={c} {fs} {cgs} val={call(i, 'peek', [p])}")
                elif e >> 62 & 1:
                    lab = slots.setdefault(e & ((1 << 55) - 1), f"S{len(slots) + 1}")
                    cells.append(f"swap {lab}" + (" swapcache" if call(i, "mincore", [p]) else ""))
                else: cells.append("none")
        out.append(f"P{i}: " + " | ".join(cells))
    return "; ".join(out)
for n, s in enumerate(steps, 1):
    if s[0] == "kswapd":
        print(f"{n:2}. kswapd {s[1]}: (folded into the reclaim step)"); continue
    i, op, a = int(s[0][1:]), s[1], s[2:]
    if op == "reclaim":
        # LRU aging the model leaves out: clear young bits and PG_referenced
        # (clear_refs 1) so that folio_check_references() lets reclaim go on.
        def mapped():
            with open(f"/proc/{procs[i][0]}/pagemap", "rb") as pm:
                pm.seek((BASE + int(a[0]) * PG) // PG * 8); return struct.unpack("<Q", pm.read(8))[0] >> 63 & 1
        for rounds in range(1, 11):
            for p in procs:
                if p[3]: open(f"/proc/{p[0]}/clear_refs", "w").write("1")
            open(CG + "/memory.force_empty", "w").write("0")
            drain()
            if not mapped(): break
        r = f"clear_refs + force_empty x{rounds}"
    elif op == "fork":
        os.write(procs[i][1], (json.dumps(["fork", []]) + "\n").encode())
        line = b""
        while not line.endswith(b"\n"): line += os.read(procs[i][2], 1)
        cpid, c2w, r2r = json.loads(line)
        procs.append([cpid, os.open(f"/proc/{procs[i][0]}/fd/{c2w}", os.O_WRONLY), os.open(f"/proc/{procs[i][0]}/fd/{r2r}", os.O_RDONLY), True]); r = cpid
    elif op == "exit":
        os.write(procs[i][1], (json.dumps(["exit", []]) + "\n").encode())
        fd = os.pidfd_open(procs[i][0]); import select; select.select([fd], [], [], 5); procs[i][3] = False; r = 0
    else:
        args = [int(x) if x.isdigit() else x for x in a if x != "="][: 3 if op == "mmap" else 2]
        if op == "read": args = args[:1]
        r = call(i, op, args)
    print(f"{n:2}. {' '.join(s)} -> {r}\n     {view()}")
for p in procs:
    if p[3]:
        try: os.kill(p[0], 9)
        except ProcessLookupError: pass
open("/sys/fs/cgroup/memory/tasks", "w").write(str(os.getpid()))
