"""Figures of a whole-brain protocol run: the simulated EEG's spectra and traces."""
from __future__ import annotations


def eeg_spectra_figure(table, model):
    """EEG power spectra of ``model`` at up to 6 electrodes: unstimulated, during and after stimulation."""
    from ..plots import subplots, theme

    with theme():
        electrodes = list(dict.fromkeys(table.electrode))[:6]
        fig, axes = subplots(1, len(electrodes), figsize=(3 * len(electrodes), 3), sharey=True)
        curves = [("baseline", "during", "--", "unstimulated"), ("stimulated", "during", "-", "during stimulation"),
                  ("stimulated", "after", ":", "after stimulation")]
        for ax, e in zip(axes[0], electrodes):
            for cond, window, style, label in curves:
                sub = table[(table.model == model) & (table.electrode == e) & (table.condition == cond)
                            & (table.window == window)]
                if len(sub):
                    ax.semilogy(sub.freq_hz, sub.psd_au, style, label=label)
            ax.set_title(e)
            ax.set_xlim(0, 80)
            ax.set_xlabel("frequency (Hz)")
        axes[0][0].set_ylabel("EEG power (a.u.)")
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
    return fig


def eeg_trace_figure(table, windows, title):
    """The simulated EEG at the 4 electrodes where the stimulated trace varies most, over the
    analysed time, with and without the montage; the stimulation window shaded."""
    from ..plots import subplots, theme

    with theme():
        spread = table[table.condition == "stimulated"].groupby("electrode", sort=False).eeg_au.std()
        electrodes = list(spread.sort_values(ascending=False, kind="stable").index[:4])
        fig, axes = subplots(len(electrodes), 1, figsize=(10, 1.8 * len(electrodes) + 0.6), sharex=True)
        for ax, e in zip(axes[:, 0], electrodes):
            for cond, color in (("baseline", "0.6"), ("stimulated", "C0")):
                sub = table[(table.electrode == e) & (table.condition == cond)]
                ax.plot(sub.time_ms, sub.eeg_au, color=color, lw=0.8, label=cond)
            for name, lo, hi in windows:
                if name == "during":
                    ax.axvspan(lo, hi, color="C1", alpha=0.08, lw=0)
            ax.set_ylabel(f"{e} (a.u.)")
        axes[0, 0].legend(fontsize=8, loc="upper right")
        axes[0, 0].set_title(title + " (shaded: montage current on)")
        axes[-1, 0].set_xlabel("time (ms)")
        fig.tight_layout()
    return fig
