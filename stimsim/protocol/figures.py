"""Figure of a protocol run (seaborn, headless): tables in, figure out."""
from __future__ import annotations


def timeseries_figure(protocol, table):
    """Drive on top, then the rate of each population with one line per model (seaborn)."""
    from ..plots import plt, sns

    sns.set_theme(style="whitegrid", context="notebook")
    pops = list(protocol.circuit.names)
    fig, axes = plt.subplots(len(pops) + 1, 1, figsize=(9, 2.2 * (len(pops) + 1)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    first = table[(table["model"] == protocol.models[0]) & (table["population"] == pops[0])]
    axes[0].plot(first["time_ms"], first[protocol.drive_label], color="0.25", linewidth=0.8)
    axes[0].set_ylabel("field (V/m)" if protocol.drive_unit == "field" else "drive (model units)")
    for ax, pop in zip(axes[1:], pops):
        sub = table[table["population"] == pop]
        sns.lineplot(data=sub, x="time_ms", y="rate_hz", hue="model", ax=ax, linewidth=0.9,
                     estimator=None, errorbar=None)
        ax.set_ylabel(f"rate {pop} (Hz)")
    axes[-1].set_xlabel("time (ms)")
    axes[0].set_title(f"{protocol.name}: {protocol.circuit.name}, " + " vs ".join(protocol.models))
    fig.tight_layout()
    return fig
