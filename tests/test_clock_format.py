"""`iso_at`, the journal's per-request stamp, writes exactly what `iso(datetime.fromtimestamp(...))` writes: the same
microsecond rounding (half to even, carried into the second), the fraction left out when it is zero."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.clock import iso, iso_at

# 1900 to 2200: the clock may be set to any instant a frontend wants to try.
SECONDS = st.integers(min_value=-2_208_988_800, max_value=7_258_118_400)
# Fractions at and around the rounding edges, and anywhere between.
FRACTIONS = st.one_of(
    st.sampled_from([0.0, 0.5e-6, 1.5e-6, 2.5e-6, 0.4999995, 0.5000005, 0.9999994, 0.9999995, 0.9999996]),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)


@settings(max_examples=2000, deadline=None)
@given(second=SECONDS, fraction=FRACTIONS, negative=st.booleans())
def test_iso_at_is_iso_of_the_instant(second: int, fraction: float, negative: bool) -> None:
    timestamp = second - fraction if negative else second + fraction
    assert iso_at(timestamp) == iso(datetime.fromtimestamp(timestamp, UTC))


def test_iso_at_examples() -> None:
    assert iso_at(0.0) == "1970-01-01T00:00:00Z"
    assert iso_at(1_764_633_600.25) == "2025-12-02T00:00:00.250000Z"
    assert iso_at(1_764_633_600.9999996) == "2025-12-02T00:00:01Z"  # rounds up into the next second
    assert iso_at(-0.5) == "1969-12-31T23:59:59.500000Z"
