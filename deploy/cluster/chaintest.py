"""`helm test`'s check: one request into the entry service must pass through every service.

Run in the test pod as ``tailstorm-entrypoint chain-test`` (stdlib only): POST an empty body to
``$TAILSTORM_ENTRY_URL/v1/work`` and compare the answer's ``hops`` with
``$TAILSTORM_EXPECTED_HOPS`` (comma-separated). Exit 0 when every expected service answered,
1 with one sentence otherwise.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def check_chain(entry_url: str, expected_hops: set[str], *, timeout_seconds: float = 30.0) -> str | None:
    """None when every expected service is among the hops; else what went wrong."""
    request = urllib.request.Request(f"{entry_url}/v1/work", data=b"{}", method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"{entry_url} answered {exc.code}: {exc.read()[:200]!r}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"no answer from {entry_url}: {exc}"
    missing = expected_hops - set(answer.get("hops", []))
    return f"the request did not pass through {', '.join(sorted(missing))} (hops: {answer.get('hops')})" if missing else None


def main() -> int:
    expected = {hop for hop in os.environ.get("TAILSTORM_EXPECTED_HOPS", "").split(",") if hop}
    problem = check_chain(os.environ["TAILSTORM_ENTRY_URL"], expected)
    if problem:
        print(f"chain test failed: {problem}", file=sys.stderr)
        return 1
    print(f"chain test passed: {', '.join(sorted(expected))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
