"""Xentree English (XEL): a module catalog with per-user progress, tasks and their variants, a deterministic
evaluation rubric, the XPI, learning sessions with transcripts, and the dashboard.

Catalog: fixtures/catalog/xel-modules.yaml (12 modules, A1..C2; task ids `<skill>-<module id>`). Per user: module
progress, the current variant of each task, submissions, score samples, activity, sessions and transcripts.

Scoring
- Reading and listening submissions are scored at once: 100 x (answer keywords of the task variant found in the
  response) / (keywords). Writing and speaking submissions wait for an evaluation (score null, status `submitted`).
- Evaluation rubric (writing or speaking text), each criterion 0-100, from measurable features of the text:
  grammar          = 100 - 40 x (share of sentences not starting with a capital) - 15 (no final . ! ?)
                     - 10 per lowercase pronoun "i" (max 30) - 10 per doubled word "the the" (max 20)
                     - 15 (average sentence over 30 words); at most 40 under 3 words
  vocabulary       = 100 x (0.4 x type-token ratio of the first 100 words + 0.3 x min(1, share of words of 7+
                     letters / 0.25) + 0.3 x min(1, distinct words / 60))
  coherence        = 100 x (0.5 x min(1, distinct connectors / 4) + 0.3 x min(1, (sentences - 1) / 4)
                     + 0.2 x balance), balance = 1 for 8-25 words per sentence, falling by 0.1 per word outside
  task_achievement = 100 x (0.6 x min(1, words / target) + 0.4 x prompt coverage) with a prompt, else
                     100 x min(1, words / target); coverage = min(1, prompt content words used / min(4, their count))
  fluency (speaking) = 100 x (0.5 x min(1, words per sentence / 12) + 0.5 x min(1, words / target))
                     - min(40, 200 x share of filler words such as "um", "uh")
  target = the module level's `target_words` (A1 25 ... C2 150), 60 without a module.
  overall: writing = 0.30 grammar + 0.25 vocabulary + 0.20 coherence + 0.25 task_achievement;
           speaking = 0.30 fluency + 0.15 grammar + 0.20 vocabulary + 0.15 coherence + 0.20 task_achievement.
  CEFR from a 0-100 score: A1 < 30 <= A2 < 50 <= B1 < 73 <= B2 < 85 <= C1 < 95 <= C2.
- XPI: per skill, the mean of the user's latest 5 score samples (scored submissions and evaluations); a skill without
  samples counts 0. XPI = mean of the four skills. History: one entry per UTC day with XEL activity, the XPI as of
  the end of that day.

XP (via the shared ledger): task submission 10 (first submission of each task variant), evaluation 15 (not again for
the same text), module completion 50 (first completion). Module start and learning sessions give no XP; a session's
length is learning time, and its quizzes are the score samples taken during it (passed = score >= 60).
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import yaml

from mock_server.clock import iso, parse_instant
from mock_server.domains import Call, Result, World, handles, own_row, seeder, tables
from mock_server.domains.xp import (
    add_activity,
    award_xp,
    local_day,
    record_session,
    user_zone,
    xel_learning_seconds,
    zone,
)
from mock_server.errors import conflict, not_found
from mock_server.resources import fixtures_dir

SKILLS = ("reading", "writing", "listening", "speaking")
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
AUTO_SCORED = ("reading", "listening")
XP_TASK_SUBMISSION = 10
XP_EVALUATION = 15
XP_MODULE_COMPLETION = 50
PASS_SCORE = 60
XPI_WINDOW = 5
RECENT_ACTIVITY = 20
DEFAULT_TARGET_WORDS = 60
CEFR_BANDS = ((95, "C2"), (85, "C1"), (73, "B2"), (50, "B1"), (30, "A2"))

tables("""
CREATE TABLE IF NOT EXISTS xel_progress (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    PRIMARY KEY (user_id, module_id)
);
-- The user's current variant of a task (absent = variant 1).
CREATE TABLE IF NOT EXISTS xel_variants (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    variant INTEGER NOT NULL,
    PRIMARY KEY (user_id, task_id)
);
-- Every submission is kept; the latest one per task is the task's state.
CREATE TABLE IF NOT EXISTS xel_submissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    skill TEXT NOT NULL,
    variant INTEGER NOT NULL,
    response TEXT NOT NULL,
    time_spent_seconds INTEGER NOT NULL,
    score INTEGER,
    status TEXT NOT NULL,
    xp_awarded INTEGER NOT NULL,
    submitted_at TEXT NOT NULL
);
-- Score samples the XPI is computed from: scored submissions and evaluations.
CREATE TABLE IF NOT EXISTS xel_scores (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    score INTEGER NOT NULL,
    source TEXT NOT NULL,
    module_id TEXT,
    task_id TEXT,
    text_hash TEXT,
    ts REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS xel_scores_user_time ON xel_scores (user_id, ts);
CREATE TABLE IF NOT EXISTS xel_activity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    module_id TEXT,
    task_id TEXT,
    description TEXT NOT NULL,
    xp_awarded INTEGER NOT NULL,
    ts REAL NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS xel_activity_user_time ON xel_activity (user_id, ts);
CREATE TABLE IF NOT EXISTS xel_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    module_id TEXT,
    session_type TEXT NOT NULL,
    skill TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS xel_transcripts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES xel_sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    ts REAL NOT NULL,
    timestamp TEXT NOT NULL,
    created_at TEXT NOT NULL
);
""")


# the catalog -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    prompt: str
    answer: tuple[tuple[str, ...], ...]  # keywords, each with its accepted spellings (reading and listening)


@dataclass(frozen=True)
class Task:
    id: str
    skill: str
    title: str
    variants: tuple[Variant, ...]

    def variant(self, number: int) -> Variant:
        """Variant n cycles through the catalog's variants, so consecutive variants always differ."""
        return self.variants[(number - 1) % len(self.variants)]


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    description: str
    level: str
    target_words: int
    tasks: tuple[Task, ...]

    @property
    def skills(self) -> list[str]:
        present = {t.skill for t in self.tasks}
        return [s for s in SKILLS if s in present]

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks if t.id == task_id), None)


@lru_cache(maxsize=1)
def catalog() -> dict[str, Module]:
    text = (fixtures_dir() / "catalog" / "xel-modules.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~10x faster at startup
    return parse_catalog(data)


def parse_catalog(data: dict[str, Any]) -> dict[str, Module]:
    """Build and check the catalog: a broken fixture fails at startup with the reason, not later with a 500."""
    targets = data["target_words"]
    modules: dict[str, Module] = {}
    for m in data["modules"]:
        assert m["level"] in LEVELS and m["level"] in targets, f"module {m['id']}: level {m['level']}"
        tasks = tuple(_parse_task(m["id"], t) for t in m["tasks"])
        assert len({t.id for t in tasks}) == len(tasks), f"module {m['id']}: duplicate task ids"
        assert m["id"] not in modules, f"duplicate module id {m['id']}"
        modules[m["id"]] = Module(m["id"], m["title"], m["description"], m["level"], targets[m["level"]], tasks)
    return modules


def _parse_task(module_id: str, t: dict[str, Any]) -> Task:
    assert t["skill"] in SKILLS and t["id"] == f"{t['skill']}-{module_id}", f"task {t['id']} of module {module_id}"
    assert len(t["variants"]) >= 2, f"task {t['id']}: at least two variants"
    variants = []
    for v in t["variants"]:
        answer = tuple(tuple(str(k).lower().split("|")) for k in v.get("answer", ()))
        assert bool(answer) == (t["skill"] in AUTO_SCORED), f"task {t['id']}: answer keys"
        variants.append(Variant(v["prompt"], answer))
    return Task(t["id"], t["skill"], t["title"], tuple(variants))


def find_module(module_id: str) -> Module:
    module = catalog().get(module_id)
    if module is None:
        raise not_found(f"XEL module {module_id!r} not found (modules are {', '.join(catalog())})")
    return module


def find_task(module_id: str | None, task_id: str, skill: str | None = None) -> tuple[Module, Task]:
    """Resolve a task; the module, when not given, is the one the task id names (`writing-3` is in module 3).

    A task named with the wrong skill is treated as unknown: the pair (task, skill) names no task (404)."""
    if module_id is None:
        module = next((m for m in catalog().values() if m.task(task_id)), None)
        if module is None:
            raise not_found(f"XEL task {task_id!r} not found")
    else:
        module = find_module(module_id)
    task = module.task(task_id)
    if task is None:
        ids = ", ".join(t.id for t in module.tasks)
        raise not_found(f"Module {module.id} has no task {task_id!r} (its tasks are {ids})")
    if skill is not None and skill != task.skill:
        raise not_found(f"Module {module.id} has no {skill} task {task_id!r}: {task_id} is a {task.skill} task")
    return module, task


def cefr(score: float) -> str:
    return next((level for floor, level in CEFR_BANDS if score >= floor), "A1")


def answer_score(variant: Variant, response: str) -> int:
    """Reading and listening: the share of the variant's answer keywords (any accepted spelling) in the response."""
    text = " " + " ".join(re.findall(r"[a-z0-9:'’-]+", response.lower())) + " "
    hits = sum(any(f" {alt} " in text for alt in key) for key in variant.answer)
    return _round(100 * hits / len(variant.answer))


def _round(value: float) -> int:
    """Half up (Python's round() is half-to-even), clamped to 0-100."""
    return max(0, min(100, int(value + 0.5)))


# the evaluation rubric -------------------------------------------------------------------------------------------
WORD_RE = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
CONNECTORS = frozenset(
    "and but or so because however therefore although though while whereas moreover furthermore also then first "
    "firstly secondly finally besides instead unless since meanwhile nevertheless consequently otherwise thus hence "
    "yet afterwards later".split()
)
CONNECTOR_PHRASES = (
    "for example",
    "for instance",
    "in addition",
    "on the other hand",
    "as a result",
    "in conclusion",
    "in contrast",
    "in fact",
    "even though",
    "as well as",
    "after that",
)
FILLERS = frozenset(("um", "uh", "er", "erm", "hmm", "ah", "uhm"))
PROMPT_STOPWORDS = frozenset(
    "about after again also around before being both could each from have into just more most much only other over "
    "same should some such than that their them then there these they this those through very were what when where "
    "which while with would your yours yourself write record describe explain tell give discuss answer using least "
    "three thirty seconds minute minutes short words sentences".split()
)
WEIGHTS: dict[str, dict[str, float]] = {
    "writing": {"grammar": 0.30, "vocabulary": 0.25, "coherence": 0.20, "task_achievement": 0.25},
    "speaking": {"fluency": 0.30, "grammar": 0.15, "vocabulary": 0.20, "coherence": 0.15, "task_achievement": 0.20},
}
TIPS = {
    "grammar": "start each sentence with a capital letter and end it with a full stop",
    "vocabulary": "use more varied and more precise words",
    "coherence": "link your ideas with words such as because, however and for example",
    "task_achievement": "answer every part of the prompt and write a little more",
    "fluency": "speak in longer, complete sentences without fillers such as 'um'",
}


@dataclass(frozen=True)
class TextFeatures:
    words: tuple[str, ...]  # lowercase
    sentences: int
    capitalised: int  # sentences starting with a capital letter
    final_punctuation: bool
    lowercase_i: int
    doubled: int
    connectors: tuple[str, ...]
    fillers: int

    @property
    def count(self) -> int:
        return len(self.words)

    @property
    def distinct(self) -> int:
        return len(set(self.words))

    @property
    def per_sentence(self) -> float:
        return self.count / self.sentences if self.sentences else 0.0

    @property
    def diversity(self) -> float:
        first = self.words[:100]
        return len(set(first)) / len(first) if first else 0.0

    @property
    def long_share(self) -> float:
        return sum(len(w) >= 7 for w in self.words) / self.count if self.count else 0.0


def text_features(text: str) -> TextFeatures:
    raw = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if WORD_RE.search(s)]
    words = tuple(w.lower() for w in WORD_RE.findall(text))
    joined = " " + " ".join(words) + " "
    found = sorted({w for w in words if w in CONNECTORS} | {p for p in CONNECTOR_PHRASES if f" {p} " in joined})
    return TextFeatures(
        words=words,
        sentences=len(raw),
        capitalised=sum(next(c for c in s if c.isalpha()).isupper() for s in raw),
        final_punctuation=text.rstrip().rstrip("\"'’”)").endswith((".", "!", "?")),
        lowercase_i=len(re.findall(r"(?<![\w.'’])i(?![\w.])", text)),
        doubled=sum(a == b for a, b in zip(words, words[1:], strict=False)),
        connectors=tuple(found),
        fillers=sum(w in FILLERS for w in words),
    )


def _stem(word: str) -> str:
    return word[:5]


def prompt_keywords(prompt: str | None) -> set[str]:
    """The prompt's content words (4+ letters, not instructions or function words), stemmed to 5 letters."""
    words = (w.lower() for w in WORD_RE.findall(prompt or ""))
    return {_stem(w) for w in words if len(w) >= 4 and w not in PROMPT_STOPWORDS}


def _advice(score: float, note: str, criterion: str) -> tuple[int, str]:
    """The criterion's score and feedback: what was measured, plus the tip below 75."""
    rounded = _round(score)
    return rounded, note if rounded >= 75 else f"{note} Try to {TIPS[criterion]}."


def _grammar(f: TextFeatures) -> tuple[int, str]:
    if not f.count:
        return 0, "No words to check."
    issues = []
    score = 100.0
    if f.capitalised < f.sentences:
        score -= 40 * (f.sentences - f.capitalised) / f.sentences
        issues.append(f"{f.sentences - f.capitalised} of {f.sentences} sentences start without a capital letter")
    if not f.final_punctuation:
        score -= 15
        issues.append("the text does not end with . ! or ?")
    if f.lowercase_i:
        score -= min(30, 10 * f.lowercase_i)
        issues.append("write the pronoun 'I' as a capital letter")
    if f.doubled:
        score -= min(20, 10 * f.doubled)
        issues.append("a word is repeated twice in a row")
    if f.per_sentence > 30:
        score -= 15
        issues.append("some sentences are very long; split them")
    if f.count < 3:
        score = min(score, 40)
        issues.append("too short to show sentence structure")
    return _round(score), ("Check: " + "; ".join(issues) + ".") if issues else "Sentences are well formed."


def _vocabulary(f: TextFeatures) -> tuple[int, str]:
    score = 100 * (0.4 * f.diversity + 0.3 * min(1, f.long_share / 0.25) + 0.3 * min(1, f.distinct / 60))
    note = f"{f.distinct} different words; {_round(100 * f.long_share)}% are longer words (7+ letters)."
    return _advice(score, note, "vocabulary")


def _coherence(f: TextFeatures) -> tuple[int, str]:
    if not f.count:
        return 0, "No ideas to link."
    avg = f.per_sentence
    balance = 1.0 if 8 <= avg <= 25 else max(0.0, 1 - 0.1 * (8 - avg if avg < 8 else avg - 25))
    score = 100 * (0.5 * min(1, len(f.connectors) / 4) + 0.3 * min(1, max(0, f.sentences - 1) / 4) + 0.2 * balance)
    used = ", ".join(f.connectors) or "none"
    note = f"{len(f.connectors)} linking words ({used}) across {f.sentences} sentences."
    return _advice(score, note, "coherence")


def _task_achievement(f: TextFeatures, target: int, prompt: str | None) -> tuple[int, str]:
    length = min(1, f.count / target)
    keywords = prompt_keywords(prompt)
    note = f"{f.count} words of about {target} expected"
    if keywords:
        used = len(keywords & {_stem(w) for w in f.words})
        coverage = min(1, used / min(4, len(keywords)))
        score = 100 * (0.6 * length + 0.4 * coverage)
        note += f"; uses {used} key idea(s) of the prompt"
    else:
        score = 100 * length
    note += "."
    return _advice(score, note, "task_achievement")


def _fluency(f: TextFeatures, target: int) -> tuple[int, str]:
    filler_share = f.fillers / f.count if f.count else 0.0
    score = 100 * (0.5 * min(1, f.per_sentence / 12) + 0.5 * min(1, f.count / target)) - min(40, 200 * filler_share)
    note = f"About {f.per_sentence:.0f} words per sentence; {f.fillers} filler word(s)."
    return _advice(score, note, "fluency")


def evaluate_text(text: str, skill: str, target: int, prompt: str | None) -> dict[str, Any]:
    """Score a writing text or speaking transcript against the rubric (module docstring); pure and deterministic."""
    f = text_features(text)
    rated: dict[str, tuple[int, str]] = {
        "fluency": _fluency(f, target),
        "grammar": _grammar(f),
        "vocabulary": _vocabulary(f),
        "coherence": _coherence(f),
        "task_achievement": _task_achievement(f, target, prompt),
    }
    weights = WEIGHTS[skill]
    criteria: list[dict[str, Any]] = [
        {"name": name, "score": rated[name][0], "feedback": rated[name][1]} for name in weights
    ]
    overall = _round(sum(rated[name][0] * w for name, w in weights.items()))
    best = max(criteria, key=lambda c: c["score"])["name"]
    weakest = min(criteria, key=lambda c: c["score"])["name"]
    level = cefr(overall)
    feedback = (
        f"Overall {overall}/100, about {level}. Strongest: {best.replace('_', ' ')}; "
        f"focus next on {weakest.replace('_', ' ')}: {TIPS[weakest]}."
    )
    return {
        "skill": skill,
        "overall_score": overall,
        "criteria": criteria,
        "cefr_estimate": level,
        "feedback": feedback,
    }


# per-user state --------------------------------------------------------------------------------------------------
def _now(call: Call) -> datetime:
    return call.clock.now()


def _award(call: Call, user_id: str, amount: int, source: str, description: str, at: datetime) -> int:
    """XP into the shared ledger; returns what was granted (a booster may multiply it)."""
    if amount <= 0:
        return 0
    if call.extra.get("xel_seeding"):  # demo history: written as it happened, without claiming today's quests
        row = {
            "id": _new_id(call),
            "user_id": user_id,
            "amount": amount,
            "source": source,
            "description": description,
            "created_at": iso(at),
        }
        add_activity(call, user_id, txs=[row])
        return amount
    return int(award_xp(call, user_id, amount, source, description, at)["amount"])


def _new_id(call: Call) -> str:
    """Ids from the shared seeded stream; the demo seeder has its own, so the ids the API hands out stay put."""
    make = call.extra.get("xel_ids")
    return make() if make else call.store.new_id()


def _activity(
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


def _score_sample(
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


def _progress(call: Call, user_id: str, module_id: str) -> dict[str, Any] | None:
    return call.store.one("SELECT * FROM xel_progress WHERE user_id = ? AND module_id = ?", (user_id, module_id))


def _variant(call: Call, user_id: str, task_id: str) -> int:
    row = call.store.one("SELECT variant FROM xel_variants WHERE user_id = ? AND task_id = ?", (user_id, task_id))
    return int(row["variant"]) if row else 1


def _latest_submissions(call: Call, user_id: str, module_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The latest submission per task (of one module, or all), keyed by task id."""
    sql = "SELECT * FROM xel_submissions WHERE user_id = ?" + (" AND module_id = ?" if module_id else "")
    params = (user_id, module_id) if module_id else (user_id,)
    return {row["task_id"]: row for row in call.store.all(sql + " ORDER BY seq", params)}


def module_state(call: Call, user_id: str, module: Module) -> dict[str, Any]:
    """The XELModuleSummary of a module for the user."""
    progress = _progress(call, user_id, module.id)
    submitted = _latest_submissions(call, user_id, module.id)
    done = sum(t.id in submitted for t in module.tasks)
    return {
        "id": module.id,
        "title": module.title,
        "level": module.level,
        "skills": module.skills,
        "task_count": len(module.tasks),
        "status": progress["status"] if progress else "not_started",
        "progress_percent": _round(100 * done / len(module.tasks)) if module.tasks else 0,
        "started_at": progress["started_at"] if progress else None,
        "completed_at": progress["completed_at"] if progress else None,
    }


def start_module(call: Call, user_id: str, module: Module, at: datetime) -> dict[str, Any]:
    """Idempotent: the first start is kept; a completed module stays completed."""
    progress = _progress(call, user_id, module.id)
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
        _activity(call, user_id, "module_started", module.id, None, f'Started "{module.title}"', 0, at)
    return progress


def submit_task(
    call: Call, user_id: str, module: Module, task: Task, response: str, seconds: int, at: datetime
) -> dict[str, Any]:
    start_module(call, user_id, module, at)
    variant = _variant(call, user_id, task.id)
    score = answer_score(task.variant(variant), response) if task.skill in AUTO_SCORED else None
    first = (
        call.store.one(
            "SELECT 1 FROM xel_submissions WHERE user_id = ? AND task_id = ? AND variant = ?",
            (user_id, task.id, variant),
        )
        is None
    )
    label = f'{task.id} in "{module.title}"'
    xp = _award(call, user_id, XP_TASK_SUBMISSION if first else 0, "task_submission", f"Submitted {label}", at)
    row = {
        "id": _new_id(call),
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
        _score_sample(call, user_id, task.skill, score, "submission", at, module_id=module.id, task_id=task.id)
    _activity(call, user_id, "task_submitted", module.id, task.id, f"Submitted {label}", xp, at)
    return row


def evaluate(call: Call, user_id: str, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Score the text; link it to the task's latest submission when a task is named; award XP once per text."""
    skill, text = body["skill"], body["text"]
    module: Module | None = None
    task: Task | None = None
    if "task_id" in body:
        module, task = find_task(body.get("module_id"), body["task_id"], skill)
    elif "module_id" in body:
        module = find_module(body["module_id"])
    prompt = body.get("prompt") or (task.variant(_variant(call, user_id, task.id)).prompt if task else None)
    result = evaluate_text(text, skill, module.target_words if module else DEFAULT_TARGET_WORDS, prompt)
    digest = hashlib.sha256(f"{skill}\0{' '.join(text.lower().split())}".encode()).hexdigest()
    seen = call.store.one("SELECT 1 FROM xel_scores WHERE user_id = ? AND text_hash = ?", (user_id, digest))
    task_id, module_id = (task.id if task else None), (module.id if module else None)
    label = f"{skill.title()} evaluation" + (f" of {task_id}" if task_id else "") + f": {result['overall_score']}/100"
    xp = _award(call, user_id, 0 if seen else XP_EVALUATION, "evaluation", label, at)
    _score_sample(
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
        latest = _latest_submissions(call, user_id, module_id).get(task.id)
        if latest is not None:
            call.store.run(
                "UPDATE xel_submissions SET score = ?, status = 'evaluated' WHERE id = ?",
                (result["overall_score"], latest["id"]),
            )
    _activity(call, user_id, "evaluation", module_id, task_id, label, xp, at)
    return {**result, "xp_awarded": xp}


def complete_module(call: Call, user_id: str, module: Module, at: datetime) -> dict[str, Any]:
    progress = _progress(call, user_id, module.id)
    if progress and progress["status"] == "completed":
        return {
            "module_id": module.id,
            "status": "completed",
            "completed_at": progress["completed_at"],
            "xp_awarded": 0,
        }
    submitted = _latest_submissions(call, user_id, module.id)
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
    xp = _award(call, user_id, XP_MODULE_COMPLETION, "module_completion", description, at)
    _activity(call, user_id, "module_completed", module.id, None, description, xp, at)
    return {"module_id": module.id, "status": "completed", "completed_at": iso(at), "xp_awarded": xp}


# XPI ---------------------------------------------------------------------------------------------------------------
def _breakdown(windows: dict[str, deque[int]]) -> dict[str, float]:
    return {s: round(sum(windows[s]) / len(windows[s]), 1) if windows[s] else 0.0 for s in SKILLS}


def _xpi(breakdown: dict[str, float]) -> float:
    return round(sum(breakdown.values()) / len(SKILLS), 1)


def _windows() -> dict[str, deque[int]]:
    return {s: deque(maxlen=XPI_WINDOW) for s in SKILLS}


def _samples(call: Call, user_id: str) -> list[dict[str, Any]]:
    return call.store.all(
        "SELECT skill, score, ts, created_at FROM xel_scores WHERE user_id = ? ORDER BY ts, seq", (user_id,)
    )


def current_xpi(call: Call, user_id: str) -> dict[str, Any]:
    windows = _windows()
    samples = _samples(call, user_id)
    for s in samples:
        windows[s["skill"]].append(s["score"])
    breakdown = _breakdown(windows)
    xpi = _xpi(breakdown)
    updated = max(samples, key=lambda s: s["ts"])["created_at"] if samples else None
    return {"xpi": xpi, "breakdown": breakdown, "level": cefr(xpi), "updated_at": updated}


def xpi_history(call: Call, user_id: str) -> list[dict[str, Any]]:
    """One entry per UTC day with XEL activity, oldest first: the XPI from the samples up to that day's end."""
    rows = call.store.all("SELECT DISTINCT ts FROM xel_activity WHERE user_id = ?", (user_id,))
    days = sorted({datetime.fromtimestamp(r["ts"], UTC).date() for r in rows})
    samples = _samples(call, user_id)
    windows, i, history = _windows(), 0, []
    for day in days:
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC).timestamp()
        while i < len(samples) and samples[i]["ts"] < end:
            windows[samples[i]["skill"]].append(samples[i]["score"])
            i += 1
        breakdown = _breakdown(windows)
        history.append({"date": day.isoformat(), "xpi": _xpi(breakdown), "breakdown": breakdown})
    return history


def _streak(days: Iterable[date], today: date) -> int:
    """Consecutive local days with XEL activity ending today, or yesterday while today has none yet."""
    active = set(days)
    day = today if today in active else today - timedelta(days=1)
    count = 0
    while day in active:
        count += 1
        day -= timedelta(days=1)
    return count


# sessions --------------------------------------------------------------------------------------------------------
def _own_session(call: Call, session_id: str) -> dict[str, Any]:
    return own_row(call, "xel_sessions", session_id, f"Learning session {session_id} not found")


# handlers --------------------------------------------------------------------------------------------------------
@handles("listXelModules")
def list_modules(call: Call) -> list[dict[str, Any]]:
    return [module_state(call, call.user_id, m) for m in catalog().values()]


@handles("getXelModule")
def get_module(call: Call) -> dict[str, Any]:
    module = find_module(call.path["module_id"])
    submitted = _latest_submissions(call, call.user_id, module.id)
    tasks = []
    for task in module.tasks:
        variant = _variant(call, call.user_id, task.id)
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
    progress = start_module(call, call.user_id, module, _now(call))
    return {"module_id": module.id, "status": progress["status"], "started_at": progress["started_at"], "xp_awarded": 0}


@handles("completeXelModule")
def complete(call: Call) -> dict[str, Any]:
    return complete_module(call, call.user_id, find_module(call.path["module_id"]), _now(call))


@handles("submitXelTask")
def submit(call: Call) -> dict[str, Any]:
    body = call.body
    module, task = find_task(body["module_id"], body["task_id"], body["skill"])
    row = submit_task(call, call.user_id, module, task, body["response"], body.get("time_spent_seconds", 0), _now(call))
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
    variant = _variant(call, call.user_id, task.id) + 1
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
    return evaluate(call, call.user_id, call.body, _now(call))


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
        "streak": _streak(days, local_day(_now(call), tz)),
        "total_time_seconds": xel_learning_seconds(call, user_id),
    }


@handles("startXelSession")
def start_session(call: Call) -> Result:
    body = call.body or {}
    if "module_id" in body:
        find_module(body["module_id"])
    row = {
        "id": call.store.new_id(),
        "user_id": call.user_id,
        "module_id": body.get("module_id"),
        "session_type": body.get("session_type", "practice"),
        "skill": body.get("skill"),
        "started_at": iso(_now(call)),
        "ended_at": None,
    }
    call.store.insert("xel_sessions", row)
    return Result(
        {
            "session_id": row["id"],
            "started_at": row["started_at"],
            "module_id": row["module_id"],
            "session_type": row["session_type"],
            "skill": row["skill"],
        },
        201,
    )


@handles("endXelSession")
def end_session(call: Call) -> dict[str, Any]:
    session = _own_session(call, call.body["session_id"])
    if session["ended_at"] is not None:
        raise conflict(f"Learning session {session['id']} already ended at {session['ended_at']}", "session_ended")
    started = parse_instant(session["started_at"])
    ended = max(_now(call), started)  # a clock set back never gives a negative length
    samples = call.store.all(
        "SELECT score FROM xel_scores WHERE user_id = ? AND ts >= ? AND ts <= ?",
        (call.user_id, started.timestamp(), ended.timestamp()),
    )
    passed = sum(s["score"] >= PASS_SCORE for s in samples)
    record_session(call, call.user_id, "xel", started, ended, quizzes=len(samples), quizzes_passed=passed)
    call.store.run("UPDATE xel_sessions SET ended_at = ? WHERE id = ?", (iso(ended), session["id"]))
    duration = int((ended - started).total_seconds())
    label = f"{session['session_type'].title()} session ({duration // 60} min)"
    _activity(call, call.user_id, "session", session["module_id"], None, label, 0, ended)
    return {
        "session_id": session["id"],
        "started_at": session["started_at"],
        "ended_at": iso(ended),
        "duration_seconds": duration,
        "xp_awarded": 0,
    }


@handles("saveXelTranscript")
def save_transcript(call: Call) -> Result:
    body = call.body
    session = _own_session(call, body["session_id"])
    now = _now(call)
    spoken = parse_instant(body["timestamp"]) if "timestamp" in body else now
    row = {
        "id": call.store.new_id(),
        "session_id": session["id"],
        "role": body["role"],
        "text": body["text"],
        "ts": spoken.timestamp(),
        "timestamp": iso(spoken),
        "created_at": iso(now),
    }
    call.store.insert("xel_transcripts", row)
    return Result({"id": row["id"], "session_id": row["session_id"], "created_at": row["created_at"]}, 201)


@handles("listXelTranscripts")
def get_transcripts(call: Call) -> list[dict[str, Any]]:
    session = _own_session(call, str(call.path["session_id"]))
    rows = call.store.all(
        "SELECT id, session_id, role, text, timestamp FROM xel_transcripts WHERE session_id = ? ORDER BY ts, seq",
        (session["id"],),
    )
    return rows


# the demo user's XEL history -------------------------------------------------------------------------------------
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
    ids = random.Random(f"xentree-xel-demo-ids:{world.seed}")
    seeding = Call(
        {},
        {},
        {},
        None,
        None,
        call.store,
        call.clock,
        call.tokens,
        seed=call.seed,
        extra={"xel_seeding": True, "xel_ids": lambda: _uuid(ids)},
    )
    tz, now = zone(user["timezone"]), call.clock.now()
    today = local_day(now, tz)
    texts = {skill: rng.sample(options, len(options)) for skill, options in DEMO_TEXTS.items()}
    for module_id, days_ago, completes in DEMO_PLAN:
        module = catalog()[module_id]
        at = datetime.combine(today - timedelta(days=days_ago), time(rng.randint(9, 17), rng.randrange(60)), tz)
        for task in module.tasks if completes else module.tasks[:2]:
            at += timedelta(minutes=rng.randint(3, 12))
            answer = texts[task.skill].pop() if task.skill in texts else _demo_answer(rng, task)
            submit_task(seeding, user["id"], module, task, answer, rng.randint(60, 600), at)
            if task.skill not in AUTO_SCORED:
                at += timedelta(minutes=1)
                body = {"skill": task.skill, "text": answer, "module_id": module.id, "task_id": task.id}
                evaluate(seeding, user["id"], body, at)
        if completes:
            complete_module(seeding, user["id"], module, at + timedelta(minutes=2))


def _demo_answer(rng: random.Random, task: Task) -> str:
    """Reading/listening: the first variant's keywords, one sometimes missing."""
    keys = [k[0] for k in task.variants[0].answer]
    if len(keys) > 1 and rng.random() < 0.3:
        keys.pop()
    return "The answer is " + " and ".join(keys) + "."


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
