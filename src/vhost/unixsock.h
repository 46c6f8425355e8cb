/* SPDX-License-Identifier: MIT */
/* Listening UNIX sockets: the daemon's, the input device's, the VNC console's. */
#ifndef KR_VHOST_UNIXSOCK_H
#define KR_VHOST_UNIXSOCK_H

#include <stdbool.h>

/* Listen on path (close-on-exec; non-blocking with nonblock).  A stale
   socket there (nobody accepts on it) is replaced; anything else is not:
   -ENAMETOOLONG, -EEXIST (a file that is not a socket), -EADDRINUSE
   (another process serves it), else -errno of the probe, bind or listen. */
int unixsock_listen(const char *path, int backlog, bool nonblock);

#endif
