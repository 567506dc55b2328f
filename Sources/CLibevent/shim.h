#ifndef SLUICE_CLIBEVENT_SHIM_H
#define SLUICE_CLIBEVENT_SHIM_H
// Debian's event-config.h defines _GNU_SOURCE before <sys/time.h>; include the
// system headers first so fd_set agrees with the OpenSSL module (INTEROP.md).
#include <sys/types.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <event2/dns.h>
#endif
