"""Figure of a protocol run: tables in, figure out (drawn by :mod:`stimsim.plots`)."""
from __future__ import annotations

from ..plots import timeseries_figure as _timeseries_figure


def timeseries_figure(protocol, table):
    """Drive on top, then the rate of each population with one line per model.

    Parameters
    ----------
    protocol : stimsim.protocol.schema.Protocol
    table : pandas.DataFrame
        ``stimsim.protocol.runner.timeseries_table`` (has the column ``protocol.drive_label``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    unit = "field (V/m)" if protocol.drive_unit == "field" else "drive (model units)"
    title = f"{protocol.name}: {protocol.circuit.name}, " + " vs ".join(protocol.models)
    return _timeseries_figure(table, title, drive_column=protocol.drive_label, drive_label=unit)
