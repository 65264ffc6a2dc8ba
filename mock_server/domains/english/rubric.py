"""Scoring, pure and deterministic: answer keywords for reading and listening, and the evaluation rubric for writing
and speaking texts (the rules are the package docstring's "Scoring")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mock_server.domains.english.catalog import Variant

CEFR_BANDS = ((95, "C2"), (85, "C1"), (73, "B2"), (50, "B1"), (30, "A2"))


def cefr(score: float) -> str:
    return next((level for floor, level in CEFR_BANDS if score >= floor), "A1")


def answer_score(variant: Variant, response: str) -> int:
    """Reading and listening: the share of the variant's answer keywords (any accepted spelling) in the response."""
    text = " " + " ".join(re.findall(r"[a-z0-9:'’-]+", response.lower())) + " "
    hits = sum(any(f" {alt} " in text for alt in key) for key in variant.answer)
    return round_score(100 * hits / len(variant.answer))


def round_score(value: float) -> int:
    """Half up (Python's round() is half-to-even), clamped to 0-100."""
    return max(0, min(100, int(value + 0.5)))


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
    rounded = round_score(score)
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
    return round_score(score), ("Check: " + "; ".join(issues) + ".") if issues else "Sentences are well formed."


def _vocabulary(f: TextFeatures) -> tuple[int, str]:
    score = 100 * (0.4 * f.diversity + 0.3 * min(1, f.long_share / 0.25) + 0.3 * min(1, f.distinct / 60))
    note = f"{f.distinct} different words; {round_score(100 * f.long_share)}% are longer words (7+ letters)."
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
    overall = round_score(sum(rated[name][0] * w for name, w in weights.items()))
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
