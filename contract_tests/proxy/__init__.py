"""`xentree-contract proxy`: a validating proxy that turns real traffic into the contract reports.

A frontend talks to the proxy as it would to the deployment; every request and answer passes through unchanged
(`forwarding`), and a copy of each exchange (bodies up to a bound) is checked against the spec with the same
machinery as `run` - Schemathesis' response checks plus the suite's run-wide rules (`observe`, `request_checks`) -
and folded into the same results and reports (`record`). `server` runs it until SIGINT, SIGTERM or `--duration`.
"""

# The spec(s) each `--api` checks; here, not in `server`, so the CLI's parser (`run` too) builds without importing
# the proxy's server stack (uvicorn, httpx, the observers).
APIS = {"xentree": ("xentree",), "xp-ledger": ("xp-ledger",), "both": ("xentree", "xp-ledger")}
