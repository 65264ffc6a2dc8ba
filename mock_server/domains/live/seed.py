"""The demo user's Live month: two finished sessions with their transcripts, and the nickname "Demo"."""

from __future__ import annotations

import random
from datetime import timedelta

from mock_server.clock import iso
from mock_server.domains import Call, World, seeder
from mock_server.domains.live.quota import period_key, period_start
from mock_server.domains.live.transcripts import save_transcript
from mock_server.ids import seeded_uuid

DEMO_USER = "demo"
DEMO_DIALOGUES = (
    (
        "voice",
        [
            ("user", "Hi Xentree, can we practise small talk for a conference?"),
            ("ai", "Of course! Imagine we just met at the coffee break. How are you enjoying the talks so far?"),
            ("user", "I really liked the keynote about remote teams, it was very practical."),
            ("ai", "Great answer. Try adding a question back, for example: which talk did you like most?"),
        ],
    ),
    (
        "avatar",
        [
            ("user", "Let's rehearse my launch update for the team meeting."),
            ("ai", "Sure. Start with the headline: what is the one thing everyone should remember?"),
            ("user", "The beta opens on 12 May and training starts the week before."),
            ("ai", "Clear and short. Now add who to contact with questions, and you are done."),
        ],
    ),
)


@seeder
def seed_demo(call: Call, world: World) -> None:
    """Two finished Live sessions of the demo user this month (8-16 and 10-20 min, booked this month whatever the
    day) with their transcripts, and the nickname "Demo". Quota bookkeeping only: the demo's learning history in
    profile.py already has its own Live sessions, so no learning time or XP is added here."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"xentree-live-demo:{world.seed}")
    ids = random.Random(f"xentree-live-demo-ids:{world.seed}")  # own id stream: the shared one stays put
    now = call.clock.now()
    start = period_start(now)
    for n, (kind, turns) in enumerate(DEMO_DIALOGUES, start=1):
        minutes = rng.randint(8, 16) if n == 1 else rng.randint(10, 20)
        ended = start + (now - start) * n / (len(DEMO_DIALOGUES) + 1)
        started = ended - timedelta(minutes=minutes)
        session_id = seeded_uuid(ids)
        call.store.insert(
            "live_sessions",
            {
                "id": session_id,
                "user_id": user["id"],
                "session_type": kind,
                "started_at": iso(started),
                "started_ts": started.timestamp(),
                "booked_until": ended.timestamp(),
                "used_seconds": minutes * 60,
                "ended_at": iso(ended),
            },
        )
        call.store.insert(
            "live_usage",
            {"user_id": user["id"], "session_id": session_id, "period": period_key(now), "seconds": minutes * 60},
        )
        step = timedelta(minutes=minutes) / (len(turns) + 1)
        body = {
            "session_id": session_id,
            "session_started_at": iso(started),
            "session_ended_at": iso(ended),
            "transcripts": [
                {"role": role, "text": text, "timestamp": iso(started + step * (i + 1))}
                for i, (role, text) in enumerate(turns)
            ],
        }
        save_transcript(call, user["id"], body, seeded_uuid(ids), ended + timedelta(seconds=1))
    call.store.run(
        "INSERT INTO live_nicknames (user_id, nickname, updated_at) VALUES (?, ?, ?)", (user["id"], "Demo", iso(now))
    )
    call.store.run("UPDATE users SET nickname = ? WHERE id = ?", ("Demo", user["id"]))
