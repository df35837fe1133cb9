"""The HPA-lag waterfall: one bar per stage of a scale-up, from the load step, as a PNG.

Each bar spans one measured stage (load step → metric crossed → decision → pod created → …
→ first request → p99 under the SLO), in seconds since the step; vertical lines mark the lag
model's step → Ready totals and the seed's 30 s constant. Drawn with matplotlib's Agg backend.
"""
from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from analysis.formulas import seedmodels  # noqa: E402

MARKERS = {"model (this run's settings)": ("tab:green", "--"), "model (cluster defaults)": ("tab:purple", ":")}


def waterfall_plot(scale_up: Mapping[str, Any], path: pathlib.Path) -> pathlib.Path:
    """Draw one scale-up (an entry of ``lagtimeline.timeline(...)["scale_ups"]``) to ``path``."""
    intervals = scale_up["intervals"]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(intervals) + 2.2))
    for row, (label, start, end) in enumerate(intervals):
        ax.barh(row, max(end - start, 0.05), left=start, color="tab:blue" if "p99" not in label else "tab:orange")
        ax.text(end + 0.3, row, f"{end - start:.1f} s", va="center", fontsize=8)
    ax.set_yticks(range(len(intervals)), [label for label, _, _ in intervals], fontsize=8)
    ax.invert_yaxis()
    total = next(row for row in scale_up["comparison"] if row["term"].startswith("total"))
    for name, (color, style) in MARKERS.items():
        value = total.get(name)
        if value is not None:
            ax.axvline(value, color=color, linestyle=style, label=f"{name}: {value:.1f} s to Ready")
    seed = seedmodels.SEED_HPA_LAG_SECONDS
    ax.axvline(seed, color="tab:red", linestyle="-.", label=f"seed constant: {seed:.0f} s")
    ax.set_xlabel("seconds since the load step")
    ax.set_title(f"HPA lag: {scale_up['service']} {scale_up['from_replicas']} → {scale_up['to_replicas']} replicas")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw(summary: dict, path: pathlib.Path) -> bool:
    """The run's first measured scale-up from the summary's timeline; False when it has none."""
    drawable = [up for up in summary["hpa_lag_timeline"]["scale_ups"] if up["intervals"]]
    if not drawable:
        return False
    waterfall_plot(drawable[0], path)
    return True
