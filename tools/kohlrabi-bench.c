/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi-bench: measure any vhost-user-gpu backend (kohlrabi, QEMU's
 * vhost-user-gpu, ...) through its real socket, acting as the frontend (vud):
 * command round trip, TRANSFER_TO_HOST_2D bandwidth next to a plain memcpy of
 * the same bytes in the same run, full-frame transfer+flush rate and fence
 * latency; or, with --callgrind, instructions per 2D command in the backend.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/virtio_gpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vud.h"

#define W 1920
#define H 1080

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(size_t)(p * (double)(n - 1))] / 1000.0; /* microseconds */
}

/* A W x H resource with one contiguous backing, shown on scanout 0. */
static int
setup_frame(struct vud *v, uint32_t id, uint64_t *gpa)
{
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, W, H}, .resource_id = id};

	*gpa = vud_alloc(v, (size_t)W * H * 4);
	if (!*gpa)
		return -ENOMEM;
	memset(vud_host(v, *gpa), 0x5a, (size_t)W * H * 4);
	if (vud_create_2d(v, id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W, H) !=
		    VIRTIO_GPU_RESP_OK_NODATA ||
	    vud_attach(v, id, *gpa, W * H * 4) != VIRTIO_GPU_RESP_OK_NODATA ||
	    vud_cmd_ok(v, &s, sizeof(s)))
		return -EPROTO;
	return 0;
}

struct results {
	double rtt_p50, rtt_p99;
	double transfer_mbs, batch_mbs, memcpy_mbs; /* medians over the rounds */
	double transfer_ratio, batch_ratio;	    /* medians of each round's ratio */
	double frames_per_s;
	double fence_p50, fence_p99;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
measure(struct vud *v, unsigned iters, struct results *r)
{
	uint64_t *lat = calloc(iters, sizeof(*lat)), gpa, t0;
	uint8_t *dst = NULL;
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_resp_display_info info;
	int ret = -EPROTO;

	if (!lat)
		return -ENOMEM;
	/* Command round trip. */
	for (unsigned i = 0; i < iters; i++) {
		t0 = now_ns();
		if (vud_request(v, 0, &q, sizeof(q), &info, sizeof(info), 5000) != sizeof(info))
			goto out;
		lat[i] = now_ns() - t0;
	}
	r->rtt_p50 = pct(lat, iters, 0.5);
	r->rtt_p99 = pct(lat, iters, 0.99);

	if (setup_frame(v, 1, &gpa) < 0)
		goto out;
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, W, H},
						   .resource_id = 1};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, W, H}, .resource_id = 1};
	const unsigned frames = 200;
	dst = malloc((size_t)W * H * 4);
	if (!dst)
		goto out;
	memset(dst, 0, (size_t)W * H * 4);
	/* Transfer bandwidth, one command at a time (each waits for its reply)
	   and BATCH a kick (as a guest that queues its transfers), each next to
	   memcpy of the same bytes from the same memory in the same round:
	   medians over ROUNDS rounds, so that the machine's drift between
	   rounds does not land on one side. */
	enum { ROUNDS = 7, PER_ROUND = 24, BATCH = 8 };
	double sync_r[ROUNDS], batch_r[ROUNDS], mc[ROUNDS], sync_mbs[ROUNDS], batch_mbs[ROUNDS];
	struct virtio_gpu_ctrl_hdr bresp[BATCH];
	struct vud_req rq[BATCH];
	for (unsigned k = 0; k < BATCH; k++)
		rq[k] = (struct vud_req){&t, sizeof(t), &bresp[k], sizeof(bresp[k]), 0, 0};
	const double bytes = (double)PER_ROUND * W * H * 4;
	for (unsigned round = 0; round < ROUNDS; round++) {
		t0 = now_ns();
		for (unsigned i = 0; i < PER_ROUND; i++) {
			memcpy(dst, vud_host(v, gpa), (size_t)W * H * 4);
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		mc[round] = bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
		t0 = now_ns();
		for (unsigned i = 0; i < PER_ROUND; i++) {
			if (vud_cmd_ok(v, &t, sizeof(t)))
				goto out;
		}
		sync_mbs[round] = bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
		t0 = now_ns();
		for (unsigned i = 0; i < PER_ROUND; i += BATCH) {
			if (vud_requests(v, 0, rq, BATCH, 5000) < 0)
				goto out;
			for (unsigned k = 0; k < BATCH; k++) {
				if (bresp[k].type != VIRTIO_GPU_RESP_OK_NODATA)
					goto out;
			}
		}
		batch_mbs[round] = bytes / ((double)(now_ns() - t0) / 1e9) / 1e6;
		sync_r[round] = sync_mbs[round] / mc[round];
		batch_r[round] = batch_mbs[round] / mc[round];
	}
	r->transfer_mbs = median(sync_mbs, ROUNDS);
	r->batch_mbs = median(batch_mbs, ROUNDS);
	r->memcpy_mbs = median(mc, ROUNDS);
	r->transfer_ratio = median(sync_r, ROUNDS);
	r->batch_ratio = median(batch_r, ROUNDS);
	/* Full frames: transfer + flush, as a guest's page flip of a dirty frame. */
	t0 = now_ns();
	for (unsigned i = 0; i < frames; i++) {
		if (vud_cmd_ok(v, &t, sizeof(t)) || vud_cmd_ok(v, &f, sizeof(f)))
			goto out;
	}
	r->frames_per_s = frames / ((double)(now_ns() - t0) / 1e9);
	/* Fence latency: a fenced flush until its used entry. */
	for (unsigned i = 0; i < iters; i++) {
		struct virtio_gpu_resource_flush ff = f;
		struct virtio_gpu_ctrl_hdr resp;
		ff.hdr.flags = VIRTIO_GPU_FLAG_FENCE;
		ff.hdr.fence_id = i + 1;
		ff.r = (struct virtio_gpu_rect){0, 0, 64, 64};
		t0 = now_ns();
		if (vud_request(v, 0, &ff, sizeof(ff), &resp, sizeof(resp), 5000) != sizeof(resp) ||
		    resp.fence_id != i + 1)
			goto out;
		lat[i] = now_ns() - t0;
	}
	r->fence_p50 = pct(lat, iters, 0.5);
	r->fence_p99 = pct(lat, iters, 0.99);
	ret = 0;
out:
	free(dst);
	free(lat);
	return ret;
}

/* Run n small 2D commands (transfer + flush of 64x64) against the backend. */
static int
command_mix(struct vud *v, unsigned n)
{
	uint64_t gpa;
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, 64, 64},
						   .resource_id = 1};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, 64, 64}, .resource_id = 1};

	if (setup_frame(v, 1, &gpa) < 0)
		return -EPROTO;
	for (unsigned i = 0; i < n / 2; i++) {
		if (vud_cmd_ok(v, &t, sizeof(t)) || vud_cmd_ok(v, &f, sizeof(f)))
			return -EPROTO;
	}
	return 0;
}

static int
run_backend(char **argv, unsigned cmds, const char *callgrind_out, struct results *r)
{
	char *args[64];
	char outopt[300];
	int n = 0, ret;
	struct vud v;

	if (callgrind_out) {
		snprintf(outopt, sizeof(outopt), "--callgrind-out-file=%s", callgrind_out);
		args[n++] = "/usr/bin/valgrind";
		args[n++] = "--tool=callgrind";
		args[n++] = "--quiet";
		args[n++] = outopt;
	}
	for (int i = 0; argv[i] && n < 62; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	ret = vud_spawn(&v, args);
	if (ret == 0)
		ret = vud_start(&v, (1ull << VIRTIO_GPU_F_EDID), 64);
	if (ret == 0)
		ret = callgrind_out ? command_mix(&v, cmds) : measure(&v, cmds, r);
	int status = vud_stop(&v);
	if (ret == 0 && status != 0 && status != 143) {
		fprintf(stderr, "kohlrabi-bench: the backend exited with %d\n", status);
		ret = -EPROTO;
	}
	return ret;
}

/* Total instructions (Ir) recorded in a callgrind output file. */
static long long
callgrind_total(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	long long total = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "summary: %lld", &total) == 1 ||
		    sscanf(line, "totals: %lld", &total) == 1)
			break;
	}
	fclose(f);
	return total;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: kohlrabi-bench [--iterations N] [--json FILE] [--callgrind] [--name NAME]\n"
		"                      -- BACKEND [ARG]...\n"
		"Measures a vhost-user-gpu backend through its socket; \"{socket}\" in the\n"
		"arguments becomes the socket path.  Examples:\n"
		"  kohlrabi-bench -- build/kohlrabi --socket-path {socket}\n"
		"  kohlrabi-bench -- /usr/lib/qemu/vhost-user-gpu --socket-path {socket}\n"
		"Reports GET_DISPLAY_INFO round trip (p50/p99), TRANSFER_TO_HOST_2D bandwidth of\n"
		"%dx%d frames, one a kick and eight a kick, each as a ratio to memcpy of the\n"
		"same bytes in the same round (medians of 7 rounds), full-frame transfer+flush "
		"rate\n"
		"and fenced-command latency; with --callgrind, instructions per 2D command\n"
		"(valgrind's count, repeatable), from two runs of different lengths.\n",
		W, H);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"iterations", required_argument, NULL, 'n'},
					     {"json", required_argument, NULL, 'j'},
					     {"callgrind", no_argument, NULL, 'c'},
					     {"name", required_argument, NULL, 'N'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	unsigned iters = 2000;
	const char *json = NULL, *name = NULL;
	bool callgrind = false;
	int c;

	while ((c = getopt_long(argc, argv, "+n:j:cN:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': iters = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'j': json = optarg; break;
		case 'c': callgrind = true; break;
		case 'N': name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc || iters < 10) {
		usage(stderr);
		return 2;
	}
	char **backend = argv + optind;
	name = name ? name : backend[0];
	FILE *jf = json ? fopen(json, "w") : NULL;
	if (json && !jf) {
		perror(json);
		return 1;
	}
	if (callgrind) {
		char p1[] = "/tmp/kr-bench-cg1-XXXXXX", p2[] = "/tmp/kr-bench-cg2-XXXXXX";
		int f1 = mkstemp(p1), f2 = mkstemp(p2);
		const unsigned n1 = 200, n2 = 1200;
		struct results unused;
		if (f1 < 0 || f2 < 0)
			return 1;
		close(f1);
		close(f2);
		if (run_backend(backend, n1, p1, &unused) < 0 ||
		    run_backend(backend, n2, p2, &unused) < 0) {
			fprintf(stderr, "kohlrabi-bench: callgrind runs failed\n");
			return 1;
		}
		long long a = callgrind_total(p1), b = callgrind_total(p2);
		unlink(p1);
		unlink(p2);
		if (a < 0 || b < 0) {
			fprintf(stderr, "kohlrabi-bench: no callgrind totals\n");
			return 1;
		}
		double per = (double)(b - a) / (n2 - n1);
		printf("%-28s %12s\n%-28s %12.0f\n", "backend", "instr/cmd", name, per);
		if (jf)
			fprintf(jf, "{\"backend\": \"%s\", \"instructions_per_command\": %.0f}\n",
				name, per);
		if (jf)
			fclose(jf);
		return 0;
	}
	struct results r = {0};
	if (run_backend(backend, iters, NULL, &r) < 0) {
		fprintf(stderr, "kohlrabi-bench: measurement failed\n");
		return 1;
	}
	printf("backend: %s\n", name);
	printf("  %-36s %10.1f us  p99 %8.1f us\n", "GET_DISPLAY_INFO round trip p50", r.rtt_p50,
	       r.rtt_p99);
	printf("  %-36s %10.0f MB/s (memcpy %.0f MB/s, ratio %.2f)\n",
	       "TRANSFER_TO_HOST_2D 1920x1080, 1 a kick", r.transfer_mbs, r.memcpy_mbs,
	       r.transfer_ratio);
	printf("  %-36s %10.0f MB/s (ratio %.2f)\n", "TRANSFER_TO_HOST_2D 1920x1080, 8 a kick",
	       r.batch_mbs, r.batch_ratio);
	printf("  %-36s %10.1f frames/s\n", "full-frame transfer+flush", r.frames_per_s);
	printf("  %-36s %10.1f us  p99 %8.1f us\n", "fenced flush latency p50", r.fence_p50,
	       r.fence_p99);
	if (jf) {
		fprintf(jf,
			"{\"backend\": \"%s\", \"rtt_p50_us\": %.1f, \"rtt_p99_us\": %.1f, "
			"\"transfer_mb_s\": %.0f, \"memcpy_mb_s\": %.0f, \"transfer_vs_memcpy\": "
			"%.3f, \"batched_transfer_mb_s\": %.0f, \"batched_transfer_vs_memcpy\": "
			"%.3f, "
			"\"frames_per_s\": %.1f, \"fence_p50_us\": %.1f, \"fence_p99_us\": %.1f}\n",
			name, r.rtt_p50, r.rtt_p99, r.transfer_mbs, r.memcpy_mbs, r.transfer_ratio,
			r.batch_mbs, r.batch_ratio, r.frames_per_s, r.fence_p50, r.fence_p99);
		fclose(jf);
	}
	return 0;
}
