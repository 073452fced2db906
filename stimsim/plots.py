"""Figures (seaborn, headless). Plotting only: tables in, figures out."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402


def timeseries_figure(frame, title=""):
    """Rate (Hz) against time (ms) per population, one line per model."""
    sns.set_theme(style="whitegrid", context="notebook")
    pops = list(dict.fromkeys(frame["population"]))
    fig, axes = plt.subplots(len(pops), 1, figsize=(9, 2.6 * len(pops)), sharex=True, squeeze=False)
    for ax, pop in zip(axes[:, 0], pops):
        sub = frame[frame["population"] == pop]
        sns.lineplot(data=sub, x="time_ms", y="rate_hz", hue="model", ax=ax, linewidth=1.0,
                     estimator=None, errorbar=None)
        ax.set_ylabel(f"rate {pop} (Hz)")
    axes[-1, 0].set_xlabel("time (ms)")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def close(fig):
    plt.close(fig)
