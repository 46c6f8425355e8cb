/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi-soak: hours of a guest's display work against any vhost-user-gpu
 * backend, watching the backend's memory and fds.
 *
 * Acting as the frontend (vud), it plays what a Linux guest's KMS driver does
 * while an application flips pages: two framebuffers, each frame drawn into
 * the back one, TRANSFER_TO_HOST_2D, SET_SCANOUT to it and a fenced
 * RESOURCE_FLUSH, at --fps frames per second; every 30th frame the cursor
 * moves, every 60th it changes shape, a dumb buffer is created, backed,
 * transferred, shown on the cursor and destroyed, and GET_DISPLAY_INFO and
 * GET_EDID are asked.  Once a second it samples the backend's resident set
 * (VmRSS) and open fds.  At the end it prints the least-squares slope of RSS
 * over time after the warm-up (KiB per hour), the growth between the first
 * and last tenths of the run, and the fd counts; --csv keeps every sample.
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

#define W 1280
#define H 800

struct sample {
	double t;     /* seconds since start */
	long rss_kib; /* VmRSS */
	long fds;     /* entries of /proc/PID/fd */
	uint64_t flips;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A w x h resource with one contiguous backing at *gpa (allocated once). */
static int
make_fb(struct vud *v, uint32_t id, uint32_t w, uint32_t h, uint64_t gpa)
{
	if (vud_create_2d(v, id, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, w, h) !=
		    VIRTIO_GPU_RESP_OK_NODATA ||
	    vud_attach(v, id, gpa, w * h * 4) != VIRTIO_GPU_RESP_OK_NODATA)
		return -EPROTO;
	return 0;
}

static int
unref(struct vud *v, uint32_t id)
{
	struct virtio_gpu_resource_detach_backing d = {
		{.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING}, id, 0};
	struct virtio_gpu_resource_unref u = {{.type = VIRTIO_GPU_CMD_RESOURCE_UNREF}, id, 0};

	return vud_cmd_ok(v, &d, sizeof(d)) ?: vud_cmd_ok(v, &u, sizeof(u));
}

static int
transfer(struct vud *v, uint32_t id, uint32_t w, uint32_t h)
{
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, w, h},
						   .resource_id = id};

	return vud_cmd_ok(v, &t, sizeof(t));
}

/* One page flip: draw into fb, transfer, show, fenced flush. */
static int
flip(struct vud *v, uint32_t id, uint64_t gpa, uint64_t n)
{
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, W, H}, .resource_id = id};
	struct virtio_gpu_resource_flush f = {.hdr = {.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
						      .flags = VIRTIO_GPU_FLAG_FENCE,
						      .fence_id = n + 1},
					      .r = {0, 0, W, H},
					      .resource_id = id};
	struct virtio_gpu_ctrl_hdr resp;
	uint32_t *px = vud_host(v, gpa);
	uint32_t band = (uint32_t)(n % (H / 16)) * 16;

	/* A moving band over the previous frame's content. */
	for (uint32_t i = band * W; i < (band + 16) * W; i++)
		px[i] = (uint32_t)(0xff000000u | (n * 2654435761u) | i);
	if (transfer(v, id, W, H) || vud_cmd_ok(v, &s, sizeof(s)))
		return -EPROTO;
	if (vud_request(v, 0, &f, sizeof(f), &resp, sizeof(resp), 5000) != sizeof(resp) ||
	    resp.type != VIRTIO_GPU_RESP_OK_NODATA || resp.fence_id != n + 1) {
		fprintf(stderr, "kohlrabi-soak: fenced flush %llu failed\n",
			(unsigned long long)n + 1);
		return -EPROTO;
	}
	return 0;
}

static int
cursor(struct vud *v, uint32_t id, uint64_t n)
{
	struct virtio_gpu_update_cursor c = {
		.hdr.type = id ? VIRTIO_GPU_CMD_UPDATE_CURSOR : VIRTIO_GPU_CMD_MOVE_CURSOR,
		.pos = {0, (uint32_t)(n * 7 % W), (uint32_t)(n * 3 % H), 0},
		.resource_id = id};

	return vud_request(v, 1, &c, sizeof(c), NULL, 0, 5000) < 0 ? -EPROTO : 0;
}

/* Every 60th frame: the queries and a short-lived dumb buffer. */
static int
churn(struct vud *v, uint64_t gpa, uint64_t n)
{
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_cmd_get_edid e = {.hdr.type = VIRTIO_GPU_CMD_GET_EDID};
	struct virtio_gpu_resp_display_info di;
	struct virtio_gpu_resp_edid ed;

	if (vud_request(v, 0, &q, sizeof(q), &di, sizeof(di), 5000) != sizeof(di) ||
	    vud_request(v, 0, &e, sizeof(e), &ed, sizeof(ed), 5000) != sizeof(ed))
		return -EPROTO;
	memset(vud_host(v, gpa), (int)(n & 0xff), 64 * 64 * 4);
	if (make_fb(v, 3, 64, 64, gpa) || transfer(v, 3, 64, 64) || cursor(v, 3, n) ||
	    cursor(v, 0, n))
		return -EPROTO;
	/* Hide the cursor before its resource goes. */
	struct virtio_gpu_update_cursor hide = {.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR};
	if (vud_request(v, 1, &hide, sizeof(hide), NULL, 0, 5000) < 0)
		return -EPROTO;
	return unref(v, 3);
}

struct fit {
	double slope_kib_per_h; /* least squares after the warm-up */
	long first_kib, last_kib;
};

static struct fit
fit_rss(const struct sample *s, size_t n, double warmup)
{
	struct fit r = {0};
	double st = 0, sr = 0, stt = 0, str = 0;
	size_t m = 0, tenth;

	for (size_t i = 0; i < n; i++) {
		if (s[i].t < warmup)
			continue;
		st += s[i].t;
		sr += (double)s[i].rss_kib;
		stt += s[i].t * s[i].t;
		str += s[i].t * (double)s[i].rss_kib;
		m++;
	}
	if (m >= 2 && m * stt - st * st > 0)
		r.slope_kib_per_h = (m * str - st * sr) / (m * stt - st * st) * 3600.0;
	/* Mean of the first and last tenths of the samples after the warm-up. */
	tenth = m / 10 ? m / 10 : 1;
	size_t first = n - m;
	double a = 0, b = 0;
	for (size_t i = 0; i < tenth && first + i < n; i++) {
		a += (double)s[first + i].rss_kib;
		b += (double)s[n - 1 - i].rss_kib;
	}
	r.first_kib = (long)(a / (double)tenth);
	r.last_kib = (long)(b / (double)tenth);
	return r;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: kohlrabi-soak [--seconds N] [--fps N] [--warmup N] [--csv FILE] [--json "
		"FILE]\n"
		"                     -- BACKEND [ARG]...\n"
		"Runs guest-style page flips (%dx%d, double buffered, fenced flushes) with\n"
		"cursor and dumb-buffer churn against a vhost-user-gpu backend for N seconds\n"
		"(default 3600) at --fps (default 60), sampling the backend's RSS and open fds\n"
		"every second; prints the RSS slope after --warmup seconds (default 60).\n"
		"\"{socket}\" in the arguments becomes the socket path.  Example:\n"
		"  kohlrabi-soak --seconds 3600 -- build/kohlrabi --socket-path {socket}\n",
		W, H);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"seconds", required_argument, NULL, 's'},
					     {"fps", required_argument, NULL, 'f'},
					     {"warmup", required_argument, NULL, 'w'},
					     {"csv", required_argument, NULL, 'c'},
					     {"json", required_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	double seconds = 3600, fps = 60, warmup = 60;
	const char *csv = NULL, *json = NULL;
	struct sample *samples = NULL;
	size_t n_samples = 0, cap = 0;
	uint64_t flips = 0, gpa[3];
	struct vud v;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "+s:f:w:c:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': seconds = strtod(optarg, NULL); break;
		case 'f': fps = strtod(optarg, NULL); break;
		case 'w': warmup = strtod(optarg, NULL); break;
		case 'c': csv = optarg; break;
		case 'j': json = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc || !(seconds > 0) || !(fps > 0) || !(warmup >= 0) || warmup >= seconds) {
		usage(stderr);
		return 2;
	}
	if (vud_spawn(&v, argv + optind) < 0) {
		fprintf(stderr, "kohlrabi-soak: cannot start %s\n", argv[optind]);
		return 1;
	}
	if (vud_start(&v, 1ull << VIRTIO_GPU_F_EDID, 64) < 0) {
		fprintf(stderr, "kohlrabi-soak: setup failed\n");
		goto out;
	}
	gpa[0] = vud_alloc(&v, (size_t)W * H * 4);
	gpa[1] = vud_alloc(&v, (size_t)W * H * 4);
	gpa[2] = vud_alloc(&v, 64 * 64 * 4);
	if (!gpa[0] || !gpa[1] || !gpa[2] || make_fb(&v, 1, W, H, gpa[0]) ||
	    make_fb(&v, 2, W, H, gpa[1]))
		goto out;

	double t0 = now_s(), next_sample = 0, period = 1.0 / fps;
	for (;;) {
		double t = now_s() - t0;
		if (t >= next_sample) {
			if (n_samples == cap) {
				struct sample *ns = realloc(samples, (cap = cap ? cap * 2 : 4096) *
									     sizeof(*ns));
				if (!ns)
					goto out;
				samples = ns;
			}
			samples[n_samples++] = (struct sample){t, vud_backend_rss_kib(&v),
							       vud_backend_fds(&v), flips};
			if (samples[n_samples - 1].rss_kib < 0) {
				fprintf(stderr, "kohlrabi-soak: the backend is gone\n");
				goto out;
			}
			next_sample += 1.0;
		}
		if (t >= seconds)
			break;
		uint32_t id = 1 + (uint32_t)(flips & 1);
		if (flip(&v, id, gpa[id - 1], flips) < 0 ||
		    (flips % 30 == 0 && cursor(&v, 0, flips) < 0) ||
		    (flips % 60 == 59 && churn(&v, gpa[2], flips) < 0))
			goto out;
		flips++;
		double wait = t0 + (double)flips * period - now_s();
		if (wait > 0)
			nanosleep(&(struct timespec){(time_t)wait,
						     (long)((wait - (double)(time_t)wait) * 1e9)},
				  NULL);
	}

	struct fit r = fit_rss(samples, n_samples, warmup);
	const struct sample *last = &samples[n_samples - 1];
	printf("soak: %.0f s, %llu flips (%.1f/s), %zu samples\n", last->t,
	       (unsigned long long)flips, (double)flips / last->t, n_samples);
	printf("  RSS after %.0f s warm-up: %ld KiB -> %ld KiB (first/last tenth), slope %+.1f "
	       "KiB/h\n",
	       warmup, r.first_kib, r.last_kib, r.slope_kib_per_h);
	printf("  open fds: %ld at start, %ld at end\n", samples[0].fds, last->fds);
	if (csv) {
		FILE *f = fopen(csv, "w");
		if (!f) {
			perror(csv);
			goto out;
		}
		fprintf(f, "seconds,rss_kib,fds,flips\n");
		for (size_t i = 0; i < n_samples; i++)
			fprintf(f, "%.1f,%ld,%ld,%llu\n", samples[i].t, samples[i].rss_kib,
				samples[i].fds, (unsigned long long)samples[i].flips);
		fclose(f);
	}
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) {
			perror(json);
			goto out;
		}
		fprintf(f,
			"{\"backend\": \"%s\", \"seconds\": %.0f, \"flips\": %llu, "
			"\"rss_first_kib\": %ld, \"rss_last_kib\": %ld, "
			"\"rss_slope_kib_per_hour\": %.1f, \"fds_start\": %ld, \"fds_end\": %ld}\n",
			argv[optind], last->t, (unsigned long long)flips, r.first_kib, r.last_kib,
			r.slope_kib_per_h, samples[0].fds, last->fds);
		fclose(f);
	}
	ret = 0;
out:
	free(samples);
	int status = vud_stop(&v);
	if (ret == 0 && status != 0 && status != 143) {
		fprintf(stderr, "kohlrabi-soak: the backend exited with %d\n", status);
		ret = 1;
	}
	return ret;
}
