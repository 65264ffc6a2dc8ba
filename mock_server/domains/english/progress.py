"""Per-user XEL state: module progress, submissions, evaluations and completions, with their score samples, activity
entries and XP.

Every write takes its ids from `new_id` (default: the store's shared seeded stream) and grants XP through `award`
(default `ledger_award`: the shared ledger with boosters and quest claims). The demo seeder passes its own of both
(seed.py), so its history has ids of its own and XP written as it happened; these are parameters, not flags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mock_server.clock import iso
from mock_server.domains import Call
from mock_server.domains.english.catalog import AUTO_SCORED, Module, Task, find_module, find_task
from mock_server.domains.english.rubric import answer_score, evaluate_text, round_score
from mock_server.domains.xp import award_xp
from mock_server.errors import conflict

XP_TASK_SUBMISSION = 10
XP_EVALUATION = 15
XP_MODULE_COMPLETION = 50
DEFAULT_TARGET_WORDS = 60

NewId = Callable[[], str]
Award = Callable[[Call, str, int, str, str, datetime], int]
"""(call, user_id, amount, source, description, at) -> the XP granted; called only for an amount above 0."""


def ledger_award(call: Call, user_id: str, amount: int, source: str, description: str, at: datetime) -> int:
    """XP into the shared ledger; returns what was granted (a booster may multiply it)."""
    return int(award_xp(call, user_id, amount, source, description, at)["amount"])


def _grant(call: Call, award: Award, user_id: str, amount: int, source: str, description: str, at: datetime) -> int:
    return award(call, user_id, amount, source, description, at) if amount > 0 else 0


def record_activity(
    call: Call,
    user_id: str,
    kind: str,
    module_id: str | None,
    task_id: str | None,
    description: str,
    xp: int,
    at: datetime,
) -> None:
    call.store.insert(
        "xel_activity",
        {
            "user_id": user_id,
            "type": kind,
            "module_id": module_id,
            "task_id": task_id,
            "description": description,
            "xp_awarded": xp,
            "ts": at.timestamp(),
            "occurred_at": iso(at),
        },
    )


def add_score_sample(
    call: Call,
    user_id: str,
    skill: str,
    score: int,
    source: str,
    at: datetime,
    *,
    module_id: str | None = None,
    task_id: str | None = None,
    text_hash: str | None = None,
) -> None:
    call.store.insert(
        "xel_scores",
        {
            "user_id": user_id,
            "skill": skill,
            "score": score,
            "source": source,
            "module_id": module_id,
            "task_id": task_id,
            "text_hash": text_hash,
            "ts": at.timestamp(),
            "created_at": iso(at),
        },
    )


def progress_row(call: Call, user_id: str, module_id: str) -> dict[str, Any] | None:
    return call.store.one("SELECT * FROM xel_progress WHERE user_id = ? AND module_id = ?", (user_id, module_id))


def current_variant(call: Call, user_id: str, task_id: str) -> int:
    row = call.store.one("SELECT variant FROM xel_variants WHERE user_id = ? AND task_id = ?", (user_id, task_id))
    return int(row["variant"]) if row else 1


def latest_submissions(call: Call, user_id: str, module_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The latest submission per task (of one module, or all), keyed by task id."""
    sql = "SELECT * FROM xel_submissions WHERE user_id = ?" + (" AND module_id = ?" if module_id else "")
    params = (user_id, module_id) if module_id else (user_id,)
    return {row["task_id"]: row for row in call.store.all(sql + " ORDER BY seq", params)}


def module_state(call: Call, user_id: str, module: Module) -> dict[str, Any]:
    """The XELModuleSummary of a module for the user."""
    progress = progress_row(call, user_id, module.id)
    submitted = latest_submissions(call, user_id, module.id)
    done = sum(t.id in submitted for t in module.tasks)
    return {
        "id": module.id,
        "title": module.title,
        "level": module.level,
        "skills": module.skills,
        "task_count": len(module.tasks),
        "status": progress["status"] if progress else "not_started",
        "progress_percent": round_score(100 * done / len(module.tasks)) if module.tasks else 0,
        "started_at": progress["started_at"] if progress else None,
        "completed_at": progress["completed_at"] if progress else None,
    }


def start_module(call: Call, user_id: str, module: Module, at: datetime) -> dict[str, Any]:
    """Idempotent: the first start is kept; a completed module stays completed."""
    progress = progress_row(call, user_id, module.id)
    if progress is None:
        progress = call.store.insert(
            "xel_progress",
            {
                "user_id": user_id,
                "module_id": module.id,
                "status": "in_progress",
                "started_at": iso(at),
                "completed_at": None,
            },
        )
        record_activity(call, user_id, "module_started", module.id, None, f'Started "{module.title}"', 0, at)
    return progress


def submit_task(
    call: Call,
    user_id: str,
    module: Module,
    task: Task,
    response: str,
    seconds: int,
    at: datetime,
    *,
    new_id: NewId | None = None,
    award: Award = ledger_award,
) -> dict[str, Any]:
    """Submit a task; reading and listening are scored at once. XP for the first submission of each variant."""
    start_module(call, user_id, module, at)
    variant = current_variant(call, user_id, task.id)
    score = answer_score(task.variant(variant), response) if task.skill in AUTO_SCORED else None
    first = (
        call.store.one(
            "SELECT 1 FROM xel_submissions WHERE user_id = ? AND task_id = ? AND variant = ?",
            (user_id, task.id, variant),
        )
        is None
    )
    label = f'{task.id} in "{module.title}"'
    xp = _grant(call, award, user_id, XP_TASK_SUBMISSION if first else 0, "task_submission", f"Submitted {label}", at)
    row = {
        "id": (new_id or call.store.new_id)(),
        "user_id": user_id,
        "module_id": module.id,
        "task_id": task.id,
        "skill": task.skill,
        "variant": variant,
        "response": response,
        "time_spent_seconds": seconds,
        "score": score,
        "status": "submitted" if score is None else "evaluated",
        "xp_awarded": xp,
        "submitted_at": iso(at),
    }
    call.store.insert("xel_submissions", row)
    if score is not None:
        add_score_sample(call, user_id, task.skill, score, "submission", at, module_id=module.id, task_id=task.id)
    record_activity(call, user_id, "task_submitted", module.id, task.id, f"Submitted {label}", xp, at)
    return row


def evaluate(
    call: Call, user_id: str, body: dict[str, Any], at: datetime, *, award: Award = ledger_award
) -> dict[str, Any]:
    """Score the text; link it to the task's latest submission when a task is named; award XP once per text."""
    skill, text = body["skill"], body["text"]
    module: Module | None = None
    task: Task | None = None
    if "task_id" in body:
        module, task = find_task(body.get("module_id"), body["task_id"], skill)
    elif "module_id" in body:
        module = find_module(body["module_id"])
    prompt = body.get("prompt") or (task.variant(current_variant(call, user_id, task.id)).prompt if task else None)
    result = evaluate_text(text, skill, module.target_words if module else DEFAULT_TARGET_WORDS, prompt)
    digest = hashlib.sha256(f"{skill}\0{' '.join(text.lower().split())}".encode()).hexdigest()
    seen = call.store.one("SELECT 1 FROM xel_scores WHERE user_id = ? AND text_hash = ?", (user_id, digest))
    task_id, module_id = (task.id if task else None), (module.id if module else None)
    label = f"{skill.title()} evaluation" + (f" of {task_id}" if task_id else "") + f": {result['overall_score']}/100"
    xp = _grant(call, award, user_id, 0 if seen else XP_EVALUATION, "evaluation", label, at)
    add_score_sample(
        call,
        user_id,
        skill,
        result["overall_score"],
        "evaluation",
        at,
        module_id=module_id,
        task_id=task_id,
        text_hash=digest,
    )
    if task is not None:
        latest = latest_submissions(call, user_id, module_id).get(task.id)
        if latest is not None:
            call.store.run(
                "UPDATE xel_submissions SET score = ?, status = 'evaluated' WHERE id = ?",
                (result["overall_score"], latest["id"]),
            )
    record_activity(call, user_id, "evaluation", module_id, task_id, label, xp, at)
    return {**result, "xp_awarded": xp}


def complete_module(
    call: Call, user_id: str, module: Module, at: datetime, *, award: Award = ledger_award
) -> dict[str, Any]:
    """Complete a module whose tasks are all submitted (409 otherwise); XP the first time only."""
    progress = progress_row(call, user_id, module.id)
    if progress and progress["status"] == "completed":
        return {
            "module_id": module.id,
            "status": "completed",
            "completed_at": progress["completed_at"],
            "xp_awarded": 0,
        }
    submitted = latest_submissions(call, user_id, module.id)
    missing = [t.id for t in module.tasks if t.id not in submitted]
    if missing:
        raise conflict(
            f"Module {module.id} cannot be completed yet: submit {', '.join(missing)} first", "module_incomplete"
        )
    start_module(call, user_id, module, at)
    call.store.run(
        "UPDATE xel_progress SET status = 'completed', completed_at = ? WHERE user_id = ? AND module_id = ?",
        (iso(at), user_id, module.id),
    )
    description = f'Completed "{module.title}"'
    xp = _grant(call, award, user_id, XP_MODULE_COMPLETION, "module_completion", description, at)
    record_activity(call, user_id, "module_completed", module.id, None, description, xp, at)
    return {"module_id": module.id, "status": "completed", "completed_at": iso(at), "xp_awarded": xp}
