"""The XEL operations on modules, tasks, evaluations, the XPI and the dashboard (learning sessions: sessions.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mock_server.domains import Call, handles
from mock_server.domains.english.catalog import catalog, find_module, find_task
from mock_server.domains.english.progress import (
    complete_module,
    current_variant,
    evaluate,
    latest_submissions,
    module_state,
    start_module,
    submit_task,
)
from mock_server.domains.english.xpi import current_xpi, streak, xpi_history
from mock_server.domains.xp import local_day, user_zone, xel_learning_seconds

RECENT_ACTIVITY = 20


@handles("listXelModules")
def list_modules(call: Call) -> list[dict[str, Any]]:
    return [module_state(call, call.user_id, m) for m in catalog().values()]


@handles("getXelModule")
def get_module(call: Call) -> dict[str, Any]:
    module = find_module(call.path["module_id"])
    submitted = latest_submissions(call, call.user_id, module.id)
    tasks = []
    for task in module.tasks:
        variant = current_variant(call, call.user_id, task.id)
        latest = submitted.get(task.id)
        tasks.append(
            {
                "id": task.id,
                "skill": task.skill,
                "title": task.title,
                "prompt": task.variant(variant).prompt,
                "variant": variant,
                "status": latest["status"] if latest else "not_started",
                "score": latest["score"] if latest else None,
            }
        )
    return {**module_state(call, call.user_id, module), "description": module.description, "tasks": tasks}


@handles("startXelModule")
def start(call: Call) -> dict[str, Any]:
    module = find_module(call.path["module_id"])
    progress = start_module(call, call.user_id, module, call.clock.now())
    return {"module_id": module.id, "status": progress["status"], "started_at": progress["started_at"], "xp_awarded": 0}


@handles("completeXelModule")
def complete(call: Call) -> dict[str, Any]:
    return complete_module(call, call.user_id, find_module(call.path["module_id"]), call.clock.now())


@handles("submitXelTask")
def submit(call: Call) -> dict[str, Any]:
    body = call.body
    module, task = find_task(body["module_id"], body["task_id"], body["skill"])
    row = submit_task(
        call, call.user_id, module, task, body["response"], body.get("time_spent_seconds", 0), call.clock.now()
    )
    return {
        "submission_id": row["id"],
        "module_id": module.id,
        "task_id": task.id,
        "skill": task.skill,
        "status": row["status"],
        "score": row["score"],
        "xp_awarded": row["xp_awarded"],
        "submitted_at": row["submitted_at"],
    }


@handles("regenerateXelTask")
def regenerate(call: Call) -> dict[str, Any]:
    module, task = find_task(call.body["module_id"], call.body["task_id"], call.body.get("skill"))
    variant = current_variant(call, call.user_id, task.id) + 1
    call.store.run(
        "INSERT INTO xel_variants (user_id, task_id, variant) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id, task_id) DO UPDATE SET variant = excluded.variant",
        (call.user_id, task.id, variant),
    )
    return {
        "module_id": module.id,
        "task_id": task.id,
        "skill": task.skill,
        "variant": variant,
        "prompt": task.variant(variant).prompt,
    }


@handles("evaluateXelResponse")
def evaluate_response(call: Call) -> dict[str, Any]:
    return evaluate(call, call.user_id, call.body, call.clock.now())


@handles("getXelXpi")
def xpi(call: Call) -> dict[str, Any]:
    return current_xpi(call, call.user_id)


@handles("listXelXpiHistory")
def xpi_history_view(call: Call) -> list[dict[str, Any]]:
    return xpi_history(call, call.user_id)


@handles("getXelDashboard")
def dashboard(call: Call) -> dict[str, Any]:
    user_id = call.user_id
    states = [module_state(call, user_id, m) for m in catalog().values()]
    score = current_xpi(call, user_id)
    activity = call.store.all("SELECT * FROM xel_activity WHERE user_id = ? ORDER BY ts DESC, seq DESC", (user_id,))
    tz = user_zone(call, user_id)
    days = (local_day(datetime.fromtimestamp(a["ts"], UTC), tz) for a in activity)
    recent = [
        {k: a[k] for k in ("type", "module_id", "task_id", "description", "xp_awarded", "occurred_at")}
        for a in activity[:RECENT_ACTIVITY]
    ]
    return {
        "modules_completed": sum(s["status"] == "completed" for s in states),
        "modules_in_progress": sum(s["status"] == "in_progress" for s in states),
        "total_modules": len(states),
        "xpi": score["xpi"],
        "level": score["level"],
        "skills": score["breakdown"],
        "recent_activity": recent,
        "streak": streak(days, local_day(call.clock.now(), tz)),
        "total_time_seconds": xel_learning_seconds(call, user_id),
    }
