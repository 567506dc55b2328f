#include "CSluiceShims.h"
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

int sluice_ssl_ctx_set_min_tls12(void *ctx) {
    return (int)SSL_CTX_set_min_proto_version((SSL_CTX *)ctx, TLS1_2_VERSION);
}

unsigned long long sluice_ssl_server_options(void) {
    return (unsigned long long)(SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
}

int sluice_ssl_ctx_use_self_signed(void *ctx, const char *common_name, unsigned char fingerprint[32]) {
    int ok = 0;
    X509 *cert = NULL;
    X509_EXTENSION *san = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (key == NULL) goto done;
    cert = X509_new();
    if (cert == NULL) goto done;
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)common_name, -1, -1, 0);
    X509_set_issuer_name(cert, name);
    san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (san == NULL || !X509_add_ext(cert, san, -1)) goto done;
    if (!X509_sign(cert, key, EVP_sha256())) goto done;
    if (SSL_CTX_use_certificate((SSL_CTX *)ctx, cert) != 1) goto done;
    if (SSL_CTX_use_PrivateKey((SSL_CTX *)ctx, key) != 1) goto done;
    unsigned int length = 32;
    if (!X509_digest(cert, EVP_sha256(), fingerprint, &length)) goto done;
    ok = 1;
done:
    X509_EXTENSION_free(san);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

int sluice_open_beneath(int dirfd, const char *path) {
#ifdef SYS_openat2
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_BENEATH};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
    errno = ENOSYS;
    return -1;
#endif
}
