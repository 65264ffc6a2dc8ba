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

Modules, one job each: schema.py (the tables), catalog.py (the module catalog, checked on load), rubric.py (pure
scoring), progress.py (per-user state and XP), xpi.py (XPI and streak), handlers.py and sessions.py (the operations),
seed.py (the demo user's history). Importing the package registers the tables, handlers and the seeder, in this
order.
"""

from __future__ import annotations

from mock_server.catalogs import CatalogError
from mock_server.domains.english import handlers, schema, seed, sessions  # noqa: F401  (importing registers them)
from mock_server.domains.english.catalog import LEVELS, catalog, parse_catalog
from mock_server.domains.english.rubric import answer_score, cefr, evaluate_text, text_features

__all__ = [
    "LEVELS",
    "CatalogError",
    "answer_score",
    "catalog",
    "cefr",
    "evaluate_text",
    "parse_catalog",
    "text_features",
]
