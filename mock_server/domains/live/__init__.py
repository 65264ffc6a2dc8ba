"""Xentree Live: the monthly quota of the user's plan, voice/avatar sessions with heartbeats, the Live nickname and
saved session transcripts.

Rules (documented in the README):
- Plans (fixtures/catalog/plans.yaml) give a monthly allowance in seconds: free 1 h, pro 5 h, team 20 h. The period
  is the UTC calendar month; `resets_at` is 00:00 UTC on the 1st of the next month.
- Usage accrues on the mock clock: a heartbeat or the end of a session books the seconds since the session's last
  booking (its start at first), capped by what is left of the month's allowance. Time on both sides of a month
  boundary is booked to its own month. Reads (quota, start) count the unbooked time of the running session too, so
  every view agrees even while no heartbeat arrives. There is no idle timeout.
- One active session per user: starting a new one ends the running one first (booked, learning time recorded).
- When nothing is left, start and heartbeat answer 429 with exactly the documented `live_quota_exceeded` payload,
  plus `Retry-After` and `RateLimit-Reset` (seconds until the reset), `RateLimit-Limit` (the plan's seconds) and
  `RateLimit-Remaining: 0`. The session stays active so the client can end it gracefully.
- Ending a session records its booked seconds as learning time (`record_session`, kind `live`) and awards 1 XP per
  full minute (`live_session`), as the demo history in profile.py does.
- Heartbeat and end of an unknown, ended or other user's session answer 404; transcripts of other users too.
- Nickname: the spec's pattern allows letters and digits of the common scripts plus space . ' ’ _ -, starting with a
  letter or digit (400 otherwise); the stored value is trimmed with runs of spaces collapsed.
- Transcripts: saved with times in UTC; an end before the start is 400, a `session_id` that is not one of the
  caller's Live sessions 404; listed newest session first with a 200-character preview of the first turn.

Modules, one job each: schema.py (the tables), quota.py (plans, periods, booking, the quota view), sessions.py
(start, heartbeat, end), transcripts.py (nickname and transcripts), seed.py (the demo user's month). Importing the
package registers them.
"""

from __future__ import annotations

from mock_server.domains.live import schema, seed, sessions, transcripts  # noqa: F401  (importing registers them)
from mock_server.domains.live.quota import month_slices, next_period, period_start, plans

__all__ = ["month_slices", "next_period", "period_start", "plans"]
