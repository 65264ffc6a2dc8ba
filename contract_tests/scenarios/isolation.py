"""Rule 5, object-level isolation: a second user can neither read nor change the first user's objects.

For each kind of object (conversations, notes, organizations, live transcripts, XEL transcripts, API keys) the run's
user creates one, marked with a unique text. A second user then tries every operation that takes its id: each must
answer 404 ("not found or not visible") or 403 and never show the marker; the second user's lists must not contain
it. Finally the owner checks the object is still there and unchanged, so a silent cross-user delete shows up too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract_tests.auth import Principal
from contract_tests.http import Exchange
from contract_tests.scenarios import Case, ScenarioContext, scenario

GROUP = "isolation"
REFUSALS = (403, 404)


@dataclass(frozen=True)
class Attempt:
    operation_id: str
    body: Callable[[ScenarioContext, Principal], Any] | None = None  # given the second user


@dataclass(frozen=True)
class Kind:
    name: str
    param: str  # path parameter that carries the object's id
    create: Callable[[ScenarioContext, Principal, str], str]  # returns the new object's id
    attempts: tuple[Attempt, ...]  # what the second user tries with the id
    lists: tuple[str, ...] = ()  # the second user's lists that must not show the object
    owner_check: str | None = None  # the owner reads the object by id afterwards (200 expected)
    needs: tuple[str, ...] = field(default=())


def _created(answer: Exchange, what: str, key: str = "id") -> str:
    body = answer.json if isinstance(answer.json, dict) else {}
    if answer.status != 201 or not body.get(key):
        raise AssertionError(f"could not create {what} as the first user: {answer.summary()}")
    return str(body[key])


def create_conversation(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    conv_id = _created(ctx.call("createConversation", owner, body={"title": marker}), "a conversation")
    ctx.defer("conversation", lambda: ctx.call("deleteConversation", owner, path={"conversation_id": conv_id}))
    return conv_id


def create_note(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    note_id = _created(ctx.call("createNote", owner, body={"title": marker, "content": marker}), "a note")
    ctx.defer("note", lambda: ctx.call("deleteNote", owner, path={"note_id": note_id}))
    return note_id


def create_organization(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    return ctx.create_organization(owner, "iso")


def create_live_transcript(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    body = {
        "session_started_at": "2026-01-01T10:00:00Z",
        "session_ended_at": "2026-01-01T10:01:00Z",
        "transcripts": [{"role": "user", "text": marker, "timestamp": "2026-01-01T10:00:10Z"}],
    }
    return _created(ctx.call("saveLiveTranscripts", owner, body=body), "a live transcript")


def create_xel_transcript(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    session_id = _created(ctx.call("startXelSession", owner, body={}), "an XEL session", "session_id")
    saved = ctx.call("saveXelTranscript", owner, body={"session_id": session_id, "role": "user", "text": marker})
    if saved.status != 201:
        raise AssertionError(f"could not save an XEL transcript as the first user: {saved.summary()}")
    ctx.defer("XEL session", lambda: ctx.call("endXelSession", owner, body={"session_id": session_id}))
    return session_id


def create_api_key(ctx: ScenarioContext, owner: Principal, marker: str) -> str:
    return str(ctx.mint_key(owner, ["conversations:read"], marker)["id"])


def _join(ctx: ScenarioContext, intruder: Principal) -> dict[str, Any]:
    user_id = intruder.user.get("id")
    return {"user_id": user_id, "role": "owner"} if user_id else {"email": intruder.user.get("email"), "role": "owner"}


KINDS = (
    Kind(
        "conversations",
        "conversation_id",
        create_conversation,
        (
            Attempt("listConversationMessages"),
            Attempt("getConversationSessionStatus"),
            Attempt("startConversationSession"),
            Attempt("deleteConversation"),
        ),
        lists=("listConversations",),
        owner_check="listConversationMessages",
        needs=("createConversation", "deleteConversation"),
    ),
    Kind(
        "notes",
        "note_id",
        create_note,
        (Attempt("updateNote", lambda c, i: {"title": "hijacked", "content": "hijacked"}), Attempt("deleteNote")),
        lists=("listNotes",),
        needs=("createNote", "deleteNote"),
    ),
    Kind(
        "organizations",
        "org_id",
        create_organization,
        (
            Attempt("getOrganization"),
            Attempt("listOrganizationMembers"),
            Attempt("updateOrganization", lambda c, i: {"name": "hijacked"}),
            Attempt("addOrganizationMember", _join),
            Attempt("deleteOrganization"),
        ),
        lists=("listOrganizations",),
        owner_check="getOrganization",
        needs=("createOrganization", "deleteOrganization"),
    ),
    Kind(
        "live transcripts",
        "transcript_id",
        create_live_transcript,
        (Attempt("getLiveTranscript"),),
        lists=("listLiveTranscripts",),
        owner_check="getLiveTranscript",
        needs=("saveLiveTranscripts",),
    ),
    Kind(
        "XEL transcripts",
        "session_id",
        create_xel_transcript,
        (Attempt("listXelTranscripts"),),
        owner_check="listXelTranscripts",
        needs=("startXelSession", "saveXelTranscript"),
    ),
    Kind(
        "API keys",
        "key_id",
        create_api_key,
        (Attempt("deleteApiKey"),),
        lists=("listApiKeys",),
        needs=("createApiKey", "deleteApiKey", "listTenants"),
    ),
)


def _shows(answer: Exchange, object_id: str, marker: str) -> bool:
    text = answer.content.decode("utf-8", "replace")
    return object_id in text or marker in text


def check_kind(ctx: ScenarioContext, case: Case, kind: Kind, owner: Principal, intruder: Principal) -> None:
    marker = f"ct-isolation-{ctx.options.seed}-{kind.name.replace(' ', '-').lower()}"
    object_id = kind.create(ctx, owner, marker)
    present = set(ctx.spec.by_id)
    for attempt in kind.attempts:
        if attempt.operation_id not in present:
            continue
        body = attempt.body(ctx, intruder) if attempt.body else None
        answer = ctx.call(attempt.operation_id, intruder, path={kind.param: object_id}, body=body)
        # a refusal may echo the id it was asked for, never the object's content (the marker)
        case.expect(
            answer.status in REFUSALS and marker not in answer.content.decode("utf-8", "replace"),
            f"a second user reached the first user's {kind.name[:-1] if kind.name.endswith('s') else kind.name}"
            f" through {attempt.operation_id}: expected 404 (or 403), got {answer.summary()}",
            answer,
        )
    for list_op in kind.lists:
        if list_op not in present:
            continue
        answer = ctx.call(list_op, intruder)
        case.expect(
            not (answer.status < 300 and _shows(answer, object_id, marker)),
            f"{list_op} of a second user lists the first user's {kind.name} ({object_id})",
            answer,
        )
    if kind.owner_check and kind.owner_check in present:
        answer = ctx.call(kind.owner_check, owner, path={kind.param: object_id})
        case.expect(
            answer.status == 200,
            f"the owner lost their {kind.name} after a second user's attempts: {answer.summary()}",
            answer,
        )
        if answer.status == 200 and "hijacked" in answer.content.decode("utf-8", "replace"):
            case.fail(f"a second user changed the first user's {kind.name}: {answer.summary()}", answer)
    for list_op in kind.lists:
        if list_op in present and not kind.owner_check:
            answer = ctx.call(list_op, owner)
            case.expect(
                answer.status == 200
                and _shows(answer, object_id, marker)
                and "hijacked" not in answer.content.decode("utf-8", "replace"),
                f"the owner's {kind.name} is gone or changed after a second user's attempts: {answer.summary()}",
                answer,
            )


@scenario(GROUP, "object-level isolation", __doc__ or "", subjects=tuple(k.needs[0] for k in KINDS))
def isolation(ctx: ScenarioContext) -> None:
    selected = {op.operation_id for op in ctx.selected}
    for kind in KINDS:
        if kind.needs[0] not in selected:
            continue  # this kind of object is not under test in this run
        description = f"A second user cannot read or change the first user's {kind.name}"
        with ctx.case(
            f"isolation: {kind.name}",
            group=GROUP,
            rule="object_isolation",
            operation=kind.needs[0],
            description=description,
        ) as case:
            missing = [op for op in kind.needs if op not in ctx.spec.by_id]
            if missing:
                case.skip(f"the spec lacks {', '.join(missing)}")
            check_kind(ctx, case, kind, ctx.bearer(), ctx.second_user())
