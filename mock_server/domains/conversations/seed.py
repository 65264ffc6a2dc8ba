"""The demo user's conversations: the catalog's, each user turn answered with the reply the chat operation gives."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from functools import partial

from mock_server.domains import Call, World, seeder
from mock_server.domains.conversations.messages import append_message, insert_conversation
from mock_server.domains.conversations.replies import catalog, compose_reply, pick_model, resolve_provider
from mock_server.domains.xp import zone
from mock_server.ids import seeded_uuid

DEMO_USER = "demo"


@seeder
def seed_conversations(call: Call, world: World) -> None:
    """Give the demo user the catalog's conversations, each user turn answered with the reply the chat operation
    would give, dated `days_ago` days back in the user's zone."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"conversations:{world.seed}")
    new_id = partial(
        seeded_uuid, random.Random(f"conversations-ids:{world.seed}")
    )  # own stream: the shared one stays put

    tz, now = zone(user["timezone"]), call.clock.now()
    for spec in catalog()["demo"]["conversations"]:
        day = (now.astimezone(tz) - timedelta(days=spec["days_ago"])).date()
        at = datetime.combine(day, time(rng.randint(9, 19), rng.randrange(60)), tzinfo=tz)
        conversation = insert_conversation(call, user["id"], spec["title"], spec["provider"], at, new_id())
        provider, model = resolve_provider(spec["provider"])
        for turn, text in enumerate(spec["turns"]):
            append_message(call, conversation, "user", text, at, new_id())
            model_used = model or pick_model(provider, world.seed, text)
            reply = compose_reply(world.seed, model_used, text, None, 2 * turn)
            at += timedelta(seconds=rng.randint(4, 40))
            append_message(call, conversation, "assistant", reply, at, new_id())
            at += timedelta(minutes=rng.randint(1, 6))
