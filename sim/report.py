"""The evaluation report: CSV, markdown tables and PNG plots (matplotlib, Agg).

Input: report.json as `aqmllm evaluate` builds it (runs grouped by scenario
and AQM label, failed runs apart).  Everything plotted comes from the runs'
results (their `series`, `cdf` and metrics), not from event logs, so a
report can be rebuilt from OUT/runs/ wherever the runs ran.

Plots per scenario: queue delay over time (windowed p50/p99, one panel per
AQM), per-flow throughput over time (one panel per AQM), marking/drop
probability and decision sources over time for model AQMs, delay CDFs per
class, box plots over seeds, and the delay-utilisation frontier per class
(every swept setting of a classic AQM on its curve, candidates as points).
Independent of ns-3 (the emulator's results plot the same way).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

COLUMNS = [
    ("L p50 ms", ("L", "delay_p50_ms")),
    ("L p99 ms", ("L", "delay_p99_ms")),
    ("L p99.9 ms", ("L", "delay_p999_ms")),
    ("C p50 ms", ("C", "delay_p50_ms")),
    ("C p99 ms", ("C", "delay_p99_ms")),
    ("C p99.9 ms", ("C", "delay_p999_ms")),
    ("util", ("utilisation",)),
    ("goodput Mb/s", ("goodput_mbps",)),
    ("loss", ("overall", "loss")),
    ("L mark", ("L", "mark_rate")),
    ("C mark", ("C", "mark_rate")),
    ("Jain", ("jain_fairness",)),
]
SPREAD = [
    ("L p99 ms", ("L", "delay_p99_ms")),
    ("C p99 ms", ("C", "delay_p99_ms")),
    ("util", ("utilisation",)),
]
MODEL_BASES = ("student", "teacher")
LEARNED_INTERVAL = ("interval:model:", "interval:behaviour:")
SMOOTH_S = 0.5  # throughput over time: a moving average over windows spanning this long


def get(m: dict, path: tuple[str, ...]) -> float:
    v: object = m
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return float("nan")
        v = v[k]
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def mean(runs: list[dict], path: tuple[str, ...]) -> float:
    vals = [v for v in (get(r, path) for r in runs) if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def base_of(label: str) -> str:
    """`dualpi2@10ms` -> dualpi2; `student [policy off 3%]` -> student."""
    return re.split(r"[@ ]", label, maxsplit=1)[0]


def is_learned(label: str) -> bool:
    """A learned policy (per-packet model or interval model/behaviour), not a classic AQM or
    a setting of one: what "not dominated by any classic AQM" must leave out."""
    return base_of(label) in MODEL_BASES or label.startswith(LEARNED_INTERVAL)


def is_swept(label: str) -> bool:
    return "@" in label


def _fmt(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.3g}"


def write_report(report: dict, out: Path) -> None:
    rows = []
    for scen, by in report["scenarios"].items():
        for label, runs in by.items():
            rows.append(
                {
                    "scenario": scen,
                    "aqm": label,
                    "runs": len(runs),
                    **{name: round(mean(runs, path), 4) for name, path in COLUMNS},
                }
            )
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["scenario", "aqm", "runs", *[c for c, _ in COLUMNS]])
        w.writeheader()
        w.writerows(rows)
    plots = _plots(report, out)
    lines = [
        "# aqmllm evaluation (ns-3)",
        "",
        f"Generated {report.get('generated', '')}; model: {report.get('model') or 'none'}"
        + (f" (policy {report['model_policy']})" if report.get("model_policy") else "")
        + f"; inference latency charged per verdict: {report.get('latency_us')} us.",
        "Queue delay is the sojourn of served packets at the bottleneck after a 20 % warm-up;"
        " loss counts every drop (tail, AQM at enqueue, AQM at dequeue) over arrivals;"
        " utilisation is bytes served over link capacity; the mark rate is marked over served.",
        "",
    ]
    lines += _failed_section(report)
    lines += _policy_section(report)
    if any(r["runs"] > 1 for r in rows):
        lines += ["Each row is the mean over its runs (seeds); the spread follows the table.", ""]
    head = ["scenario", "aqm", "runs", *[c for c, _ in COLUMNS]]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["scenario"], r["aqm"], str(r["runs"])] + [_fmt(r[c]) for c, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += _spread_table(report)
    lines += _drops_table(report)
    lines += _fct_table(report)
    for title, name in plots:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    (out / "report.md").write_text("\n".join(lines))


def _failed_section(report: dict) -> list[str]:
    failed = report.get("failed") or []
    if not failed:
        return []
    lines = [
        f"## Failed runs: {len(failed)} (excluded from every table and plot)",
        "",
        "| run | error | signal |",
        "|---|---|---|",
    ]
    for f in failed:
        err = str(f.get("error") or "").splitlines()[0][:120] if f.get("error") else ""
        lines.append(f"| {f.get('run_id')} | {err} | {f.get('signal') or '-'} |")
    return [*lines, ""]


def _policy_section(report: dict) -> list[str]:
    used = {}
    for by in report["scenarios"].values():
        for label, runs in by.items():
            if base_of(label) in MODEL_BASES:
                for r in runs:
                    used.setdefault(label, set()).add(str(r.get("policy_used", "?")))
    if not used:
        return []
    lines = ["Model runs and the policy that actually decided:", ""]
    lines += [f"- {label}: {', '.join(sorted(p))}" for label, p in used.items()]
    return [*lines, ""]


def _spread_table(report: dict) -> list[str]:
    """Min–max over seeds of the figures the goal is judged on: one seed hides noise."""
    rows = [
        (scen, label, runs)
        for scen, by in report["scenarios"].items()
        for label, runs in by.items()
        if len(runs) > 1
    ]
    if not rows:
        return []
    head = ["scenario", "aqm", *[f"{c} min–max" for c, _ in SPREAD]]
    lines = ["## Spread over seeds", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for scen, label, runs in rows:
        cells = [scen, label]
        for _, path in SPREAD:
            vals = [v for v in (get(r, path) for r in runs) if not math.isnan(v)]
            cells.append(f"{min(vals):.3g}–{max(vals):.3g}" if vals else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _drops_table(report: dict) -> list[str]:
    """Where the losses happened (sums over seeds, steady state)."""
    lines = [
        "## Drops by place (sum over seeds, after the warm-up)",
        "",
        "| scenario | aqm | arrivals | tail | AQM at enqueue | AQM at dequeue | loss |",
        "|---|---|---|---|---|---|---|",
    ]
    n = 0
    for scen, by in report["scenarios"].items():
        for label, runs in by.items():
            if is_swept(label):
                continue
            tot = {
                k: int(np.nansum([get(r, ("overall", k)) for r in runs]))
                for k in ("arrivals", "drops_tail", "drops_enqueue", "drops_dequeue")
            }
            if not tot["drops_tail"] + tot["drops_enqueue"] + tot["drops_dequeue"]:
                continue
            loss = (tot["drops_tail"] + tot["drops_enqueue"] + tot["drops_dequeue"]) / max(
                tot["arrivals"], 1
            )
            lines.append(
                f"| {scen} | {label} | {tot['arrivals']} | {tot['drops_tail']} |"
                f" {tot['drops_enqueue']} | {tot['drops_dequeue']} | {loss:.3g} |"
            )
            n += 1
    return [*lines, ""] if n else []


def _fct_table(report: dict) -> list[str]:
    from aqmllm.sim.metrics import FCT_BUCKETS

    lines = []
    for scen, by in report["scenarios"].items():
        if not any("fct" in r for runs in by.values() for r in runs):
            continue
        if not lines:
            lines = [
                "## Flow completion times of web transfers",
                "",
                "Per class and size (kB = 1000 bytes), transfers begun after the warm-up; median"
                " and p99 in ms (mean over seeds); done/begun counts over seeds.",
                "",
            ]
        head = ["aqm", "class"]
        for b, _ in FCT_BUCKETS:
            head += [f"{b} p50", f"{b} p99", f"{b} done"]
        lines += [f"### {scen}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for label, runs in by.items():
            if is_swept(label):
                continue
            for cls in ("L", "C"):
                if not any(cls in r.get("fct", {}) for r in runs):
                    continue
                cells = [label, cls]
                have = [r for r in runs if cls in r.get("fct", {})]
                for b, _ in FCT_BUCKETS:
                    done = sum(get(r, ("fct", cls, b, "done")) for r in have)
                    begun = sum(get(r, ("fct", cls, b, "started")) for r in have)
                    cells += [
                        _fmt(mean(have, ("fct", cls, b, "p50_ms"))),
                        _fmt(mean(have, ("fct", cls, b, "p99_ms"))),
                        f"{done:.0f}/{begun:.0f}",
                    ]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", s)


def _panel_labels(by: dict) -> list[str]:
    """The AQMs that get a panel of their own: every one but the swept settings."""
    return [lab for lab in by if not is_swept(lab)]


def _grid(plt, n: int, width: float = 4.2, height: float = 2.6, sharey: bool = True):
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows + 0.6), sharex=True, sharey=sharey,
        squeeze=False,
    )  # fmt: skip
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(flat[:n]):
        # the lowest panel of each column carries the time axis
        ax.bottom = i + cols >= n
        if ax.bottom:
            ax.xaxis.set_tick_params(labelbottom=True)
    return fig, flat[:n]


def _series(run: dict) -> dict | None:
    s = run.get("series")
    return s if isinstance(s, dict) and s.get("t_s") else None


def _arr(v: list | None) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in (v or [])], dtype=float)


def _plots(report: dict, out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "legend.fontsize": 7})
    made: list[tuple[str, str]] = []
    for scen, by in report["scenarios"].items():
        made += _delay_time(plt, scen, by, out)
        made += _throughput_time(plt, scen, by, out)
        made += _model_time(plt, scen, by, out)
        made += _cdfs(plt, scen, by, out)
        made += _boxes(plt, scen, by, out)
        made += _frontier(plt, scen, by, out)
    made += _overview(plt, report, out)
    return made


def _save(plt, fig, out: Path, name: str) -> None:
    fig.tight_layout()
    fig.savefig(out / name, dpi=100)
    plt.close(fig)


def _delay_time(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    labels = [lab for lab in _panel_labels(by) if _series(by[lab][0])]
    if not labels:
        return []
    fig, axes = _grid(plt, len(labels))
    for ax, lab in zip(axes, labels, strict=True):
        run = by[lab][0]
        s = _series(run)
        t = _arr(s["t_s"])
        for cls, color in (("L", "tab:blue"), ("C", "tab:orange")):
            d = s["delay"].get(cls, {})
            p50, p99 = _arr(d.get("p50_ms")), _arr(d.get("p99_ms"))
            if np.isfinite(p99).any():
                ax.fill_between(t, p50, p99, color=color, alpha=0.25, lw=0)
                ax.plot(t, p99, color=color, lw=1.0, label=f"{cls} p99")
                ax.plot(t, p50, color=color, lw=0.8, ls="--", label=f"{cls} p50")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"{lab} (seed {run.get('seed')})")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", ncol=2)
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("queue delay (ms)")
        if ax.bottom:
            ax.set_xlabel("time (s)")
    w = _series(by[labels[0]][0])["window_s"]
    fig.suptitle(f"{scen}: queue delay over time, p50–p99 per {w * 1000:.0f} ms window")
    name = f"time-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: queue delay over time", name)]


def _throughput_time(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    labels = [
        lab
        for lab in _panel_labels(by)
        if _series(by[lab][0]) and _series(by[lab][0]).get("throughput_mbps")
    ]
    if not labels:
        return []
    fig, axes = _grid(plt, len(labels))
    for ax, lab in zip(axes, labels, strict=True):
        s = _series(by[lab][0])
        t = _arr(s["t_s"])
        tp = s["throughput_mbps"]
        names = list(tp)
        if len(names) > 8:  # many sources: one line per scenario entry
            groups: dict[str, np.ndarray] = {}
            for n in names:
                key = n.split("#")[0]
                groups[key] = groups.get(key, 0) + np.nan_to_num(_arr(tp[n]))
            series = groups
        else:
            series = {n: _arr(tp[n]) for n in names}
        k = max(1, round(SMOOTH_S / s["window_s"]))
        for n, v in series.items():
            v = np.convolve(np.nan_to_num(v), np.ones(k) / k, mode="same")
            ax.plot(t, v, lw=0.9, label=n)
        ax.set_title(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", ncol=2)
    for ax in axes:
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("throughput (Mb/s)")
        if ax.bottom:
            ax.set_xlabel("time (s)")
    fig.suptitle(
        f"{scen}: throughput per flow at the bottleneck, {SMOOTH_S:g} s moving average (first seed)"
    )
    name = f"throughput-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: per-flow throughput over time", name)]


def _model_time(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    labels = [lab for lab in by if base_of(lab) in MODEL_BASES and _series(by[lab][0])]
    if not labels:
        return []
    ref = "dualpi2" if "dualpi2" in by and _series(by["dualpi2"][0]) else None
    fig, axes = plt.subplots(2, len(labels), figsize=(6 * len(labels), 5.5), squeeze=False)
    for j, lab in enumerate(labels):
        s = _series(by[lab][0])
        t = _arr(s["t_s"])
        ax = axes[0][j]
        for cls, color in (("L", "tab:blue"), ("C", "tab:orange")):
            ax.plot(t, _arr(s["mark_prob"].get(cls)), color=color, lw=0.9, label=f"{cls} mark")
            ax.plot(t, _arr(s["drop_prob"].get(cls)), color=color, lw=0.9, ls=":",
                    label=f"{cls} drop")  # fmt: skip
        if ref:
            r = _series(by[ref][0])
            ax.plot(_arr(r["t_s"]), _arr(r["mark_prob"].get("L")), color="grey", lw=0.7,
                    alpha=0.7, label="dualpi2 L mark")  # fmt: skip
        ax.set_ylabel("probability per window")
        ax.set_title(f"{lab}: marking and drop probability")
        ax.grid(alpha=0.3)
        ax.legend(ncol=3)
        ax = axes[1][j]
        share = s.get("decision_share") or {}
        if share:
            ys = [np.nan_to_num(_arr(v)) for v in share.values()]
            ax.stackplot(t, *ys, labels=list(share), alpha=0.8)
            ax.set_ylim(0, 1)
            ax.legend(loc="lower right", ncol=3)
        ax.set_ylabel("share of decisions")
        ax.set_xlabel("time (s)")
        ax.set_title(f"{lab}: where the decisions came from")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{scen}: model AQMs over time (first seed)")
    name = f"model-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: model decisions over time", name)]


def _cdfs(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    labels = [lab for lab in _panel_labels(by) if by[lab][0].get("cdf")]
    if not labels:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    styles = ["-", "--", "-.", ":"]
    for ax, cls, title in ((axes[0], "L", "L4S queue"), (axes[1], "C", "Classic queue")):
        for i, lab in enumerate(labels):
            cdf = by[lab][0]["cdf"]
            if cls in cdf:
                ax.plot(_arr(cdf[cls]), _arr(cdf["levels"]), ls=styles[(i // 10) % 4], label=lab)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("queue delay (ms)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CDF")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(loc="lower right", ncol=2)
    fig.suptitle(f"{scen}: queue delay CDF per class (first seed, after the warm-up)")
    name = f"cdf-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: delay CDF", name)]


def _boxes(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    labels = _panel_labels(by)
    if not any(len(by[lab]) > 1 for lab in labels):
        return []
    figs = [("L p99 (ms)", ("L", "delay_p99_ms")), ("C p99 (ms)", ("C", "delay_p99_ms")),
            ("utilisation", ("utilisation",))]  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (title, path) in zip(axes, figs, strict=True):
        data = [[v for v in (get(r, path) for r in by[lab]) if not math.isnan(v)] for lab in labels]
        keep = [(lab, d) for lab, d in zip(labels, data, strict=True) if d]
        if keep:
            ax.boxplot([d for _, d in keep], tick_labels=[lab for lab, _ in keep], showmeans=True)
            if "ms" in title and all(v > 0 for _, d in keep for v in d):
                ax.set_yscale("log")  # FIFO's hundreds of ms beside sub-ms L4S
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=60)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"{scen}: spread over seeds")
    name = f"box-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: spread over seeds", name)]


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated (utilisation up, delay down) points, by utilisation."""
    best: list[tuple[float, float]] = []
    for u, d in sorted(points, key=lambda p: (-p[0], p[1])):
        if not best or d < best[-1][1]:
            best.append((u, d))
    return sorted(best)


def _frontier(plt, scen: str, by: dict, out: Path) -> list[tuple[str, str]]:
    """Per class: each swept classic AQM as a curve over its target, the
    non-dominated envelope of all classic settings, candidates as points."""
    bases = sorted({base_of(lab) for lab in by if is_swept(lab)})
    if not bases:
        return []
    from aqmllm.sim.ns3.run import DEFAULT_TARGET_MS, split_aqm

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, cls in zip(axes, ("L", "C"), strict=True):
        classic: list[tuple[float, float]] = []
        for i, b in enumerate(bases):
            pts = []
            for lab, runs in by.items():
                if base_of(lab) != b or " " in lab:
                    continue
                _, t = split_aqm(lab)
                t = t if t is not None else DEFAULT_TARGET_MS.get(b)
                u, d = mean(runs, ("utilisation",)), mean(runs, (cls, "delay_p99_ms"))
                if not (math.isnan(u) or math.isnan(d)):
                    pts.append((t, u, d))
            pts.sort()
            if not pts:
                continue
            classic += [(u, d) for _, u, d in pts]
            color = f"C{i}"
            ax.plot([p[1] for p in pts], [p[2] for p in pts], "-o", color=color, ms=4, lw=1,
                    label=f"{b} (target)")  # fmt: skip
            for t, u, d in pts:
                ax.annotate(f"{t:g}", (u, d), fontsize=6, xytext=(3, 3), textcoords="offset points")
        others = [
            lab for lab in by if not is_swept(lab) and base_of(lab) not in bases
        ]  # fmt: skip
        marks = iter("sD^v<>pPXh" * 3)
        for lab in others:
            u, d = mean(by[lab], ("utilisation",)), mean(by[lab], (cls, "delay_p99_ms"))
            if math.isnan(u) or math.isnan(d):
                continue
            if base_of(lab) in MODEL_BASES:
                ax.plot(u, d, "*", ms=15, color="red", mec="black", label=lab, zorder=5)
                continue
            classic.append((u, d))
            ax.plot(u, d, next(marks), ms=6, color="dimgrey", mfc="none", label=lab, zorder=3)
        env = pareto(classic)
        if env:
            ax.step([p[0] for p in env], [p[1] for p in env], where="post", color="black",
                    lw=0.8, ls=":", label="classic frontier")  # fmt: skip
        if any(d > 0 for _, d in classic):
            ax.set_yscale("log")
        ax.set_xlabel("utilisation (mean over seeds)")
        ax.set_ylabel(f"{cls} p99 queue delay (ms)")
        ax.set_title(f"{'L4S' if cls == 'L' else 'Classic'} class")
        ax.grid(alpha=0.3, which="both")
    for ax in axes:
        if not ax.get_legend_handles_labels()[0]:
            ax.text(0.5, 0.5, "no packets of this class", ha="center", transform=ax.transAxes)
    full = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if full:
        full[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{scen}: delay–utilisation frontier (lower right is better)")
    name = f"frontier-{_slug(scen)}.png"
    _save(plt, fig, out, name)
    return [(f"{scen}: frontier", name)]


def _overview(plt, report: dict, out: Path) -> list[tuple[str, str]]:
    fig, ax = plt.subplots(figsize=(8, 5))
    labels = [lab for lab in report.get("labels", []) if not is_swept(lab)]
    markers = "osD^v<>px*h"
    for i, lab in enumerate(labels):
        xs, ys = [], []
        for by in report["scenarios"].values():
            for r in by.get(lab, []):
                xs.append(get(r, ("utilisation",)))
                ys.append(get(r, ("overall", "delay_p99_ms")))
        if xs:
            ax.scatter(xs, ys, label=lab, marker=markers[i % len(markers)], s=18)
    if any(c.get_offsets().size and (c.get_offsets()[:, 1] > 0).any() for c in ax.collections):
        ax.set_yscale("log")
    ax.set_xlabel("utilisation")
    ax.set_ylabel("p99 queue delay, both classes (ms)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("delay against utilisation (one point per run, every scenario)")
    name = "delay-utilisation.png"
    _save(plt, fig, out, name)
    return [("Delay against utilisation", name)]
