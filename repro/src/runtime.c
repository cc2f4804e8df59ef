#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif
#ifndef MADV_UNMERGEABLE
#define MADV_UNMERGEABLE 13
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef SWAP_FLAG_PREFER
#define SWAP_FLAG_PREFER 0x8000
#endif

/* Exit codes: the correct kernel's behaviour, the bug, no verdict. */
/* Not every scenario uses every step. */
#define MAYBE_UNUSED __attribute__((unused))

#define EXIT_CORRECT 0
#define EXIT_BUG 1
#define EXIT_SETUP 2

/* The same window, files and settings as `rmapcheck conform`'s executor
 * (checker/conform/src/bin/rmapcheck-exec/isolate.rs), so that the two
 * never run at once and each restores what a killed run of the other left
 * behind (repro/tests/reproducers.rs checks that they agree). */
#define WINDOW_BASE 0x600000000000UL
#define PAGE 4096UL
#define NONCE_OFFSET 8
#define LOCK_FILE "/run/rmapcheck-exec.lock"
#define STATE_FILE "/run/rmapcheck-exec.state"
#define PAGE_CLUSTER "/proc/sys/vm/page-cluster"
#define KSM_DIR "/sys/kernel/mm/ksm"
#define THP_DIR "/sys/kernel/mm/transparent_hugepage"
#define DROP_CACHES "/proc/sys/vm/drop_caches"
#define DISKSIZE (16UL << 20)
#define SWAP_PRIORITY 200
#define LOCK_WAIT_SECS 120
#define TIMEOUT_MS 10000
#define MAX_PROCS 8

/* kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define KPF_DIRTY 4
#define KPF_LRU 5
#define KPF_ANON 12
#define KPF_SWAPCACHE 13
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_SWAPBACKED 14
#define KPF_KSM 21
#define KPF_THP 22
#define KPF_ZERO_PAGE 24

static const char *const ksm_knobs[][2] = {
	{ "run", "0" }, { "advisor_mode", "none" }, { "sleep_millisecs", "10" },
	{ "pages_to_scan", "1000" }, { "smart_scan", "0" }, { "use_zero_pages", "0" },
};
#define NKNOBS (sizeof(ksm_knobs) / sizeof(ksm_knobs[0]))
/* THP knobs: enabled, defrag and every hugepages-<size>kB/enabled. */
#define MAX_THP_KNOBS 24

/* What the restore needs, prepared before anything is changed, so that
 * the signal handler only makes raw system calls. */
static struct {
	int active, zram, hot_added, lock_fd;
	char dev[64], reset[96], hot_remove_id[16];
	char page_cluster_old[32];
	int nknobs;
	char knob_path[NKNOBS][128], knob_old[NKNOBS][128];
	int nthp;
	char thp_path[MAX_THP_KNOBS][160], thp_old[MAX_THP_KNOBS][32];
} plan = { .lock_fd = -1 };

static volatile sig_atomic_t restored;
static int cmd_w[MAX_PROCS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int reply_r[MAX_PROCS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int cmd_r[MAX_PROCS], reply_w[MAX_PROCS];
static volatile pid_t pids[MAX_PROCS];
static int pidfds[MAX_PROCS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int alive[MAX_PROCS], nworkers;
static uint64_t nonce;
static void *dummy;
static int kpagecount = -1, kpageflags = -1;
static int ksm_used, bugs, step_no, mthp;

static int raw_write(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), e = 0;

	if (fd < 0)
		return errno;
	if (write(fd, data, strlen(data)) < 0)
		e = errno;
	close(fd);
	return e;
}

static int retry_busy_write(const char *path, const char *data)
{
	int e = 0;

	for (int i = 0; i < 250; i++) {
		e = raw_write(path, data);
		if (e != EBUSY && e != EINTR)
			return e;
		usleep(20000);
	}
	return e;
}

/* Undoes everything, once: swapoff, zram reset and hot_remove,
 * page-cluster, the KSM knobs (run last), the THP knobs, the state and
 * lock files. */
static int restore_raw(void)
{
	int e, ret = 0;

	if (restored || !plan.active)
		return 0;
	restored = 1;
	for (int i = 0; i < 50; i++) {
		e = swapoff(plan.dev) ? errno : 0;
		if (e != EINTR && e != EBUSY)
			break;
		usleep(20000);
	}
	if (e && e != EINVAL && e != ENOENT)
		ret = e;
	if ((e = retry_busy_write(plan.reset, "1")))
		ret = e;
	if (plan.hot_added && (e = retry_busy_write("/sys/class/zram-control/hot_remove", plan.hot_remove_id)))
		ret = e;
	if ((e = raw_write(PAGE_CLUSTER, plan.page_cluster_old)))
		ret = e;
	for (int i = plan.nknobs - 1; i >= 0; i--)
		if ((e = raw_write(plan.knob_path[i], plan.knob_old[i])))
			ret = e;
	for (int i = 0; i < plan.nthp; i++)
		if ((e = raw_write(plan.thp_path[i], plan.thp_old[i])))
			ret = e;
	if (!ret)
		unlink(STATE_FILE);
	unlink(LOCK_FILE);
	return ret;
}

static void kill_workers(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
}

static void on_signal(int sig)
{
	static const char msg[] = "repro: interrupted; killing the workers and restoring the machine\n";
	static const char bad[] = "repro: restoring failed; " STATE_FILE " is kept for the next run\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do about it */
	}
	kill_workers();
	if (restore_raw() && write(2, bad, sizeof(bad) - 1) < 0) {
		/* nothing to do about it */
	}
	_exit(EXIT_SETUP);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void ksm_cleanup(void);

/* Every way out goes through here: workers killed, machine restored. */
static void finish(int code)
{
	kill_workers();
	for (int i = 0; i < MAX_PROCS; i++)
		if (pidfds[i] >= 0) {
			struct pollfd p = { .fd = pidfds[i], .events = POLLIN };

			poll(&p, 1, TIMEOUT_MS);
		}
	reap();
	ksm_cleanup();
	if (restore_raw()) {
		fprintf(stderr, "repro: could not restore the machine; %s is kept for the next run\n", STATE_FILE);
		code = EXIT_SETUP;
	}
	exit(code);
}

static void fail_setup(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "repro: could not set up: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	finish(EXIT_SETUP);
}

static int read_str(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = 0;
	return 0;
}

static void write_or_fail(const char *path, const char *data)
{
	int e = raw_write(path, data);

	if (e)
		fail_setup("cannot write '%s' to %s: %s", data, path, strerror(e));
}

/* advisor_mode and the THP knobs show every choice with the current one
 * in brackets. */
static void read_knob(const char *dir, const char *name, char *out, size_t n)
{
	char path[160], buf[128], *a, *b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (read_str(path, buf, sizeof(buf)))
		fail_setup("cannot read %s", path);
	a = strchr(buf, '[');
	b = strchr(buf, ']');
	if (a && b && a < b) {
		*b = 0;
		snprintf(out, n, "%s", a + 1);
	} else {
		snprintf(out, n, "%s", buf);
	}
}

/* Whether `knob` is a THP knob the executor records (thp.rs's valid()). */
static int thp_knob_valid(const char *knob)
{
	const char *p = knob + 10;

	if (!strcmp(knob, "enabled") || !strcmp(knob, "defrag"))
		return 1;
	if (strncmp(knob, "hugepages-", 10) || !(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return !strcmp(p, "kB/enabled");
}

/* Restores what a killed executor or reproducer left behind
 * ("zram=N hot_added=0|1 page_cluster=V ksm.KNOB=V thp.KNOB=V ..."). */
static void recover_stale(void)
{
	char text[2048], *w, *save;
	int zram = -1, hot = 0;
	char pc[32] = "", path[160];

	if (read_str(STATE_FILE, text, sizeof(text)))
		return;
	for (w = strtok_r(text, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(w, "zram=", 5))
			zram = atoi(w + 5);
		else if (!strncmp(w, "hot_added=", 10))
			hot = atoi(w + 10);
		else if (!strncmp(w, "page_cluster=", 13))
			snprintf(pc, sizeof(pc), "%s", w + 13);
		else if (!strncmp(w, "ksm.", 4) && strchr(w, '=')) {
			char *eq = strchr(w, '=');

			*eq = 0;
			snprintf(path, sizeof(path), "%s/%s", KSM_DIR, w + 4);
			raw_write(path, eq + 1);
		} else if (!strncmp(w, "thp.", 4) && strchr(w, '=')) {
			char *eq = strchr(w, '=');

			*eq = 0;
			if (thp_knob_valid(w + 4)) {
				snprintf(path, sizeof(path), "%s/%s", THP_DIR, w + 4);
				raw_write(path, eq + 1);
			}
		}
	}
	if (zram >= 0) {
		snprintf(path, sizeof(path), "/dev/zram%d", zram);
		swapoff(path);
		snprintf(path, sizeof(path), "/sys/block/zram%d/reset", zram);
		if (!access(path, F_OK))
			retry_busy_write(path, "1");
		if (hot) {
			char id[16];

			snprintf(id, sizeof(id), "%d", zram);
			retry_busy_write("/sys/class/zram-control/hot_remove", id);
		}
	}
	if (pc[0])
		raw_write(PAGE_CLUSTER, pc);
	unlink(STATE_FILE);
	fprintf(stderr, "repro: restored what a killed run left behind (zram%d, page-cluster %s)\n", zram, pc);
}

/* The executor's lock: wait for another run for at most LOCK_WAIT_SECS. */
static void take_lock(void)
{
	long deadline = now_ms() + LOCK_WAIT_SECS * 1000L;
	int said = 0;

	for (;;) {
		struct stat a, b;
		int fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			fail_setup("cannot open %s: %s", LOCK_FILE, strerror(errno));
		while (flock(fd, LOCK_EX | LOCK_NB)) {
			if (now_ms() > deadline) {
				close(fd);
				fprintf(stderr, "repro: could not set up: %s is held by another run (rmapcheck conform?) for more than %d s\n",
					LOCK_FILE, LOCK_WAIT_SECS);
				exit(EXIT_SETUP);
			}
			if (!said++)
				fprintf(stderr, "repro: %s is held by another run; waiting up to %d s\n", LOCK_FILE, LOCK_WAIT_SECS);
			usleep(100000);
		}
		if (!fstat(fd, &a) && !stat(LOCK_FILE, &b) && a.st_ino == b.st_ino) {
			plan.lock_fd = fd;
			return;
		}
		close(fd); /* the holder unlinked it on its way out: take a fresh one */
	}
}

static int swap_active(const char *dev)
{
	char buf[4096];

	if (read_str("/proc/swaps", buf, sizeof(buf)))
		return 0;
	for (char *l = strchr(buf, '\n'); l; l = strchr(l + 1, '\n'))
		if (!strncmp(l + 1, dev, strlen(dev)) && l[1 + strlen(dev)] == ' ')
			return 1;
	return 0;
}

/* Saves every THP knob this kernel has (as thp.rs's knobs()). */
static void save_thp_knobs(void)
{
	static const char *const top[] = { "enabled", "defrag" };
	char path[160], name[96];
	struct dirent *d;
	DIR *dir;

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", THP_DIR, top[i]);
		if (access(path, F_OK))
			continue;
		snprintf(plan.thp_path[plan.nthp], sizeof(plan.thp_path[0]), "%s", path);
		read_knob(THP_DIR, top[i], plan.thp_old[plan.nthp], sizeof(plan.thp_old[0]));
		plan.nthp++;
	}
	dir = opendir(THP_DIR);
	if (!dir)
		fail_setup("cannot open %s: %s", THP_DIR, strerror(errno));
	while ((d = readdir(dir)) && plan.nthp < MAX_THP_KNOBS) {
		if (strncmp(d->d_name, "hugepages-", 10) || strlen(d->d_name) > 64)
			continue;
		snprintf(name, sizeof(name), "%s/enabled", d->d_name);
		snprintf(path, sizeof(path), "%s/%s", THP_DIR, name);
		if (!thp_knob_valid(name) || access(path, F_OK))
			continue; /* hugepages-8kB has no anonymous `enabled` */
		snprintf(plan.thp_path[plan.nthp], sizeof(plan.thp_path[0]), "%s", path);
		read_knob(THP_DIR, name, plan.thp_old[plan.nthp], sizeof(plan.thp_old[0]));
		plan.nthp++;
	}
	closedir(dir);
}

/* What a run with large folios sets (thp.rs's wanted()): 16 kB folios for
 * MADV_HUGEPAGE VMAs, every other size never, direct compaction for them. */
static const char *thp_wanted(const char *path)
{
	const char *knob = path + strlen(THP_DIR) + 1;

	return !strcmp(knob, "enabled") || !strcmp(knob, "defrag") || !strcmp(knob, "hugepages-16kB/enabled") ?
		       "madvise" :
		       "never";
}

static void setup_machine(int needs_ksm)
{
	char buf[64], path[128], state[2048];
	int fd, n;
	cpu_set_t set, one;

	if (geteuid() != 0) {
		fprintf(stderr, "repro: could not set up: not running as root (euid %d)\n", (int)geteuid());
		exit(EXIT_SETUP);
	}
	/* One CPU for everything: the per-CPU folio batches this process
	 * drains after each step are the workers' (they inherit the mask). */
	if (sched_getaffinity(0, sizeof(set), &set))
		fail_setup("sched_getaffinity: %s", strerror(errno));
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_SET(c, &one);
			break;
		}
	if (sched_setaffinity(0, sizeof(one), &one))
		fail_setup("sched_setaffinity: %s", strerror(errno));
	kpagecount = open("/proc/kpagecount", O_RDONLY | O_CLOEXEC);
	kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (kpagecount < 0 || kpageflags < 0) {
		fprintf(stderr, "repro: could not set up: cannot open /proc/kpageflags (CONFIG_PROC_PAGE_MONITOR)\n");
		exit(EXIT_SETUP);
	}
	take_lock();
	recover_stale();
	if (read_str(PAGE_CLUSTER, plan.page_cluster_old, sizeof(plan.page_cluster_old)))
		fail_setup("cannot read %s", PAGE_CLUSTER);
	if (access(KSM_DIR "/run", F_OK)) {
		if (needs_ksm)
			fail_setup("this kernel has no KSM (CONFIG_KSM)");
	} else {
		for (size_t i = 0; i < NKNOBS; i++) {
			snprintf(path, sizeof(path), "%s/%s", KSM_DIR, ksm_knobs[i][0]);
			if (access(path, F_OK))
				continue; /* advisor_mode and smart_scan are 6.7+ */
			snprintf(plan.knob_path[plan.nknobs], sizeof(plan.knob_path[0]), "%s", path);
			read_knob(KSM_DIR, ksm_knobs[i][0], plan.knob_old[plan.nknobs], sizeof(plan.knob_old[0]));
			plan.nknobs++;
		}
	}
	if (mthp) {
		save_thp_knobs();
		snprintf(path, sizeof(path), "%s/hugepages-16kB/enabled", THP_DIR);
		if (access(path, F_OK))
			fail_setup("this kernel has no %s: no anonymous 16 kB mTHP", path);
	}
	if (!read_str("/sys/class/zram-control/hot_add", buf, sizeof(buf))) {
		plan.zram = atoi(buf);
		plan.hot_added = 1;
	} else if (!read_str("/sys/block/zram0/disksize", buf, sizeof(buf))) {
		if (strcmp(buf, "0") || swap_active("/dev/zram0"))
			fail_setup("zram0 is in use and /sys/class/zram-control/hot_add is missing");
		plan.zram = 0;
	} else {
		fail_setup("no zram device (CONFIG_ZRAM; modprobe zram)");
	}
	snprintf(plan.dev, sizeof(plan.dev), "/dev/zram%d", plan.zram);
	snprintf(plan.reset, sizeof(plan.reset), "/sys/block/zram%d/reset", plan.zram);
	snprintf(plan.hot_remove_id, sizeof(plan.hot_remove_id), "%d", plan.zram);
	/* Record what is about to change before changing it. */
	n = snprintf(state, sizeof(state), "zram=%d hot_added=%d page_cluster=%s", plan.zram, plan.hot_added,
		     plan.page_cluster_old);
	for (int i = 0; i < plan.nknobs; i++)
		n += snprintf(state + n, sizeof(state) - n, " ksm.%s=%s", strrchr(plan.knob_path[i], '/') + 1,
			      plan.knob_old[i]);
	for (int i = 0; i < plan.nthp; i++)
		n += snprintf(state + n, sizeof(state) - n, " thp.%s=%s", plan.thp_path[i] + strlen(THP_DIR) + 1,
			      plan.thp_old[i]);
	snprintf(state + n, sizeof(state) - n, "\n");
	fd = open(STATE_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, state, strlen(state)) < 0) {
		if (plan.hot_added)
			raw_write("/sys/class/zram-control/hot_remove", plan.hot_remove_id);
		unlink(LOCK_FILE);
		fprintf(stderr, "repro: could not set up: cannot write %s\n", STATE_FILE);
		exit(EXIT_SETUP);
	}
	close(fd);
	plan.active = 1;
	{
		struct sigaction sa;
		int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigfillset(&sa.sa_mask);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &sa, NULL);
	}
	/* A zram swap device of our own above every other swap: pageout
	 * writes and frees at once, and a swap-in of a slot one PTE names
	 * skips the swap cache (SWP_SYNCHRONOUS_IO). */
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", plan.zram);
	snprintf(buf, sizeof(buf), "%lu", DISKSIZE);
	write_or_fail(path, buf);
	for (int i = 0; i < 200 && access(plan.dev, F_OK); i++)
		usleep(5000);
	{
		static unsigned char hdr[4096];
		uint32_t version = 1, last_page = DISKSIZE / PAGE - 1;

		memcpy(hdr + 1024, &version, 4);
		memcpy(hdr + 1028, &last_page, 4);
		memcpy(hdr + 4096 - 10, "SWAPSPACE2", 10);
		fd = open(plan.dev, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) || fsync(fd))
			fail_setup("swap header on %s: %s", plan.dev, strerror(errno));
		close(fd);
	}
	if (swapon(plan.dev, SWAP_FLAG_PREFER | (SWAP_PRIORITY & 0x7fff)))
		fail_setup("swapon %s: %s", plan.dev, strerror(errno));
	write_or_fail(PAGE_CLUSTER, "0"); /* no swap readahead */
	for (int i = 0; i < plan.nknobs; i++)
		for (size_t k = 0; k < NKNOBS; k++)
			if (!strcmp(strrchr(plan.knob_path[i], '/') + 1, ksm_knobs[k][0]))
				write_or_fail(plan.knob_path[i], ksm_knobs[k][1]);
	for (int i = 0; i < plan.nthp; i++)
		write_or_fail(plan.thp_path[i], thp_wanted(plan.thp_path[i]));
	fprintf(stderr, "repro: set up: swap on %s (zram, %lu MiB, priority %d), page-cluster 0%s%s; restored at exit\n",
		plan.dev, DISKSIZE >> 20, SWAP_PRIORITY, plan.nknobs ? ", ksmd paused (run=0) between steps" : "",
		mthp ? ", 16 kB mTHP for MADV_HUGEPAGE VMAs" : "");
}

/* ---- worker processes ---- */

struct msg {
	int32_t op, a, b, c;
	uint64_t w;
};

enum { OP_MMAP = 1, OP_MUNMAP, OP_READ, OP_WRITE, OP_FORK, OP_EXIT, OP_MPROTECT, OP_MREMAP, OP_MADVISE };

static int xfer(int fd, void *buf, size_t n, int out)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = out ? write(fd, (char *)buf + off, n - off) : read(fd, (char *)buf + off, n - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += r;
	}
	return 0;
}

static unsigned long addr_of(int page)
{
	return WINDOW_BASE + (unsigned long)page * PAGE;
}

static void worker(int me) __attribute__((noreturn));
static void worker(int me)
{
	for (;;) {
		struct msg m, r = { 0 };

		if (xfer(cmd_r[me], &m, sizeof(m), 0))
			_exit(0);
		switch (m.op) {
		case OP_MMAP: {
			void *p = mmap((void *)addr_of(m.a), m.b * PAGE, PROT_READ | (m.c ? PROT_WRITE : 0),
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

			r.op = p == MAP_FAILED ? errno : (unsigned long)p != addr_of(m.a) ? EEXIST : 0;
			/* Large folios: every VMA alike gets MADV_HUGEPAGE (so no
			 * merge changes), as in `rmapcheck conform`. */
			if (!r.op && m.w && madvise(p, m.b * PAGE, MADV_HUGEPAGE))
				r.op = errno;
			break;
		}
		case OP_MUNMAP:
			r.op = munmap((void *)addr_of(m.a), m.b * PAGE) ? errno : 0;
			break;
		case OP_MPROTECT:
			r.op = mprotect((void *)addr_of(m.a), m.b * PAGE, PROT_READ | (m.c ? PROT_WRITE : 0)) ? errno : 0;
			break;
		case OP_MREMAP: {
			int flags = MREMAP_MAYMOVE | MREMAP_FIXED | (m.w ? MREMAP_DONTUNMAP : 0);
			void *p = mremap((void *)addr_of(m.a), m.b * PAGE, m.b * PAGE, flags, (void *)addr_of(m.c));

			r.op = p == MAP_FAILED ? errno : 0;
			break;
		}
		case OP_MADVISE:
			r.op = madvise((void *)addr_of(m.a), m.b * PAGE, (int)m.w) ? errno : 0;
			break;
		case OP_READ: {
			volatile unsigned char *p = (volatile unsigned char *)addr_of(m.a);

			r.a = p[0];
			r.w = *(volatile uint64_t *)(p + NONCE_OFFSET);
			break;
		}
		case OP_WRITE: {
			volatile unsigned char *p = (volatile unsigned char *)addr_of(m.a);

			*(volatile uint64_t *)(p + NONCE_OFFSET) = m.w;
			p[0] = (unsigned char)m.b;
			break;
		}
		case OP_FORK: {
			pid_t pid = fork();

			if (pid == 0)
				worker(m.a);
			r.op = pid < 0 ? errno : 0;
			r.a = pid;
			break;
		}
		case OP_EXIT:
			_exit(0);
		default:
			r.op = EINVAL;
		}
		if (xfer(reply_w[me], &r, sizeof(r), 1))
			_exit(1);
	}
}

static void start_workers(int nprocs)
{
	pid_t pid;

	for (int i = 0; i < nprocs; i++) {
		int a[2], b[2];

		if (pipe(a) || pipe(b))
			fail_setup("pipe: %s", strerror(errno));
		cmd_r[i] = a[0];
		cmd_w[i] = a[1];
		reply_r[i] = b[0];
		reply_w[i] = b[1];
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	pid = fork();
	if (pid < 0)
		fail_setup("fork: %s", strerror(errno));
	if (pid == 0) {
		/* P0: THP off for it and every fork (the model's folios are
		 * order-0) unless the scenario has large folios; forked workers
		 * are reaped automatically. */
		if (!mthp)
			prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
		signal(SIGCHLD, SIG_IGN);
		/* Workers hold only their pipe ends: not the lock (a flock
		 * lives as long as any copy of its descriptor), not the command
		 * write ends (their end of file is how workers learn that the
		 * controller is gone, even after a SIGKILL). Only the controller
		 * restores the machine: workers die by the default action of
		 * these signals. */
		close(plan.lock_fd);
		close(kpagecount);
		close(kpageflags);
		for (int i = 0; i < nprocs; i++) {
			close(cmd_w[i]);
			close(reply_r[i]);
		}
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		plan.active = 0;
		worker(0);
	}
	pids[0] = pid;
	pidfds[0] = syscall(__NR_pidfd_open, pid, 0);
	alive[0] = 1;
	nworkers = 1;
}

static struct msg call(int i, struct msg m)
{
	struct msg r;
	struct pollfd p[2] = { { .fd = reply_r[i], .events = POLLIN }, { .fd = pidfds[i], .events = POLLIN } };

	if (i >= nworkers || !alive[i])
		fail_setup("step %d: P%d is not a live process", step_no, i);
	if (xfer(cmd_w[i], &m, sizeof(m), 1))
		fail_setup("step %d: P%d: command pipe: %s", step_no, i, strerror(errno));
	while (poll(p, pidfds[i] >= 0 ? 2 : 1, TIMEOUT_MS) < 0 && errno == EINTR)
		;
	if (!(p[0].revents & POLLIN))
		fail_setup("step %d: P%d died or did not answer within %d ms", step_no, i, TIMEOUT_MS);
	if (xfer(reply_r[i], &r, sizeof(r), 0))
		fail_setup("step %d: P%d: reply pipe closed", step_no, i);
	return r;
}

static void expect_ok(const char *what, int e)
{
	if (e)
		fail_setup("step %d: %s failed: %s (the model takes only calls that succeed)", step_no, what, strerror(e));
}

/* ---- what the kernel shows ---- */

static uint64_t pread64_at(int fd, uint64_t index)
{
	uint64_t v = 0;

	if (pread(fd, &v, 8, index * 8) != 8)
		return 0;
	return v;
}

static uint64_t pagemap_of(int i, int page)
{
	char path[64];
	uint64_t e;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pids[i]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	e = pread64_at(fd, addr_of(page) / PAGE);
	close(fd);
	return e;
}

/* lru_add_drain() on our CPU: MADV_COLD of an untouched VMA. */
static void drain(void)
{
	madvise(dummy, PAGE, MADV_COLD);
}

/* PTE dirty bits are not in pagemap; smaps counts a page as *_Dirty when
 * its PTE or its folio is dirty, so the VMAs of the window are shown too. */
static void show_smaps(int i, int npages)
{
	char path[64], line[256];
	unsigned long lo = WINDOW_BASE, hi = addr_of(npages), s = 0, e = 0;
	int in = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pids[i]);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, kb;
		char key[32];

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a < hi && b > lo;
			s = a;
			e = b;
			if (in)
				fprintf(stderr, "      smaps pages %lu-%lu:", (s - lo) / PAGE, (e - lo) / PAGE);
		} else if (in && sscanf(line, "%31[^:]: %lu kB", key, &kb) == 2 &&
			   (!strcmp(key, "Private_Clean") || !strcmp(key, "Private_Dirty") ||
			    !strcmp(key, "Shared_Clean") || !strcmp(key, "Shared_Dirty"))) {
			fprintf(stderr, " %s %lu kB%s", key, kb, !strcmp(key, "Private_Dirty") ? "\n" : ",");
		}
	}
	fclose(f);
}

static void show_state(int npages)
{
	drain();
	for (int i = 0; i < nworkers; i++) {
		if (!alive[i]) {
			fprintf(stderr, "    P%d: exited\n", i);
			continue;
		}
		fprintf(stderr, "    P%d:", i);
		for (int p = 0; p < npages; p++) {
			uint64_t e = pagemap_of(i, p);

			if (e >> 63 & 1) {
				uint64_t pfn = e & ((1ULL << 55) - 1), f = pread64_at(kpageflags, pfn);

				if (f >> KPF_ZERO_PAGE & 1) {
					fprintf(stderr, " [%d: zero page]", p);
					continue;
				}
				fprintf(stderr, " [%d: pfn %#llx cnt %llu%s%s%s%s%s%s%s%s]", p, (unsigned long long)pfn,
					(unsigned long long)pread64_at(kpagecount, pfn), f >> KPF_ANON & 1 ? " anon" : "",
					f >> KPF_KSM & 1 ? " ksm" : "", f >> KPF_SWAPBACKED & 1 ? " swapbacked" : " !swapbacked",
					f >> KPF_SWAPCACHE & 1 ? " swapcache" : "", f >> KPF_DIRTY & 1 ? " PG_dirty" : " !PG_dirty",
					f >> KPF_THP & 1 ? " thp" : "",
					f >> KPF_COMPOUND_HEAD & 1 ? " head" : f >> KPF_COMPOUND_TAIL & 1 ? " tail" : "",
					e >> 56 & 1 ? " excl" : "");
			} else if (e >> 62 & 1) {
				fprintf(stderr, " [%d: swap]", p);
			} else {
				fprintf(stderr, " [%d: none]", p);
			}
		}
		fprintf(stderr, "\n");
		show_smaps(i, npages);
	}
}

/* ---- the steps ---- */

static void begin(int n, const char *text)
{
	step_no = n;
	fprintf(stderr, "step %2d  %s\n", n, text);
}

static MAYBE_UNUSED void do_mmap(int pid, int start, int len, int write)
{
	expect_ok("mmap", call(pid, (struct msg){ .op = OP_MMAP, .a = start, .b = len, .c = write, .w = mthp }).op);
}

static MAYBE_UNUSED void do_munmap(int pid, int start, int len)
{
	expect_ok("munmap", call(pid, (struct msg){ .op = OP_MUNMAP, .a = start, .b = len }).op);
}

static MAYBE_UNUSED void do_mprotect(int pid, int start, int len, int write)
{
	expect_ok("mprotect", call(pid, (struct msg){ .op = OP_MPROTECT, .a = start, .b = len, .c = write }).op);
}

static MAYBE_UNUSED void do_mremap(int pid, int start, int len, int to, int dontunmap)
{
	expect_ok("mremap", call(pid, (struct msg){ .op = OP_MREMAP, .a = start, .b = len, .c = to, .w = dontunmap }).op);
}

static MAYBE_UNUSED void do_madvise(int pid, int start, int len, int advice, const char *name)
{
	expect_ok(name, call(pid, (struct msg){ .op = OP_MADVISE, .a = start, .b = len, .w = advice }).op);
}

/* MADV_PAGEOUT, checked: a page that maps an anon, swap-backed folio
 * mapped once (kpagecount 1) when the call starts is reclaimed by it
 * (madvise_cold_or_pageout_pte_range() isolates it, reclaim_pages() swaps
 * it out to the zram device), so the correct kernel leaves no page there.
 * A lazyfree (!swap-backed) folio may legitimately stay: redirtied. A page
 * of a large folio (KPF_THP) is not checked: the folio is left when
 * another process maps any of its pages, or split when partly in range. */
static MAYBE_UNUSED void do_pageout(int pid, int start, int len)
{
	int must_go[64] = { 0 };

	drain();
	for (int p = start; p < start + len && p < 64; p++) {
		uint64_t e = pagemap_of(pid, p), pfn = e & ((1ULL << 55) - 1), f;

		if (!(e >> 63 & 1))
			continue;
		f = pread64_at(kpageflags, pfn);
		must_go[p] = pread64_at(kpagecount, pfn) == 1 && (f >> KPF_ANON & 1) && (f >> KPF_SWAPBACKED & 1) &&
			     !(f >> KPF_THP & 1);
	}
	do_madvise(pid, start, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	drain();
	for (int p = start; p < start + len && p < 64; p++) {
		uint64_t e = pagemap_of(pid, p);

		if (must_go[p] && (e >> 63 & 1)) {
			bugs++;
			fprintf(stderr,
				"    BUG: MADV_PAGEOUT left P%d page %d mapped (pfn %#llx): it was mapped once, anon and "
				"swap-backed, so reclaim should have unmapped it; an rmap walk missed its PTE\n",
				pid, p, (unsigned long long)(e & ((1ULL << 55) - 1)));
		} else if (must_go[p]) {
			fprintf(stderr, "    P%d page %d was reclaimed, as the correct kernel does\n", pid, p);
		}
	}
}

static MAYBE_UNUSED void do_write(int pid, int page, int value)
{
	call(pid, (struct msg){ .op = OP_WRITE, .a = page, .b = value, .w = nonce });
}

/* A load; `want` < 0: not checked. */
static MAYBE_UNUSED void do_read(int pid, int page, int want)
{
	struct msg r = call(pid, (struct msg){ .op = OP_READ, .a = page });
	int ours = r.w == nonce || (r.w == 0 && r.a == 0);

	if (want < 0) {
		fprintf(stderr, "    P%d read %d: %d%s\n", pid, page, r.a, ours ? "" : " (foreign content!)");
	} else if (r.a == want && ours) {
		fprintf(stderr, "    P%d read %d: %d, as the correct kernel returns\n", pid, page, r.a);
	} else {
		bugs++;
		fprintf(stderr, "    BUG: P%d read %d returned %d%s; the correct kernel returns %d\n", pid, page, r.a,
			ours ? "" : " (foreign content)", want);
	}
}

static MAYBE_UNUSED void do_fork(int pid)
{
	int child = nworkers;
	struct msg r;

	if (child >= MAX_PROCS)
		fail_setup("step %d: too many processes", step_no);
	r = call(pid, (struct msg){ .op = OP_FORK, .a = child });
	expect_ok("fork", r.op);
	pids[child] = r.a;
	pidfds[child] = syscall(__NR_pidfd_open, r.a, 0);
	alive[child] = 1;
	nworkers++;
	fprintf(stderr, "    P%d is pid %d\n", child, r.a);
}

static MAYBE_UNUSED void do_exit(int pid)
{
	struct msg m = { .op = OP_EXIT };
	struct pollfd p = { .fd = pidfds[pid], .events = POLLIN };

	if (pid >= nworkers || !alive[pid])
		fail_setup("step %d: P%d is not a live process", step_no, pid);
	xfer(cmd_w[pid], &m, sizeof(m), 1);
	/* The pidfd polls readable once the task has exited: its mm is gone. */
	if (pidfds[pid] < 0 || poll(&p, 1, TIMEOUT_MS) != 1)
		fail_setup("step %d: P%d did not exit within %d ms", step_no, pid, TIMEOUT_MS);
	alive[pid] = 0;
	pids[pid] = 0;
	reap();
}

static unsigned long long full_scans(void)
{
	char buf[64];

	if (read_str(KSM_DIR "/full_scans", buf, sizeof(buf)))
		fail_setup("cannot read %s/full_scans", KSM_DIR);
	return strtoull(buf, NULL, 10);
}

static void ksm_run(const char *v)
{
	write_or_fail(KSM_DIR "/run", v);
}

/* Whether P page A and Q page B map one frame with KPF_KSM set. */
static int merged(int p, int a, int q, int b)
{
	uint64_t e1 = pagemap_of(p, a), e2 = pagemap_of(q, b), pfn = e1 & ((1ULL << 55) - 1);

	return (e1 >> 63 & 1) && (e2 >> 63 & 1) && pfn == (e2 & ((1ULL << 55) - 1)) &&
	       (pread64_at(kpageflags, pfn) >> KPF_KSM & 1);
}

/* `ksmd merge P A Q B`: there is no system call for one merge, so ksmd
 * runs (run=1) until the two pages map one KSM frame and two full scans
 * have passed (everything it can merge is merged, every stale rmap_item
 * passed), as `rmapcheck conform` does; then it is paused again. */
static MAYBE_UNUSED void ksmd_merge(int p, int a, int q, int b)
{
	unsigned long long start = full_scans(), scans = 0;
	long t0 = now_ms(), ms = 0;
	int seen = 0;

	ksm_used = 1;
	ksm_run("1");
	for (;;) {
		usleep(1000);
		scans = full_scans() - start;
		ms = now_ms() - t0;
		seen = merged(p, a, q, b);
		if (seen && scans >= 2)
			break;
		if ((scans >= 4 && ms >= 200) || ms >= 5000) {
			ksm_run("0");
			fail_setup("step %d: ksmd did not %s within %ld ms and %llu full scans (KSM busy?)", step_no,
				   seen ? "finish its scans" : "merge the two pages", ms, scans);
		}
	}
	ksm_run("0");
	fprintf(stderr, "    ksmd ran %ld ms, %llu full scans\n", ms, scans);
}

/* Two more full scans after the workers are gone, so that ksmd frees
 * their rmap_items before the knobs are restored (as the executor). */
static void ksm_cleanup(void)
{
	unsigned long long start;
	long t0 = now_ms();
	char buf[64];

	if (!ksm_used || read_str(KSM_DIR "/full_scans", buf, sizeof(buf)))
		return;
	ksm_used = 0;
	start = strtoull(buf, NULL, 10);
	if (raw_write(KSM_DIR "/run", "1"))
		return;
	while (now_ms() - t0 < 2000 && !read_str(KSM_DIR "/full_scans", buf, sizeof(buf)) &&
	       strtoull(buf, NULL, 10) < start + 2)
		usleep(2000);
	raw_write(KSM_DIR "/run", "0");
}

/* `kswapd split_deferred`: drop_caches' drop_slab() runs every shrinker,
 * the deferred split one (deferred_split_scan()) among them. */
static MAYBE_UNUSED void split_deferred(void)
{
	int e = raw_write(DROP_CACHES, "2");

	if (e)
		fail_setup("step %d: cannot write 2 to %s: %s", step_no, DROP_CACHES, strerror(e));
}

static void end_step(int npages)
{
	show_state(npages);
}

static void prepare(int npages, int nprocs, int needs_ksm, int large_folios)
{
	struct utsname u;

	mthp = large_folios;
	uname(&u);
	fprintf(stderr, "repro: kernel %s %s, %d pages at %#lx, up to %d processes%s\n", u.release, u.machine, npages,
		WINDOW_BASE, nprocs, mthp ? ", 16 kB large folios" : "");
	setup_machine(needs_ksm);
	nonce = ((uint64_t)now_ms() << 20) ^ ((uint64_t)getpid() << 1) ^ 0x5a5a5a5a5a5a5a5aULL;
	nonce |= 1; /* never 0: a zero-filled page is not ours */
	dummy = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dummy == MAP_FAILED)
		fail_setup("mmap of the drain VMA: %s", strerror(errno));
	start_workers(nprocs);
}

static void conclude(void)
{
	if (bugs)
		fprintf(stderr, "repro: BUG SHOWN: %d check(s) failed: the kernel did not do what the correct kernel does (exit 1)\n", bugs);
	else
		fprintf(stderr, "repro: the kernel behaved as the correct kernel does (exit 0)\n");
	finish(bugs ? EXIT_BUG : EXIT_CORRECT);
}
