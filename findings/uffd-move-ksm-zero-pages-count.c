/*
 * UFFDIO_MOVE of a KSM zero page leaks a ksm_zero_pages count
 * (findings/uffd-move-ksm-zero-pages-count.md).
 *
 * With /sys/kernel/mm/ksm/use_zero_pages=1, ksmd maps zero-filled pages of
 * a VM_MERGEABLE range to the shared zero page with a dirty special PTE
 * and counts them in mm->ksm_zero_pages and the global ksm_zero_pages
 * (replace_page() -> ksm_map_zero_page()); zapping such a PTE counts it
 * out again (ksm_might_unmap_zero_page()). move_zeropage_pte() in
 * mm/userfaultfd.c clears the source PTE with ptep_clear_flush() and
 * installs a clean zero-page PTE at the destination, without
 * ksm_might_unmap_zero_page(): the count of the moved page is never taken
 * back. After everything is unmapped, /proc/self/ksm_stat still says
 * ksm_zero_pages 1, and so does /sys/kernel/mm/ksm/ksm_zero_pages (for
 * good: nothing decrements it later; a fork copies the per-mm count into
 * the child and adds it to the global count once more).
 *
 * Run as root: cc -O2 -o probe uffd-move-ksm-zero-pages-count.c && ./probe
 * Exit 1: the leak is shown; 0: not shown; 2: could not run.
 *
 * It takes the lock of rmapcheck's executor (/run/rmapcheck-exec.lock),
 * sets the KSM knobs use_zero_pages=1, sleep_millisecs=10,
 * pages_to_scan=1000, smart_scan=0 and runs ksmd only while it waits for
 * two full scans; it restores every knob on exit and on SIGINT/SIGTERM.
 * The leaked count stays in /sys/kernel/mm/ksm/ksm_zero_pages until reboot.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/userfaultfd.h (v6.8+), spelled out for older headers. */
#define UFFD_API_ 0xaaULL
#define UFFD_FEATURE_MOVE_ (1ULL << 16)
#define UFFDIO_API_ 0xc018aa3fUL
#define UFFDIO_REGISTER_ 0xc020aa00UL
#define UFFDIO_UNREGISTER_ 0x8010aa01UL
#define UFFDIO_MOVE_ 0xc028aa05UL

static const char *knobs[] = { "use_zero_pages", "sleep_millisecs", "pages_to_scan", "smart_scan", "run" };
static char saved[5][64];
static int nsaved;

static void rd(const char *p, char *b, int n)
{
	int fd = open(p, O_RDONLY), r = fd < 0 ? -1 : read(fd, b, n - 1);

	b[r > 0 ? r : 0] = 0;
	if (fd >= 0)
		close(fd);
}

static void knob(const char *k, const char *v)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "/sys/kernel/mm/ksm/%s", k);
	fd = open(p, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) < 0)
		perror(p);
	if (fd >= 0)
		close(fd);
}

static long global(const char *k)
{
	char p[128], b[64];

	snprintf(p, sizeof(p), "/sys/kernel/mm/ksm/%s", k);
	rd(p, b, sizeof(b));
	return atol(b);
}

static long self_zero_pages(void)
{
	char b[512], *p;

	rd("/proc/self/ksm_stat", b, sizeof(b));
	p = strstr(b, "ksm_zero_pages ");
	return p ? atol(p + 15) : -1;
}

static void restore(void)
{
	knob("run", "0");
	for (int i = nsaved - 1; i >= 0; i--)
		knob(knobs[i], saved[i]);
	nsaved = 0;
}

static void on_signal(int sig)
{
	restore();
	_exit(2);
}

static void ksmd_two_full_scans(void)
{
	long start = global("full_scans");

	knob("run", "1");
	while (global("full_scans") < start + 2)
		usleep(5000);
	knob("run", "0");
}

int main(void)
{
	long ps = sysconf(_SC_PAGESIZE), before, self, after;
	int lock = open("/run/rmapcheck-exec.lock", O_RDWR | O_CREAT, 0600), uffd;
	uint64_t api[3] = { UFFD_API_, UFFD_FEATURE_MOVE_, 0 };
	char *m;

	for (int i = 0; lock < 0 || flock(lock, LOCK_EX | LOCK_NB); i++) {
		if (i > 600) {
			fprintf(stderr, "the executor lock is held\n");
			return 2;
		}
		usleep(100000);
	}
	for (int i = 0; i < 5; i++, nsaved++) {
		char p[128];

		snprintf(p, sizeof(p), "/sys/kernel/mm/ksm/%s", knobs[i]);
		rd(p, saved[i], sizeof(saved[i]));
		saved[i][strcspn(saved[i], "\n")] = 0;
	}
	atexit(restore);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	knob("run", "0");
	knob("use_zero_pages", "1");
	knob("sleep_millisecs", "10");
	knob("pages_to_scan", "1000");
	knob("smart_scan", "0");

	before = global("ksm_zero_pages");
	m = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || madvise(m, 4 * ps, MADV_NOHUGEPAGE))
		return 2;
	/* Two present, zero-filled pages (0 and 1); pages 2 and 3 stay pte_none. */
	m[0] = 1, m[0] = 0, m[ps] = 1, m[ps] = 0;
	if (madvise(m, 4 * ps, MADV_MERGEABLE))
		return 2;
	ksmd_two_full_scans();
	self = self_zero_pages();
	printf("after ksmd: ksm_zero_pages %ld (self), %+ld (global)\n", self, global("ksm_zero_pages") - before);
	if (self != 2)
		return 2;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
	uint64_t reg[4] = { (uint64_t)(m + 2 * ps), ps, 1 /* MODE_MISSING */, 0 };
	int64_t mv[5] = { (int64_t)(m + 2 * ps), (int64_t)m, ps, 0, 0 };
	uint64_t unreg[2] = { (uint64_t)(m + 2 * ps), ps };

	if (uffd < 0 || ioctl(uffd, UFFDIO_API_, api) || ioctl(uffd, UFFDIO_REGISTER_, reg)) {
		perror("userfaultfd");
		return 2;
	}
	if (ioctl(uffd, UFFDIO_MOVE_, mv)) {
		perror("UFFDIO_MOVE");
		return 2;
	}
	ioctl(uffd, UFFDIO_UNREGISTER_, unreg);
	printf("UFFDIO_MOVE of KSM zero page 0 to page 2: moved %lld bytes; ksm_zero_pages %ld (self)\n",
	       (long long)mv[4], self_zero_pages());
	munmap(m, 4 * ps);
	self = self_zero_pages();
	after = global("ksm_zero_pages") - before;
	printf("after munmap of everything: ksm_zero_pages %ld (self), %+ld (global); 0 and +0 expected\n", self, after);
	return self || after ? 1 : 0;
}
