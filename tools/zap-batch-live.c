/*
 * Does zap_pte_range() queue a large folio for the deferred split when it
 * unmaps the folio whole? A 16 kB anonymous folio is kept alive by a pipe
 * (vmsplice() takes a reference on each page) and unmapped: whole in one
 * munmap(), its first page only, and whole again but after mprotect() of
 * its second half (two VMAs: unmap_vmas() zaps VMA by VMA). The 16 kB mTHP
 * counter hugepages-16kB/stats/split_deferred counts deferred_split_folio()
 * queueings. mm/memory.c zap_present_ptes() batches the folio's PTEs
 * (folio_pte_batch(), max_nr from the range) into one
 * zap_present_folio_ptes() -> folio_remove_rmap_ptes(), and
 * __folio_remove_rmap() queues only a folio left partially mapped after
 * the batch: expected "whole: 0 queued, first page: 1 queued, whole across
 * two VMAs: 1 queued".
 * model/tests/zap_batch.rs states the same in the model.
 * Run as root with 16 kB mTHP enabled: tools/zap-batch-live.sh does that
 * under the conform executor's lock and restores the knob.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define K16 16384
static long counter(void) {
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hugepages-16kB/stats/split_deferred", "r");
	long v = -1;
	if (f) { fscanf(f, "%ld", &v); fclose(f); }
	return v;
}
static uint64_t kflags(void *p) {
	uint64_t e = 0, fl = 0;
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	pread(pm, &e, 8, (uintptr_t)p / 4096 * 8);
	uint64_t pfn = e & ((1ULL << 55) - 1);
	pread(kf, &fl, 8, pfn * 8);
	close(pm); close(kf);
	return fl;
}
static int run(size_t unmap_len, int split) {
	char *raw = mmap(NULL, 2 * K16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p = (char *)(((uintptr_t)raw + K16 - 1) & ~(uintptr_t)(K16 - 1));
	memset(p, 7, K16);
	int head = !!(kflags(p) & (1ULL << 15)), tail = !!(kflags(p + 4096) & (1ULL << 16));
	int fds[2];
	pipe(fds);
	struct iovec iov = { p, K16 };
	ssize_t n = vmsplice(fds[1], &iov, 1, 0);
	if (split) /* two VMAs, one folio: mprotect() splits the VMA only */
		mprotect(p + K16 / 2, K16 / 2, PROT_READ);
	long before = counter();
	munmap(p, unmap_len);
	long after = counter();
	printf("16 kB folio (head %d, tail %d), %zd bytes in the pipe, %s, munmap %zu bytes: split_deferred %ld -> %ld\n",
	       head, tail, n, split ? "two VMAs" : "one VMA", unmap_len, before, after);
	char buf[K16];
	ssize_t r = read(fds[0], buf, K16);
	printf("  pipe still reads the data: %zd bytes, byte 0 = %d\n", r, buf[0]);
	close(fds[0]); close(fds[1]);
	munmap(raw, 2 * K16);
	return after - before;
}
int main(void) {
	int whole = run(K16, 0), first = run(4096, 0), two = run(K16, 1);
	printf("whole: %d queued, first page: %d queued, whole across two VMAs: %d queued\n", whole, first, two);
	return 0;
}
