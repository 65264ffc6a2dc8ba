"""The demo user's knowledge base: Markdown meeting notes and a JSON glossary, stored as an upload would be."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from functools import partial

from mock_server.domains import Call, World, seeder
from mock_server.domains.knowledge.chunking import chunk
from mock_server.domains.knowledge.documents import store_document
from mock_server.ids import seeded_uuid

DEMO_USER = "demo"
LAUNCH_NOTES = """# Launch meeting notes

Attendees: Demo (product), Ada (platform), Alex (sales).

## Launch plan

The beta opens on 12 May. Training sessions for the support team start the week before, on 5 May.
Invitations go out in two waves: existing customers first, then the waiting list.

## Budget

Marketing spends most of the launch budget on webinars and a short video series. The remaining budget covers
translations of the help centre into German and Spanish, which the localisation agency delivers by 8 May.

## Feedback

Beta users report feedback through the in-app form. The product team reviews it every Friday and publishes a
short changelog on Monday. Critical bugs go straight to the on-call engineer.

## Risks

The mobile app review may take longer than planned. If it slips, we launch on the web first and ship the app a
week later.

## Action items

Ada prepares the status page. Alex writes the FAQ for customers. Demo sends the launch email on 11 May.
"""
GLOSSARY = {
    "title": "Team glossary",
    "terms": [
        {"term": "XPI", "meaning": "Xentree Proficiency Index, a 0-100 score of English skills"},
        {"term": "Live quota", "meaning": "Monthly seconds of Xentree Live sessions included in a plan"},
        {"term": "Streak freeze", "meaning": "Keeps a learning streak alive on a day without XP"},
    ],
    "owner": {"team": "Platform", "contact": "ada@xentree.test"},
}


@seeder
def seed_demo(call: Call, world: World) -> None:
    """Two documents in the demo user's knowledge base (Markdown meeting notes and a JSON glossary), uploaded 3 and
    2 days ago. Ids come from their own stream, so the ids the API hands out stay put."""
    call.store.run("DELETE FROM temp.rag_fts")  # seeding follows a reset: the index starts empty too
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    new_id = partial(seeded_uuid, random.Random(f"xentree-kb-demo-ids:{world.seed}"))
    now = call.clock.now()
    docs = (
        ("launch-notes.md", "Launch meeting notes", "text/markdown", LAUNCH_NOTES, 3),
        ("team-glossary.json", "Team glossary", "application/json", json.dumps(GLOSSARY, indent=2), 2),
    )
    for filename, title, kind, text, days_ago in docs:
        store_document(
            call.store,
            new_id,
            user["id"],
            filename,
            title,
            kind,
            len(text.encode()),
            chunk(text, kind),
            now - timedelta(days=days_ago),
        )
