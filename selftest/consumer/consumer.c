/*  A program built against an installed curve (find_package or pkg-config):
    it runs one handshake and one message in memory.  */

#include <curve.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int
s_pump (curve_codec_t *from, curve_codec_t *to)
{
    size_t size;
    const uint8_t *data = curve_codec_send_buf (from, &size);
    if (!data)
        return -1;
    uint8_t copy [512];
    if (size > sizeof copy)
        return -1;
    memcpy (copy, data, size);
    curve_codec_send_ack (from);
    return curve_codec_recv (to, copy, size);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    uint8_t client_public [32], client_secret [32];
    uint8_t server_public [32], server_secret [32];
    if (crypto_box_keypair (client_public, client_secret)
    ||  crypto_box_keypair (server_public, server_secret))
        return 1;
    curve_codec_t *client = curve_codec_new_client (client_public,
                                                    client_secret,
                                                    server_public);
    curve_codec_t *server = curve_codec_new_server (server_public,
                                                    server_secret);
    int rc = (client && server
           && s_pump (client, server) == 0 && s_pump (server, client) == 0
           && s_pump (client, server) == 0 && curve_codec_allow (server) == 0
           && s_pump (server, client) == 0)? 0: 1;
    uint8_t msg [CURVE_MESSAGE_OVERHEAD + 5];
    uint8_t *data = NULL;
    size_t size = 0;
    if (rc == 0
    && (curve_codec_encode (client, "hello", 5, 0, msg, sizeof msg)
    ||  curve_codec_decode (server, msg, sizeof msg, &data, &size, NULL)
    ||  size != 5 || memcmp (data, "hello", 5)))
        rc = 1;
    curve_codec_destroy (&client);
    curve_codec_destroy (&server);
    printf ("consumer: %s\n", rc == 0? "OK": "FAILED");
    return rc;
}
