#!/usr/bin/env python3
"""Make a throwaway CA and a server certificate signed by it, with the openssl tool.

    python3 make_test_ca.py DIR [--host NAME ...] [--ip ADDR ...]

prints one `name=path` line per file (ca_cert, ca_key, server_cert, server_key).
By default the server certificate is for DNS:localhost and IP:127.0.0.1; pass
other names to make one that must fail hostname verification. Importable:
make_test_ca(directory, hosts=..., ips=...) returns the same paths as a dict.
"""

import argparse
import os
import secrets
import subprocess
import sys

DAYS = 30

# Written explicitly rather than relying on the system openssl.cnf, so the
# extensions are the same everywhere and strict verifiers (Python 3.13's
# VERIFY_X509_STRICT, mbedTLS) accept the chain.
_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


def _openssl(*args):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def make_test_ca(directory, hosts=("localhost",), ips=("127.0.0.1",)):
    """Create ca.pem/ca.key and server.pem/server.key in `directory`; return their paths."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, file) for name, file in (
        ("ca_cert", "ca.pem"), ("ca_key", "ca.key"), ("server_cert", "server.pem"), ("server_key", "server.key"))}
    san = ", ".join([f"DNS:{h}" for h in hosts] + [f"IP:{ip}" for ip in ips])
    ca_config = os.path.join(directory, "ca.cnf")
    server_config = os.path.join(directory, "server.cnf")
    csr = os.path.join(directory, "server.csr")
    with open(ca_config, "w", encoding="ascii") as f:
        f.write(_CONFIG.format(cn="cohort agent test CA", san=san))
    with open(server_config, "w", encoding="ascii") as f:
        f.write(_CONFIG.format(cn=(list(hosts) + list(ips))[0], san=san))
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec_key, "-keyout", paths["ca_key"], "-out", paths["ca_cert"],
             "-days", str(DAYS), "-config", ca_config, "-extensions", "ca")
    _openssl("req", "-new", *ec_key, "-keyout", paths["server_key"], "-out", csr, "-config", server_config)
    _openssl("x509", "-req", "-in", csr, "-CA", paths["ca_cert"], "-CAkey", paths["ca_key"],
             "-set_serial", str(secrets.randbits(63)), "-days", str(DAYS), "-out", paths["server_cert"],
             "-extfile", server_config, "-extensions", "server")
    for leftover in (ca_config, server_config, csr):
        os.unlink(leftover)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--host", action="append", help="DNS name for the server certificate (repeatable)")
    parser.add_argument("--ip", action="append", help="IP address for the server certificate (repeatable)")
    args = parser.parse_args(argv)
    hosts = args.host if args.host is not None else ["localhost"]
    ips = args.ip if args.ip is not None else (["127.0.0.1"] if args.host is None else [])
    for name, path in make_test_ca(args.directory, hosts, ips).items():
        print(f"{name}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
