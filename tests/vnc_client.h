/* SPDX-License-Identifier: MIT */
/* What the tests' libvncclient users share. */
#ifndef KR_TESTS_VNC_CLIENT_H
#define KR_TESTS_VNC_CLIENT_H

#include <rfb/rfbclient.h>
#include <stdlib.h>

/* libvncclient's cleanup leaves the frame and the cursor shape to us. */
static inline void
vnc_client_free(rfbClient *c)
{
	free(c->frameBuffer);
	c->frameBuffer = NULL;
	free(c->rcSource);
	free(c->rcMask);
	c->rcSource = c->rcMask = NULL;
	rfbClientCleanup(c);
}

#endif
