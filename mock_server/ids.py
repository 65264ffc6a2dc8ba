"""Seeded ids: what every id the mock hands out is made of, so one seed always gives the same ids.

The store draws its ids from one shared stream; a demo seeder draws from a stream of its own (seeded from its name
and the world's seed), so adding or changing one domain's demo data never moves the ids of another.
"""

from __future__ import annotations

import random
import uuid


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 UUID made of the next 128 bits of `rng` (uuid.UUID sets the version and variant bits)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
