"""Console passwords: scrypt (RFC 7914, ``hashlib.scrypt``) with a random salt;
the stored string names its parameters, ``scrypt$N$r$p$<salt>$<hash>`` (base64),
so they can be raised later without invalidating stored hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from provisioner.errors import ValidationError

#: cost parameters of new hashes: 32 MiB and ~0.1 s per check on a laptop
N, R, P = 2**15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 8, 1024
_MAXMEM = 256 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _scrypt(password: str, salt: bytes, cost: tuple[int, int, int], length: int) -> bytes:
    n, r, p = cost
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length)


def check_policy(password: str, field: str = "password") -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationError(field, f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    return password


def hash_password(password: str) -> str:
    salt = os.urandom(SALT_BYTES)
    key = _scrypt(check_policy(password), salt, (N, R, P), KEY_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed ``stored`` matches nothing."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        expected = base64.b64decode(key, validate=True)
        if scheme != "scrypt" or not 16 <= len(expected) <= 64 or len(password) > MAX_LENGTH:
            return False
        cost = (int(n), int(r), int(p))
        got = _scrypt(password, base64.b64decode(salt, validate=True), cost, len(expected))
    except ValueError:  # a bad field, or parameters scrypt refuses (binascii.Error too)
        return False
    return hmac.compare_digest(got, expected)


#: checked against when the user does not exist, so that both cases take as long
DUMMY_HASH = f"scrypt${N}${R}${P}${_b64(bytes(SALT_BYTES))}${_b64(bytes(KEY_BYTES))}"
