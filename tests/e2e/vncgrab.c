/* SPDX-License-Identifier: MIT */
/*
 * vncgrab HOST:PORT OUT.ppm: one full frame from a VNC server (libvncclient),
 * written as a binary PPM.  The e2e test compares it with QEMU's screendump.
 * vncgrab HOST:PORT --type TEXT: TEXT typed as key presses and releases.
 * vncgrab HOST:PORT --count SECONDS: frame updates received per second, as a
 * client that asks for the next update as soon as one is done (a benchmark).
 * Exit status 0, or 1 with the reason on stderr.
 */
#include <rfb/rfbclient.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../vnc_client.h"

static bool done, typing;
static uint64_t covered; /* pixels received since the frame was (re)sized */
static unsigned updates;

static void
got_rect(rfbClient *c, int x, int y, int w, int h)
{
	(void)c;
	(void)x;
	(void)y;
	covered += (uint64_t)w * (uint64_t)h;
}

/* An update may hold only a cursor shape or a new size: done once the
   whole frame came. */
static void
frame_done(rfbClient *c)
{
	updates++;
	/* Typing: the answer to the request sent after the keys (the server
	   reads a client's messages in order) says they were taken. */
	done = typing ? updates >= 2 : covered >= (uint64_t)c->width * (uint64_t)c->height;
}

static void
quiet(const char *fmt, ...)
{
	(void)fmt;
}

int
main(int argc, char **argv)
{
	typing = argc == 4 && !strcmp(argv[2], "--type");
	bool counting = argc == 4 && !strcmp(argv[2], "--count");
	if ((argc != 3 && !typing && !counting) || !strchr(argv[1], ':')) {
		fprintf(stderr,
			"usage: vncgrab HOST:PORT OUT.ppm | vncgrab HOST:PORT --type TEXT\n");
		return 1;
	}
	rfbClientLog = rfbClientErr = quiet;
	rfbClient *c = rfbGetClient(8, 3, 4);
	if (!c)
		return 1;
	c->format.redShift = 16;
	c->format.greenShift = 8;
	c->format.blueShift = 0;
	free(c->serverHost);
	c->serverHost = strndup(argv[1], (size_t)(strrchr(argv[1], ':') - argv[1]));
	c->serverPort = atoi(strrchr(argv[1], ':') + 1);
	c->appData.encodingsString = "raw";
	c->appData.useRemoteCursor = TRUE; /* the cursor apart, as in a screendump */
	c->FinishedFrameBufferUpdate = frame_done;
	c->GotFrameBufferUpdate = got_rect;
	if (!rfbInitClient(c, NULL, NULL)) {
		fprintf(stderr, "vncgrab: cannot connect to %s\n", argv[1]);
		return 1;
	}
	if (counting) {
		struct timespec t0, t;
		double secs = atof(argv[3]), el = 0;
		unsigned seen = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (el < secs) {
			unsigned before = updates;
			if (WaitForMessage(c, 100000) > 0 && !HandleRFBServerMessage(c))
				return 1;
			if (updates != before) { /* done: ask for the next change */
				seen += updates - before;
				SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, TRUE);
			}
			clock_gettime(CLOCK_MONOTONIC, &t);
			el = (double)(t.tv_sec - t0.tv_sec) +
			     (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
		}
		printf("%u updates in %.1f s: %.1f/s (%dx%d)\n", seen, el, seen / el, c->width,
		       c->height);
		vnc_client_free(c);
		return 0;
	}
	if (typing) { /* X keysyms of ASCII are the characters themselves */
		for (const char *p = argv[3]; *p; p++) {
			if (!SendKeyEvent(c, (uint32_t)(unsigned char)*p, TRUE) ||
			    !SendKeyEvent(c, (uint32_t)(unsigned char)*p, FALSE))
				return 1;
		}
		SendFramebufferUpdateRequest(c, 0, 0, 1, 1, FALSE);
	}
	for (int i = 0; i < 100 && !done; i++) { /* rfbInitClient asked for a full frame */
		if (i % 10 == 9) {		 /* ask again, for all of it */
			covered = 0;
			SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, FALSE);
		}
		int n = WaitForMessage(c, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(c))) {
			fprintf(stderr, "vncgrab: the server went away\n");
			return 1;
		}
	}
	if (!done) {
		fprintf(stderr, "vncgrab: no frame in 10 s\n");
		return 1;
	}
	if (typing) {
		vnc_client_free(c);
		return 0;
	}
	FILE *f = fopen(argv[2], "wb");
	if (!f)
		return 1;
	fprintf(f, "P6\n%d %d\n255\n", c->width, c->height);
	const uint32_t *fb = (const uint32_t *)(void *)c->frameBuffer;
	for (int i = 0; i < c->width * c->height; i++) {
		uint8_t rgb[3] = {(uint8_t)(fb[i] >> 16), (uint8_t)(fb[i] >> 8), (uint8_t)fb[i]};
		fwrite(rgb, 1, 3, f);
	}
	int ret = fclose(f) == 0 ? 0 : 1;
	vnc_client_free(c);
	return ret;
}
