"""The Timeback XP ledger's rules (openapi/xp-ledger.yaml), each checked as one or more JUnit cases.

- Idempotency: the same XP GradeEvent (same event id) sent twice creates exactly one ledger entry (read back through
  listUserXpEntries, matched by `sourceEventId`); the second acknowledgement says `duplicate`.
- Paging: with `limit=k` and several offsets, `total` is the same on every page, the pages do not overlap, each has
  `min(k, total - offset)` entries, and a limit above 100 (or below 1, or a negative offset) answers 400.
- Filters: `startDate`/`endDate` are inclusive bounds on `dateGenerated` (an entry exactly at a bound is listed, one
  just outside is not); `applicationId` lists only that application's entries (an unknown one gives an empty page);
  a malformed date answers 400 with the Error shape; an unknown student answers 404.
- Scopes: a token without `events.readonly` gets 403 on the read, one without `events.write` gets 403 on ingestion
  (tokens minted at the token operation with `scope=...`; skipped when the target will not mint them).
- Authentication: a missing or garbage token gets 401 with `WWW-Authenticate: Bearer ...`; a wrong client secret
  gets 401 `invalid_client` from the token operation.

The ledger has no delete: the only writes are XP events of the suite's own, each with a fresh `urn:uuid:<uuid4>` id,
for one student (`--student-id`, else discovered from the target). Entries may appear after a processing delay: reads
are polled for up to `--settle-seconds`.
"""

RULES = __doc__ or ""  # every ledger scenario's description (the reports show its first line)
