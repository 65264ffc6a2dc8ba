"""Coverage at a glance: an operation × status-code matrix, as an inline SVG picture (HTML) and a compact table
(Markdown).

Each cell is one of: documented and seen, documented but never seen, seen but undocumented; rows are grouped by the
operation's first tag and marked when the operation has errors or warnings. The picture is plain SVG (no script,
no external font or style), so the report stays one self-contained file.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from contract_tests.results import SKIPPED, OperationResult

SEEN, UNSEEN, UNDOCUMENTED, NONE = "documented-and-seen", "documented-never-seen", "seen-but-undocumented", ""
COLOURS = {SEEN: "#2f9e5b", UNSEEN: "#e3e6ec", UNDOCUMENTED: "#d64545"}
SYMBOLS = {SEEN: "✓", UNSEEN: "·", UNDOCUMENTED: "✗", NONE: ""}
LABEL_WIDTH, CELL, ROW, HEADER = 360, 40, 18, 28


@dataclass(frozen=True)
class Row:
    tag: str
    operation: OperationResult
    cells: tuple[str, ...]  # one state per column

    @property
    def mark(self) -> str:
        """error | warning | skipped | '' (the worst the row has)."""
        if any(f.is_error for f in self.operation.findings) or self.operation.errors:
            return "error"
        if self.operation.findings:
            return "warning"
        return "skipped" if self.operation.status == SKIPPED else ""


def _code(key: str) -> str:
    return key.upper() if not key.isdigit() else key


def columns(operations: Iterable[OperationResult]) -> list[str]:
    """Every status documented or seen, concrete codes first in order, then ranges and `default`."""
    keys = {_code(s) for op in operations for s in op.documented_statuses} | {
        str(s) for op in operations for s in op.statuses_seen
    }
    return sorted(keys, key=lambda k: (not k.isdigit(), k))


def cell(op: OperationResult, column: str) -> str:
    documented = {_code(s) for s in op.documented_statuses}
    seen = {str(s) for s in op.statuses_seen}
    if column in seen:
        return UNDOCUMENTED if int(column) in op.undocumented_statuses else SEEN
    if column in documented:
        covered = any(s[0] == column[0] for s in seen) if column.endswith("XX") else False
        return SEEN if covered else UNSEEN
    return NONE


def rows(operations: list[OperationResult]) -> tuple[list[str], list[Row]]:
    """Columns and rows of the operations the run selected (those skipped for safety stay, dimmed)."""
    operations = [op for op in operations if op.skip_reason != "not selected"]
    cols = columns(operations)
    ordered = sorted(operations, key=lambda op: ((op.tags or ["untagged"])[0], op.label))
    return cols, [Row((op.tags or ["untagged"])[0], op, tuple(cell(op, c) for c in cols)) for op in ordered]


def counts(table: list[Row]) -> dict[str, int]:
    return {state: sum(r.cells.count(state) for r in table) for state in (SEEN, UNSEEN, UNDOCUMENTED)}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def svg(operations: list[OperationResult]) -> str:
    """The matrix as one inline `<svg>` element (with `<title>` tooltips per cell)."""
    cols, table = rows(operations)
    tags = list(dict.fromkeys(r.tag for r in table))
    height = HEADER + ROW * (len(table) + len(tags)) + 34
    width = max(LABEL_WIDTH + CELL * max(1, len(cols)) + 10, 720)  # the legend needs 720
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" id="status-matrix" class="matrix" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" '
        f'font-size="11"><title>Operation × status code matrix</title>'
    ]
    for i, column in enumerate(cols):
        x = LABEL_WIDTH + i * CELL + CELL / 2
        parts.append(f'<text x="{x}" y="{HEADER - 10}" text-anchor="middle" font-weight="600">{_e(column)}</text>')
    y = HEADER
    for tag in tags:
        parts.append(f'<text x="4" y="{y + 13}" font-weight="700" fill="#1d2330">{_e(tag)}</text>')
        y += ROW
        for row in (r for r in table if r.tag == tag):
            parts.append(_row(row, cols, y))
            y += ROW
    legend = [(SEEN, "documented, seen"), (UNSEEN, "documented, never seen"), (UNDOCUMENTED, "seen, undocumented")]
    x = 4
    for state, text in legend:
        parts.append(
            f'<rect x="{x}" y="{y + 12}" width="12" height="12" rx="2" fill="{COLOURS[state]}"/>'
            f'<text x="{x + 16}" y="{y + 22}">{_e(text)}</text>'
        )
        x += 170
    parts.append(
        f'<text x="{x}" y="{y + 22}" fill="#9b1c1c">● error</text>'
        f'<text x="{x + 60}" y="{y + 22}" fill="#b86e00">● warning</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _row(row: Row, cols: list[str], y: int) -> str:
    op = row.operation
    dot = {"error": "#9b1c1c", "warning": "#b86e00"}.get(row.mark)
    fill = "#999" if row.mark == "skipped" else "#1d2330"
    parts = [f'<g class="row {row.mark}" data-operation="{_e(op.operation_id)}">']
    if dot:
        parts.append(f'<circle cx="10" cy="{y + 9}" r="4" fill="{dot}"/>')
    label = op.label if len(op.label) <= 52 else op.label[:51] + "…"
    parts.append(
        f'<text x="18" y="{y + 13}" fill="{fill}"><title>{_e(op.operation_id)}: {_e(op.status)}</title>'
        f"{_e(label)}</text>"
    )
    for i, state in enumerate(row.cells):
        if state == NONE:
            continue
        x = LABEL_WIDTH + i * CELL + 3
        seen = op.statuses_seen.get(int(cols[i]), 0) if cols[i].isdigit() else 0
        tip = f"{op.operation_id} {cols[i]}: {state}" + (f" ({seen} responses)" if seen else "")
        parts.append(
            f'<rect class="cell {state}" x="{x}" y="{y + 2}" width="{CELL - 6}" height="{ROW - 4}" rx="2" '
            f'fill="{COLOURS[state]}"><title>{_e(tip)}</title></rect>'
        )
    parts.append("</g>")
    return "".join(parts)


def markdown(operations: list[OperationResult], limit: int = 120) -> list[str]:
    """The matrix as a compact Markdown table: ✓ documented and seen, · documented never seen, ✗ undocumented."""
    cols, table = rows(operations)
    if not table:
        return []
    lines = ["| tag | operation | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for row in table[:limit]:
        mark = {"error": " ❌", "warning": " ⚠️", "skipped": " (skipped)"}.get(row.mark, "")
        cells = " | ".join(SYMBOLS[state] for state in row.cells)
        lines.append(f"| {row.tag} | `{row.operation.label.replace('|', '/')}`{mark} | {cells} |")
    if len(table) > limit:
        lines.append(f"| … | {len(table) - limit} more operations in report.html |" + " |" * len(cols))
    return lines
