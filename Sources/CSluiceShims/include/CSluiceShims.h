#ifndef SLUICE_SHIMS_H
#define SLUICE_SHIMS_H
// Only what Swift cannot import directly.
#include <sys/types.h>
#include <sys/time.h>

/// TLS 1.2 as the floor: SSL_CTX_set_min_proto_version is a function-like macro.
int sluice_ssl_ctx_set_min_tls12(void *ctx);
#endif
