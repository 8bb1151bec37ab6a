#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Throwaway NATS decentralised-auth material for gateway-creds, made without
nsc: an operator, a system account, an account and a user, as nkeys
(ed25519; base32 with a prefix byte and a CRC-16) and JWTs signed the way
nats-server checks them (header {"typ":"JWT","alg":"ed25519-nkey"}, claims,
an ed25519 signature of "header.claims" by the issuer, all base64url).

Usage: make_creds.py DIR. Writes in DIR:
  auth.conf       nats-server config: the operator, the system account and
                  the account, preloaded (resolver MEMORY)
  user.creds      the user's JWT and seed, as nsc writes a .creds file
  stranger.creds  a user signed by an account the server does not know
Needs python3's cryptography package; exits 77 without it.
"""
import base64
import hashlib
import json
import os
import sys
import time

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import \
        Ed25519PrivateKey
except ImportError:
    sys.stderr.write("python3 cryptography not found\n")
    sys.exit(77)

# nkeys prefix bytes: seed, operator, account, user.
PREFIX_SEED = 18 << 3
PREFIX = {"O": 14 << 3, "A": 0, "U": 20 << 3}


def crc16(data):
    """CRC-16/XMODEM, as nkeys appends it (little-endian)."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def b64(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Key:
    """An nkey of @kind ("O", "A" or "U"): .public, .seed, .sign()."""

    def __init__(self, kind):
        self.sk = Ed25519PrivateKey.generate()
        seed = self.sk.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        pub = self.sk.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        p = PREFIX[kind]
        raw = bytes([p]) + pub
        self.public = b32(raw + crc16(raw).to_bytes(2, "little"))
        raw = bytes([PREFIX_SEED | (p >> 5), (p & 31) << 3]) + seed
        self.seed = b32(raw + crc16(raw).to_bytes(2, "little"))

    def sign(self, data):
        return self.sk.sign(data)


def jwt(issuer, subject, name, nats):
    claims = {"iat": int(time.time()), "iss": issuer.public, "name": name,
              "sub": subject.public, "nats": nats}
    claims["jti"] = b32(hashlib.sha256(
        json.dumps(claims, sort_keys=True).encode()).digest())
    head = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = issuer.sign((head + "." + body).encode())
    return head + "." + body + "." + b64(sig)


def write_creds(path, user_jwt, user):
    with open(path, "w") as f:
        f.write("-----BEGIN NATS USER JWT-----\n%s\n"
                "------END NATS USER JWT------\n\n"
                "************************* IMPORTANT "
                "*************************\n"
                "NKEY Seed printed below can be used to sign and prove "
                "identity.\n\n"
                "-----BEGIN USER NKEY SEED-----\n%s\n"
                "------END USER NKEY SEED------\n" % (user_jwt, user.seed))


def main():
    out = sys.argv[1]
    op, sys_acc, acc, user = Key("O"), Key("A"), Key("A"), Key("U")
    other_acc, stranger = Key("A"), Key("U")
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1,
              "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
    js = dict(limits, mem_storage=-1, disk_storage=-1, streams=-1,
              consumer=-1)
    op_jwt = jwt(op, op, "shoal-test-operator",
                 {"type": "operator", "version": 2})
    sys_jwt = jwt(op, sys_acc, "SYS",
                  {"limits": limits, "type": "account", "version": 2})
    acc_jwt = jwt(op, acc, "shoal-test-account",
                  {"limits": js, "type": "account", "version": 2})
    user_claims = {"pub": {}, "sub": {}, "subs": -1, "data": -1,
                   "payload": -1, "type": "user", "version": 2}
    write_creds(os.path.join(out, "user.creds"),
                jwt(acc, user, "shoal-test-user", user_claims), user)
    write_creds(os.path.join(out, "stranger.creds"),
                jwt(other_acc, stranger, "stranger", user_claims), stranger)
    with open(os.path.join(out, "auth.conf"), "w") as f:
        f.write('operator: "%s"\nsystem_account: %s\nresolver: MEMORY\n'
                'resolver_preload: {\n  %s: "%s"\n  %s: "%s"\n}\n'
                % (op_jwt, sys_acc.public, sys_acc.public, sys_jwt,
                   acc.public, acc_jwt))


if __name__ == "__main__":
    main()
