"""The precomputed password hashes of the default world (fixtures/password-hashes.json, see security.hash_password)
are the scrypt hashes the mock would compute: recomputed here from scratch with hashlib.scrypt, for every user of
every fixture set at seed 0 and for the login's dummy hash. A changed fixture password or id stream makes the file
stale; regenerate it with `.venv/bin/python -m tests.test_password_hashes`.
"""

from __future__ import annotations

import hashlib
import json

from mock_server import fixtures, security
from mock_server.resources import fixtures_dir
from tests.conftest import make_client, mock_of

DUMMY = ("not-a-password", b"xentree-mock-dummy-salt")  # accounts._DUMMY_HASH


def scrypt(password: str, salt: bytes) -> str:
    """What hash_password computes, written out independently of it."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def seeded_users(name: str) -> list[tuple[str, str]]:
    """(password, stored hash) of every user of the fixture set, seeded at seed 0."""
    passwords = {u["username"]: u["password"] for u in fixtures.read(name).get("users", [])}
    with make_client(fixture=name, seed=0) as client:
        store = mock_of(client).store
        rows = store.all("SELECT username, password_hash FROM users")
    return [(passwords[r["username"]], r["password_hash"]) for r in rows if r["username"] in passwords]


def expected() -> dict[str, str]:
    pairs = [DUMMY]
    for name in fixtures.available():
        pairs += [(password, bytes.fromhex(stored.split("$")[4])) for password, stored in seeded_users(name)]
    return {security._precomputed_key(p, s): scrypt(p, s) for p, s in pairs}


def test_precomputed_hashes_are_the_scrypt_hashes_of_the_default_world() -> None:
    kept = json.loads((fixtures_dir() / security.PRECOMPUTED_HASHES).read_text())["hashes"]
    assert kept == expected(), "stale: run .venv/bin/python -m tests.test_password_hashes"


def test_seeded_users_log_in_with_their_fixture_passwords() -> None:
    for name in fixtures.available():
        for password, stored in seeded_users(name):
            assert security.verify_password(password, stored)
            assert not security.verify_password(password + "x", stored)


def test_a_password_outside_the_table_is_hashed_with_scrypt() -> None:
    password, stored = seeded_users("demo")[0]
    salt = bytes.fromhex(stored.split("$")[4])
    other = security.hash_password("another-password", salt)
    assert other != stored
    assert other == scrypt("another-password", salt)
    assert security.verify_password("another-password", other)


if __name__ == "__main__":
    document = {
        "about": "scrypt hashes of the fixture sets' users at seed 0 and of the login's dummy hash, keyed by "
        "sha256(salt + NUL + password); see mock_server.security.hash_password. Regenerate: "
        ".venv/bin/python -m tests.test_password_hashes",
        "hashes": expected(),
    }
    (fixtures_dir() / security.PRECOMPUTED_HASHES).write_text(json.dumps(document, indent=2) + "\n")
