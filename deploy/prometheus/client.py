"""The one client of the Prometheus HTTP API: instant, range and last-scrape queries, errors named.

Everything that reads a run's Prometheus goes through :class:`Prometheus`: the local autoscaler
(the metrics a cluster's adapters would serve), the runner's progress line and collect step (range
dumps), and both backends (readiness, scrape coverage, the last scrape of a draining replica). Its
selectors come from the renderer that wrote the scrape config (:func:`app_selector`), so a job
name lives in one place. A failed call raises :class:`PrometheusError` naming the query and what
went wrong; callers that can do without an answer catch it where they decide so.
"""
from __future__ import annotations

import httpx

from deploy.prometheus import render


class PrometheusError(Exception):
    """Prometheus did not answer a query; the message names the query and why."""


def app_selector(**labels: str) -> str:
    """The label matchers of the services' scrape job, plus ``labels`` (``job="tailstorm-app",…``)."""
    return ",".join([f'job="{render.APP_JOB}"'] + [f'{key}="{value}"' for key, value in labels.items()])


class Prometheus:
    """A client of one Prometheus server; use as a context manager or call :meth:`close`."""

    def __init__(self, url: str, *, timeout_seconds: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_seconds)

    def __enter__(self) -> "Prometheus":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, what: str, **params) -> dict:
        try:
            response = self._client.get(f"{self.url}{path}", params=params)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusError(f"{what} at {self.url} failed: {type(exc).__name__}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{what} at {self.url} failed: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def instant(self, query: str, *, at: float | None = None) -> list[tuple[dict, float]]:
        """An instant query: (labels, value) per series."""
        params = {"query": query} if at is None else {"query": query, "time": at}
        data = self._get("/api/v1/query", f"query {query!r}", **params)
        return [(item["metric"], float(item["value"][1])) for item in data["result"]]

    def by_label(self, query: str, label: str, *, at: float | None = None) -> dict[str, float]:
        """An instant query as {value of ``label``: value}; series without the label are left out."""
        return {labels[label]: value for labels, value in self.instant(query, at=at) if label in labels}

    def range(self, query: str, *, start: float, end: float, step: float) -> list[dict]:
        """A range query: the ``result`` matrix (``{"metric": …, "values": [[t, "v"], …]}`` per series)."""
        return self._get("/api/v1/query_range", f"range query {query!r}", query=query, start=start, end=end,
                         step=step)["result"]

    def last_scrape(self, selector: str) -> float | None:
        """When the oldest of the targets matching ``selector`` was last scraped (epoch seconds);
        None when no target matches. ``timestamp()`` of a plain selector is the sample's own time."""
        samples = self.instant(f"min(timestamp(up{{{selector}}}))" if selector else "min(timestamp(up))")
        return samples[0][1] if samples else None

    def targets_up(self) -> int:
        """Active targets whose last scrape succeeded."""
        data = self._get("/api/v1/targets", "the target list", state="active")
        return sum(target["health"] == "up" for target in data["activeTargets"])

    def is_ready(self) -> bool:
        """True once the server answers ``/-/ready``; never raises."""
        try:
            return self._client.get(f"{self.url}/-/ready").status_code == 200
        except httpx.HTTPError:
            return False
