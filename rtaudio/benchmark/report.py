"""Reading a bench report: fast-vs-faithful comparisons and the RTF/quality-against-steps plot."""

from __future__ import annotations

from typing import Any

from rtaudio.registry import get_task


def comparisons(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Speed-up and quality change of each fast neural model against the faithful one.

    Pairs rows of the same rate pair, backend and step count; ``deltas`` are fast minus
    faithful for every quality figure both have. Empty when no faithful configuration ran.
    """
    ok = [r for r in report["results"] if r["status"] == "ok" and r["kind"] == "neural"]
    faithful = {(r["in_rate"], r["out_rate"], r["backend"], r["steps"]): r for r in ok if r["faithful"]}
    out = []
    for r in ok:
        ref = faithful.get((r["in_rate"], r["out_rate"], r["backend"], r["steps"]))
        if r["faithful"] or ref is None:
            continue
        keys = [f["key"] for f in report["figures"] if r.get(f["key"]) is not None and ref.get(f["key"]) is not None]
        out.append(
            {
                "model": r["model"],
                "faithful_model": ref["model"],
                "pair": [r["in_rate"], r["out_rate"]],
                "backend": r["backend"],
                "steps": r["steps"],
                "speedup": ref["rtf"] / r["rtf"] if r["rtf"] else None,
                "deltas": {k: r[k] - ref[k] for k in keys},
            }
        )
    return out


def plot_report(report: dict[str, Any], path: str) -> None:
    """Write a PNG: RTF and the task's quality figures against steps (rows), a column per rate pair.

    One line per neural model and backend; the baselines have no steps and are drawn as
    horizontal dashed lines. matplotlib is imported here only: the runtime does not need it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib (pip install rtaudio[plot])") from None
    ok = [r for r in report["results"] if r["status"] == "ok"]
    pairs = [tuple(p) for p in report["config"]["pairs"]]
    metrics = [("rtf_median", "RTF (median over chunks)")]
    plotted = [(f.key, f.label) for f in get_task(report["config"]["task"]).figures if f.plot]
    metrics += [(k, label) for k, label in plotted if any(r.get(k) is not None for r in ok)]
    fig, axes = plt.subplots(len(metrics), len(pairs), figsize=(4.4 * len(pairs), 3.2 * len(metrics)), squeeze=False)
    all_steps = sorted({r["steps"] for r in ok if r["steps"] is not None}) or [0, 1]
    span = (min(all_steps), max(max(all_steps), min(all_steps) + 1))
    colours: dict[tuple[str, str], str] = {}
    for col, (a, b) in enumerate(pairs):
        series: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in ok:
            if (r["in_rate"], r["out_rate"]) == (a, b):
                series.setdefault((r["model"], r["backend"]), []).append(r)
        for key, rows in series.items():
            colour = colours.setdefault(key, f"C{len(colours) % 10}")
            baseline = rows[0]["steps"] is None
            rows.sort(key=lambda r: r["steps"] or 0)
            steps = list(span) if baseline else [r["steps"] for r in rows]
            style = {"linestyle": "--", "marker": None} if baseline else {"linestyle": "-", "marker": "o"}
            label = key[0] if baseline else f"{key[0]} ({key[1]})"
            for row, (metric, _) in enumerate(metrics):
                values = [rows[0][metric]] * 2 if baseline else [r[metric] for r in rows]
                axes[row, col].plot(steps, values, color=colour, label=label, **style)
        title = f"{a / 1000:g} kHz -> {b / 1000:g} kHz" if a != b else f"{a / 1000:g} kHz resynthesis"
        axes[0, col].set(title=title, yscale="log")
        axes[0, col].axhline(1.0, color="grey", linewidth=0.8)  # the real-time line
        for row, (_, label) in enumerate(metrics):
            axes[row, col].set(ylabel=label, xticks=all_steps)
        axes[-1, col].set(xlabel="diffusion steps")
    axes[min(1, len(metrics) - 1), 0].legend(fontsize=7, loc="best")
    machine = report["machine"]
    load = machine.get("load_average") or [float("nan")]
    fig.suptitle(
        f"rtaudio bench: {machine['cpu_model']}, {machine['usable_cores']} cores, load {load[0]:.1f}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
