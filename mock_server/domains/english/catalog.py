"""The XEL module catalog (fixtures/catalog/xel-modules.yaml): 12 modules, A1..C2, each with tasks (ids
`<skill>-<module id>`) that have at least two variants; reading and listening variants carry their answer keywords.

The catalog is checked when it is loaded (`CatalogError` names the file and the entry), so a broken fixture fails at
startup with the reason, not later with a 500, and also under `python -O`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mock_server.catalogs import CatalogError, load_catalog, require
from mock_server.errors import not_found

CATALOG_FILE = "xel-modules.yaml"
SKILLS = ("reading", "writing", "listening", "speaking")
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
AUTO_SCORED = ("reading", "listening")


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
    return parse_catalog(load_catalog(CATALOG_FILE))


def parse_catalog(data: dict[str, Any]) -> dict[str, Module]:
    """Build and check the catalog; CatalogError for the first rule a module or task breaks."""
    try:
        targets = data["target_words"]
        entries = data["modules"]
    except (KeyError, TypeError) as exc:
        raise CatalogError(f"{CATALOG_FILE}: needs `target_words` and `modules` ({exc!r} missing)") from None
    modules: dict[str, Module] = {}
    for m in entries:
        try:
            module = _parse_module(m, targets)
        except (KeyError, TypeError, AttributeError) as exc:
            where = m.get("id", "?") if isinstance(m, dict) else "?"
            raise CatalogError(f"{CATALOG_FILE}: module {where}: missing or malformed field ({exc!r})") from None
        require(module.id not in modules, CATALOG_FILE, f"duplicate module id {module.id}")
        modules[module.id] = module
    return modules


def _parse_module(m: dict[str, Any], targets: dict[str, int]) -> Module:
    require(m["level"] in LEVELS and m["level"] in targets, CATALOG_FILE, f"module {m['id']}: level {m['level']}")
    tasks = tuple(_parse_task(m["id"], t) for t in m["tasks"])
    require(len({t.id for t in tasks}) == len(tasks), CATALOG_FILE, f"module {m['id']}: duplicate task ids")
    return Module(m["id"], m["title"], m["description"], m["level"], targets[m["level"]], tasks)


def _parse_task(module_id: str, t: dict[str, Any]) -> Task:
    where = f"task {t['id']} of module {module_id}"
    require(t["skill"] in SKILLS and t["id"] == f"{t['skill']}-{module_id}", CATALOG_FILE, where)
    require(len(t["variants"]) >= 2, CATALOG_FILE, f"task {t['id']}: at least two variants")
    variants = []
    for v in t["variants"]:
        answer = tuple(tuple(str(k).lower().split("|")) for k in v.get("answer", ()))
        require(bool(answer) == (t["skill"] in AUTO_SCORED), CATALOG_FILE, f"task {t['id']}: answer keys")
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
