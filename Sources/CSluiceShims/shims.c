#include "CSluiceShims.h"
#include <openssl/ssl.h>

int sluice_ssl_ctx_set_min_tls12(void *ctx) {
    return (int)SSL_CTX_set_min_proto_version((SSL_CTX *)ctx, TLS1_2_VERSION);
}
