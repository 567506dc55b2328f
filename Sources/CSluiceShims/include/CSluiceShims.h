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

/// HTTP/2 DATA frame buffers (a 9-byte frame header and up to 16 KiB of payload, nghttp2's default
/// frame size), handed to libevent with evbuffer_add_reference. Taken from a few spares this thread
/// keeps, or malloc'd; `sluice_frame_buffer_release` (an evbuffer_ref_cleanup_cb, run where libevent
/// lets go of the frame) keeps it as a spare or frees it. Letting libevent allocate each frame's
/// room instead cost a 32 KiB chain per frame (its next power of two), malloc'd and freed each time.
enum { SLUICE_FRAME_BUFFER_SIZE = 9 + 16384 };
void *sluice_frame_buffer_take(void);
void sluice_frame_buffer_release(const void *data, size_t length, void *unused);
#endif
