/*  =========================================================================
    curve_keygen - create CurveZMQ key pairs and read public keys

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_keygen writes a key pair as czmq certificates (DIR/NAME.key,
    mode 0644, and DIR/NAME.key_secret, mode 0600) and prints the public
    key in Z85. It also prints the public key of an existing certificate,
    and checks a secret certificate the way the library will load it.
@discuss
    The public key is the only thing written to standard output, so that
    scripts can capture it; everything else goes to standard error. Exit
    status: 0 on success, 1 on failure, 2 on a usage error.
@end
*/

#include "curve_classes.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char *s_program = "curve_keygen";

static void
s_usage (FILE *stream)
{
    fprintf (stream,
        "usage: %s NAME [--dir DIR] [--meta NAME=VALUE]... [--force]\n"
        "       %s --public FILE\n"
        "       %s --check FILE\n"
        "\n"
        "Create a CurveZMQ key pair: DIR/NAME.key holds the public key (give\n"
        "it to peers; a server trusts the clients whose .key files are in\n"
        "its authorized_clients directory) and DIR/NAME.key_secret holds the\n"
        "secret key (mode 0600; never give it away). Prints the public key\n"
        "in Z85. The files are czmq certificates, which czmq and pyzmq read.\n"
        "\n"
        "  -d, --dir DIR          where to write (default ~/.curve, created\n"
        "                         with mode 0700)\n"
        "  -m, --meta NAME=VALUE  add certificate metadata (repeatable)\n"
        "  -f, --force            replace an existing key pair of that name\n"
        "  -p, --public FILE      print the Z85 public key of a certificate\n"
        "  -c, --check FILE       check a secret certificate (permissions,\n"
        "                         format, keys) and print its public key\n"
        "  -h, --help             show this help\n",
        s_program, s_program, s_program);
}

//  Report a usage error and return the usage exit status
static int
s_usage_error (const char *message, const char *detail)
{
    fprintf (stderr, "%s: %s%s%s\n", s_program, message,
             detail? ": ": "", detail? detail: "");
    fprintf (stderr, "Try '%s --help'.\n", s_program);
    return EXIT_USAGE;
}

//  Print the public key of a certificate file; secret: load it as a
//  secret certificate, with every check that implies
static int
s_print_public (const char *filename, bool secret)
{
    char error [CURVE_CERT_ERROR_MAX];
    zcert_t *cert = secret
                  ? curve_cert_load_secret (filename, error, sizeof error)
                  : curve_cert_load_public (filename, error, sizeof error);
    if (!cert) {
        fprintf (stderr, "%s: %s\n", s_program, error);
        return EXIT_FAILURE;
    }
    printf ("%s\n", zcert_public_txt (cert));
    curve_cert_destroy (&cert);
    return fflush (stdout) == 0? EXIT_SUCCESS: EXIT_FAILURE;
}

//  Create, save and announce a new key pair
static int
s_generate (const char *name, const char *dir, zlist_t *metadata,
            bool force)
{
    if (sodium_init () < 0) {
        fprintf (stderr, "%s: libsodium cannot start\n", s_program);
        return EXIT_FAILURE;
    }
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    crypto_box_keypair (public_key, secret_key);
    zcert_t *cert = zcert_new_from (public_key, secret_key);
    sodium_memzero (secret_key, sizeof secret_key);
    if (!cert) {
        fprintf (stderr, "%s: out of memory\n", s_program);
        return EXIT_FAILURE;
    }
    //  Each item is "name=value", checked for its '=' already
    for (char *item = (char *) zlist_first (metadata); item;
         item = (char *) zlist_next (metadata)) {
        char *equals = strchr (item, '=');
        *equals = 0;
        zcert_set_meta (cert, item, "%s", equals + 1);
        *equals = '=';
    }
    char *default_dir = NULL;
    if (!dir) {
        dir = default_dir = curve_cert_default_dir ();
        if (!dir) {
            fprintf (stderr, "%s: cannot find your home directory; give "
                     "one with --dir\n", s_program);
            curve_cert_destroy (&cert);
            return EXIT_FAILURE;
        }
    }
    char error [CURVE_CERT_ERROR_MAX];
    int status = EXIT_SUCCESS;
    if (curve_cert_save (cert, dir, name, force, error, sizeof error) == 0) {
        printf ("%s\n", zcert_public_txt (cert));
        if (fflush (stdout) != 0)
            status = EXIT_FAILURE;
        fprintf (stderr, "%s: wrote %s/%s%s (public) and %s/%s%s%s "
                 "(secret, mode 0600)\n", s_program,
                 dir, name, CURVE_CERT_SUFFIX,
                 dir, name, CURVE_CERT_SUFFIX, CURVE_CERT_SECRET_SUFFIX);
    }
    else {
        fprintf (stderr, "%s: %s%s\n", s_program, error,
                 strstr (error, "already exists")
                 ? " (use --force to replace the key pair)": "");
        status = EXIT_FAILURE;
    }
    curve_cert_destroy (&cert);
    free (default_dir);
    return status;
}

int
main (int argc, char **argv)
{
    const char *name = NULL;
    const char *dir = NULL;
    const char *public_file = NULL;
    const char *check_file = NULL;
    bool force = false;
    zlist_t *metadata = zlist_new ();
    if (!metadata) {
        fprintf (stderr, "%s: out of memory\n", s_program);
        return EXIT_FAILURE;
    }
    int status = -1;                //  -1 until decided
    for (int argn = 1; argn < argc && status == -1; argn++) {
        const char *arg = argv [argn];
        //  Options that take a value
        const char **target = NULL;
        bool is_meta = false;
        if (streq (arg, "--dir") || streq (arg, "-d"))
            target = &dir;
        else
        if (streq (arg, "--public") || streq (arg, "-p"))
            target = &public_file;
        else
        if (streq (arg, "--check") || streq (arg, "-c"))
            target = &check_file;
        else
        if (streq (arg, "--meta") || streq (arg, "-m"))
            is_meta = true;

        if (target || is_meta) {
            if (++argn >= argc) {
                status = s_usage_error ("option needs a value", arg);
                break;
            }
            const char *value = argv [argn];
            if (target) {
                if (*target)
                    status = s_usage_error ("option given twice", arg);
                *target = value;
            }
            else {
                const char *equals = strchr (value, '=');
                if (!equals || equals == value)
                    status = s_usage_error ("--meta wants NAME=VALUE", value);
                else {
                    //  The same name twice would keep one silently
                    size_t length = (size_t) (equals - value);
                    for (char *item = (char *) zlist_first (metadata); item;
                         item = (char *) zlist_next (metadata))
                        if (strncmp (item, value, length) == 0
                        &&  item [length] == '=')
                            status = s_usage_error ("metadata name given "
                                                    "twice", value);
                    zlist_append (metadata, (void *) value);
                }
            }
        }
        else
        if (streq (arg, "--force") || streq (arg, "-f"))
            force = true;
        else
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage (stdout);
            status = EXIT_SUCCESS;
        }
        else
        if (*arg == '-' && arg [1])
            status = s_usage_error ("unknown option", arg);
        else
        if (name)
            status = s_usage_error ("more than one NAME", arg);
        else
            name = arg;
    }
    if (status == -1) {
        int modes = (name != NULL) + (public_file != NULL)
                  + (check_file != NULL);
        if (modes != 1)
            status = s_usage_error (modes? "give one of NAME, --public or "
                                           "--check": "give a NAME", NULL);
        else
        if (!name && (dir || force || zlist_size (metadata)))
            status = s_usage_error ("--dir, --meta and --force go with NAME",
                                    NULL);
        else
        if (public_file)
            status = s_print_public (public_file, false);
        else
        if (check_file)
            status = s_print_public (check_file, true);
        else
            status = s_generate (name, dir, metadata, force);
    }
    zlist_destroy (&metadata);
    return status;
}
