#ifndef SLUICE_SHIMS_H
#define SLUICE_SHIMS_H
// Only what Swift cannot import directly.
#include <sys/types.h>
#include <sys/time.h>

/// TLS 1.2 as the floor: SSL_CTX_set_min_proto_version is a function-like macro.
int sluice_ssl_ctx_set_min_tls12(void *ctx);

/// SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION: the SSL_OP_* constants are macros.
unsigned long long sluice_ssl_server_options(void);

/// Gives `ctx` a fresh self-signed P-256 certificate for `common_name` (valid one year, with
/// subjectAltName localhost, 127.0.0.1 and ::1) and writes its SHA-256 fingerprint to `fingerprint`.
/// Returns 1 on success. In C because key generation (EVP_EC_gen) is a variadic macro and the
/// X.509 extension helpers are macro-heavy. `ctx` is an SSL_CTX*.
int sluice_ssl_ctx_use_self_signed(void *ctx, const char *common_name, unsigned char fingerprint[32]);

/// Opens `path` (relative, read-only, close-on-exec) under the directory `dirfd`, refusing any
/// resolution that leaves it (`..`, absolute or escaping symbolic links: EXDEV) in one openat2(2) call.
/// -1 with errno ENOSYS where the kernel has no openat2 (before Linux 5.6). In C: Glibc has no
/// openat2 wrapper, and `struct open_how` comes from <linux/openat2.h>.
int sluice_open_beneath(int dirfd, const char *path);
#endif
