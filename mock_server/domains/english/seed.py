"""The demo user's XEL history: a week of progress made through the same rules as the API (progress.py), with ids
from a stream of its own and XP written as it happened (`history_award`), so the ids and quests of the API stay put."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from functools import partial

from mock_server.clock import iso
from mock_server.domains import Call, World, seeder
from mock_server.domains.english.catalog import AUTO_SCORED, Task, catalog
from mock_server.domains.english.progress import Award, NewId, complete_module, evaluate, submit_task
from mock_server.domains.xp import add_activity, local_day, zone
from mock_server.ids import seeded_uuid

DEMO_USER = "demo"
DEMO_TEXTS = {
    "writing": (
        "Hello, my name is Demo and I work as a designer in Berlin. I like my job because I can be creative every "
        "day. In my free time I go running and I also read a lot. I am looking forward to working with you.",
        "Every morning I get up at seven, have breakfast and then take the train to work. I usually start at nine. "
        "However, on Fridays I work from home, so I can sleep a little longer. In the evening I cook dinner.",
        "my home is small but very nice. it has a kitchen and two rooms and i like the big window in the living room",
    ),
    "speaking": (
        "Hi, I'm Demo. Um, I come from Germany and I live in Berlin. I work in design, and I really enjoy it "
        "because every project is different.",
        "So, in my family there are four people. My parents live near the sea, and my brother is a teacher. "
        "We meet every summer.",
    ),
}
# (module, days before today, completes): modules 1 and 2 done, module 3 under way. Each canned text is used once
# (5 evaluated tasks: 3 writing, 2 speaking), so every seeded evaluation earns its XP.
DEMO_PLAN = (("1", 6, True), ("2", 4, True), ("3", 1, False))


@seeder
def seed_demo(call: Call, world: World) -> None:
    """The demo user's XEL progress over the last week, made through the same rules as the API (scores, XPI,
    activity and matching XP transactions). It stays within the last six days, which the demo's generated
    streak (Profile & Analytics) always covers, so the streak and heatmap shapes are unchanged; learning time for
    XEL comes from those generated sessions."""
    user = world.users.get(DEMO_USER)
    if user is None:
        return
    rng = random.Random(f"xentree-xel-demo:{world.seed}")
    new_id = partial(seeded_uuid, random.Random(f"xentree-xel-demo-ids:{world.seed}"))
    award = history_award(new_id)
    tz, now = zone(user["timezone"]), call.clock.now()
    today = local_day(now, tz)
    texts = {skill: rng.sample(options, len(options)) for skill, options in DEMO_TEXTS.items()}
    for module_id, days_ago, completes in DEMO_PLAN:
        module = catalog()[module_id]
        at = datetime.combine(today - timedelta(days=days_ago), time(rng.randint(9, 17), rng.randrange(60)), tz)
        for task in module.tasks if completes else module.tasks[:2]:
            at += timedelta(minutes=rng.randint(3, 12))
            answer = texts[task.skill].pop() if task.skill in texts else _demo_answer(rng, task)
            submit_task(call, user["id"], module, task, answer, rng.randint(60, 600), at, new_id=new_id, award=award)
            if task.skill not in AUTO_SCORED:
                at += timedelta(minutes=1)
                body = {"skill": task.skill, "text": answer, "module_id": module.id, "task_id": task.id}
                evaluate(call, user["id"], body, at, award=award)
        if completes:
            complete_module(call, user["id"], module, at + timedelta(minutes=2), award=award)


def history_award(new_id: NewId) -> Award:
    """XP of the demo history: written as it happened, without the booster and without claiming today's quests
    (the ledger's `award_xp` would do both as of now)."""

    def award(call: Call, user_id: str, amount: int, source: str, description: str, at: datetime) -> int:
        row = {
            "id": new_id(),
            "user_id": user_id,
            "amount": amount,
            "source": source,
            "description": description,
            "created_at": iso(at),
        }
        add_activity(call, user_id, txs=[row])
        return amount

    return award


def _demo_answer(rng: random.Random, task: Task) -> str:
    """Reading/listening: the first variant's keywords, one sometimes missing."""
    keys = [k[0] for k in task.variants[0].answer]
    if len(keys) > 1 and rng.random() < 0.3:
        keys.pop()
    return "The answer is " + " and ".join(keys) + "."
