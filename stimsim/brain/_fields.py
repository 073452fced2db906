"""Regional stimulation fields: from a table, or from a concentric-sphere head model.

Each region gets the **normal component** of the electric field, in V/m per mA of injected current,
with stimsim's sign convention (docs/models.md M6): **positive = pointing into the cortex**
(from the pial surface towards white matter, as under an anode), the direction that depolarises
pyramidal somata (Bikson et al., J. Physiol. 557:175-190, 2004). With ``n`` the region's outward
orientation (white matter -> pial surface, as TVB's ``average_orientations``; the radial unit
vector where none is given)::

    E_normal = -E . n                                           (V/m)

A region-mean orientation shorter than 1 (normals that partly cancel across a region) shrinks the
normal field by its length; it is used as given.

Two sources of fields:

a. :meth:`RegionalField.from_table`: a table region -> V/m per mA computed elsewhere, e.g. with
   SimNIBS (Thielscher et al., IEEE EMBC 2015:222-225): run the montage at 1 mA, map the field to
   the middle grey-matter surface (``map_to_surf``), read the atlas (``simnibs.subject_atlas``, e.g.
   DK40 or HCP_MMP1) and write, for every region, the area-weighted ROI mean of ``E_normal`` as one
   CSV row ``region,e_normal_v_per_m_per_ma``. SimNIBS's ``E_normal`` is positive for a field
   pointing into the cortex, the convention above; check the sign of other tools' output.
b. :meth:`RegionalField.from_sphere`: point electrodes at 10-20/10-05 positions on a four-shell
   concentric sphere (brain, CSF, skull, scalp), the field at each region centre by reciprocity.

**The sphere model by reciprocity.** Helmholtz's reciprocity theorem (Rush & Driscoll, IEEE Trans.
Biomed. Eng. 16:15-22, 1969; Malmivuo & Plonsey, Bioelectromagnetism, 1995, ch. 11) links the
EEG lead field to stimulation: if a dipole p at r produces the potential ``p . L_k(r)`` at
electrode k (``L_k`` in V per A m), then currents ``I_k`` (A, summing to zero; > 0 enters the head)
produce at r the field::

    E(r) = - sum_k I_k L_k(r)                                   (V/m)

(derivation: the reciprocal pair of sources satisfies ``sum_k I_k phi_dipole(r_k) = p . grad
phi_stim(r)``). ``L_k`` comes from MNE-Python's spherical forward model (Gramfort et al., Front.
Neurosci. 7:267, 2013; ``mne.make_sphere_model``, ``mne.make_forward_solution``), whose multi-shell
EEG potentials use the Berg-Scherg equivalent-dipole approximation (Berg & Scherg, Electroenceph.
Clin. Neurophysiol. 90:58-64, 1994; Zhang, Phys. Med. Biol. 40:335-349, 1995) of the exact series.
The tests check it against the closed form for a homogeneous sphere and against the exact
multi-shell series. Defaults: MNE's relative radii 0.90/0.92/0.97/1.0 and conductivities
0.33/1.0/0.004/0.33 S/m (brain, CSF, skull, scalp); the head sphere is fitted to MNE's standard
10-05 positions (Colin27 head, MNI-like coordinates, in mm), electrodes are projected
radially onto it, and region centres are taken in the same coordinates.

**A first-order approximation.** A sphere with point electrodes misses: the shunting and
channelling of current by the cerebrospinal fluid in sulci and under thin skull, skull holes and
varying thickness; gyral folding, which makes the normal component change sign between the crown
and the walls of a gyrus (the field at a region centre is not the mean over its cortex, where
such sign flips cancel); electrode size (pads spread the current; point electrodes overestimate
the field just under them); and anisotropy of white matter and skull. Fields from realistic head
models (a) should be preferred when available; (b) gives the right order of magnitude (0.1-1 V/m
in cortex for 2 mA) and the broad spatial pattern.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, check_finite, check_positive, closest

#: relative radii of the four shells (brain, CSF, skull, scalp): MNE-Python's defaults
DEFAULT_RELATIVE_RADII = (0.90, 0.92, 0.97, 1.0)
#: conductivities of the four shells, S/m: MNE-Python's defaults (brain, CSF, skull, scalp)
DEFAULT_CONDUCTIVITIES_S_PER_M = (0.33, 1.0, 0.004, 0.33)
#: the MNE standard montage whose names and positions define the electrodes (10-05 includes 10-20):
#: the 10-05 positions on the Colin27 head (Oostenveld & Praamstra, Clin. Neurophysiol.
#: 112:713-719, 2001), called ``standard_1005`` before MNE 1.13
STANDARD_MONTAGES = ("colin27_1005", "standard_1005")
#: column names of a region-field table (:meth:`RegionalField.from_table`)
TABLE_COLUMNS = ("region", "e_normal_v_per_m_per_ma")
#: relative tolerance of "currents sum to zero" (relative to the largest |current|)
CURRENT_SUM_RTOL = 1e-9
#: largest regional field a whole-brain protocol may apply, V/m. The coupling lambda E / scale
#: (docs/models.md M6) is a weak-field model: the somatic polarization is linear in E, measured so
#: up to tens of V/m in slices (Bikson et al. 2004); 1000 V/m is ten times the cortical field of a
#: TMS pulse (~100 V/m) and a hundred times that of transcranial electrical stimulation
MAX_FIELD_V_PER_M = 1000.0
#: time samples x regions of one block of :func:`peak_fields_v_per_m` (bounds its memory: 32 MiB)
PEAK_BLOCK_ELEMENTS = 2**22


def require_mne():
    """The ``mne`` module, or an InputError saying how to install it."""
    try:
        import mne
    except ImportError:
        raise InputError("the sphere head model needs MNE-Python: pip install 'stimsim[headmodel]' "
                         "(or pip install 'mne>=1.6')") from None
    return mne


# --- electrodes --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def standard_electrode_positions_mm():
    """{name: (3,) position, mm} of MNE's standard 10-05 montage (MNI-like head coordinates)."""
    mne = require_mne()
    builtin = mne.channels.get_builtin_montages()
    name = next(m for m in STANDARD_MONTAGES if m in builtin)
    ch = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return {name: np.asarray(xyz, dtype=float) * 1e3 for name, xyz in ch.items()}


def canonical_electrode(name):
    """The standard spelling of a 10-20/10-05 electrode name (case-insensitive), or InputError."""
    positions = standard_electrode_positions_mm()
    lookup = {k.lower(): k for k in positions}
    key = str(name).strip().lower()
    if key not in lookup:
        examples = "Fp1, Fz, F3, F4, C3, Cz, C4, P3, Pz, P4, O1, Oz, O2, T7, T8, FC1, CP2, AF3, PO8"
        raise InputError(f"unknown electrode {name!r}{closest(name, list(positions))}; allowed: the "
                         f"{len(positions)} names of the 10-20/10-05 system (MNE's 10-05 montage: "
                         f"{examples}, ...)")
    return lookup[key]


@dataclass(frozen=True)
class Montage:
    """Point electrodes in the 10-20/10-05 system with their currents.

    Parameters
    ----------
    electrodes : sequence of str
        Electrode names (case-insensitive; stored in the standard spelling), at least 2, unique.
    currents_ma : sequence of float
        Current of each electrode, mA: > 0 enters the head (anode), < 0 leaves it (cathode);
        they must sum to zero (relative tolerance 1e-9) and not all be zero.
    """

    electrodes: tuple
    currents_ma: tuple

    def __post_init__(self):
        if isinstance(self.electrodes, str):
            raise InputError("electrodes must be a sequence of names, not one string")
        names = tuple(canonical_electrode(e) for e in self.electrodes)
        try:
            currents = tuple(float(check_finite(f"current of electrode {n}", c))
                             for n, c in zip(names, self.currents_ma, strict=True))
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"a montage needs one current per electrode: {len(names)} electrodes, "
                             f"{len(self.currents_ma)} currents_ma") from None
        if len(names) < 2:
            raise InputError(f"a montage needs at least 2 electrodes, got {len(names)}")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"electrodes must be unique; repeated: {', '.join(dup)}")
        top = max(abs(c) for c in currents)
        if top == 0:
            raise InputError("montage currents_ma are all zero")
        total = sum(currents)
        if abs(total) > CURRENT_SUM_RTOL * top:
            raise InputError(f"montage currents_ma must sum to zero (what enters the head leaves it); "
                             f"they sum to {total:.6g} mA: {dict(zip(names, currents))}")
        object.__setattr__(self, "electrodes", names)
        object.__setattr__(self, "currents_ma", currents)

    @classmethod
    def pair(cls, anode, cathode, current_ma=1.0):
        """A two-electrode montage: ``current_ma`` (> 0) from ``anode`` to ``cathode``."""
        c = check_positive("current_ma", current_ma, "mA")
        return cls((anode, cathode), (c, -c))

    @property
    def injected_current_ma(self):
        """Total current entering the head, mA (sum of the positive currents)."""
        return float(sum(c for c in self.currents_ma if c > 0))

    def reversed(self):
        """The montage with anodes and cathodes swapped (all currents negated)."""
        return Montage(self.electrodes, tuple(-c for c in self.currents_ma))

    def scaled(self, factor):
        """The montage with every current multiplied by ``factor``."""
        f = check_finite("factor", factor)
        return Montage(self.electrodes, tuple(f * c for c in self.currents_ma))


# --- the head -----------------------------------------------------------------------------------------
def fit_sphere_mm(points_mm):
    """(centre (3,), radius) of the least-squares sphere through points (mm).

    The algebraic fit: |x|^2 = 2 c . x + (R^2 - |c|^2) is linear in (c, R^2 - |c|^2) and solved by
    least squares (Pratt, Comput. Graph. 21(4):145-152, 1987).
    """
    p = np.asarray(points_mm, dtype=float)
    a = np.column_stack([2.0 * p, np.ones(len(p))])
    sol, *_ = np.linalg.lstsq(a, np.sum(p * p, axis=1), rcond=None)
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


@dataclass(frozen=True)
class SphereHead:
    """A concentric-sphere head (innermost shell = brain), in head coordinates (mm).

    Parameters
    ----------
    centre_mm : sequence of 3 floats
        Centre of the spheres, mm.
    radius_mm : float
        Outer (scalp) radius, mm.
    relative_radii : sequence of float
        Shell radii relative to ``radius_mm``, increasing, the last 1 (default: brain 0.90,
        CSF 0.92, skull 0.97, scalp 1.0; MNE-Python's defaults).
    conductivities_s_per_m : sequence of float
        Conductivity of each shell, S/m, > 0 (default 0.33, 1.0, 0.004, 0.33).
    """

    centre_mm: tuple
    radius_mm: float
    relative_radii: tuple = DEFAULT_RELATIVE_RADII
    conductivities_s_per_m: tuple = DEFAULT_CONDUCTIVITIES_S_PER_M

    def __post_init__(self):
        c = np.asarray(self.centre_mm, dtype=float)
        if c.shape != (3,) or not np.all(np.isfinite(c)):
            raise InputError(f"centre_mm must be 3 finite numbers (mm), got {self.centre_mm!r}")
        r = check_positive("radius_mm", self.radius_mm, "mm")
        rel = tuple(float(x) for x in self.relative_radii)
        sig = tuple(check_positive("conductivity (S/m)", s) for s in self.conductivities_s_per_m)
        if len(rel) != len(sig) or not rel:
            raise InputError(f"relative_radii ({len(rel)}) and conductivities_s_per_m ({len(sig)}) "
                             f"must have the same, non-zero length")
        if any(b <= a for a, b in zip(rel, rel[1:])) or rel[0] <= 0 or rel[-1] != 1.0:
            raise InputError(f"relative_radii must increase from > 0 to exactly 1, got {rel}")
        object.__setattr__(self, "centre_mm", tuple(c.tolist()))
        object.__setattr__(self, "radius_mm", r)
        object.__setattr__(self, "relative_radii", rel)
        object.__setattr__(self, "conductivities_s_per_m", sig)

    @classmethod
    def standard(cls, **kwargs):
        """The sphere fitted (:func:`fit_sphere_mm`) to the standard 10-05 electrodes above z = 0
        (Colin27/MNI-like head coordinates): centre about (1, -16, 4) mm, radius about 96 mm."""
        centre, radius = _standard_sphere()
        return cls(tuple(centre), radius, **kwargs)

    @property
    def brain_radius_mm(self):
        """Radius of the innermost shell (brain), mm."""
        return self.radius_mm * self.relative_radii[0]


@functools.lru_cache(maxsize=1)
def _standard_sphere():
    p = np.array(list(standard_electrode_positions_mm().values()))
    return fit_sphere_mm(p[p[:, 2] > 0])


def electrode_positions_mm(electrodes, head):
    """(n, 3) standard positions of ``electrodes``, mm, projected radially onto the head sphere."""
    pos = standard_electrode_positions_mm()
    centre = np.asarray(head.centre_mm)
    out = np.array([pos[canonical_electrode(e)] for e in electrodes]) - centre
    return centre + head.radius_mm * out / np.linalg.norm(out, axis=1, keepdims=True)


def _check_inside_brain(points_mm, head, labels=None):
    """(n, 3) points as float array; InputError naming the first point outside the brain sphere."""
    p = np.asarray(points_mm, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or not np.all(np.isfinite(p)):
        raise InputError(f"points must be a finite (n, 3) array in mm, got shape {p.shape}")
    dist = np.linalg.norm(p - np.asarray(head.centre_mm), axis=1)
    outside = np.flatnonzero(dist >= head.brain_radius_mm)
    if outside.size:
        k = outside[0]
        what = f"region {labels[k]!r}" if labels is not None else f"point {k}"
        raise InputError(f"{what} at {np.round(p[k], 1).tolist()} mm lies {dist[k]:.1f} mm from the "
                         f"sphere centre {list(np.round(head.centre_mm, 1))}, outside the brain "
                         f"sphere (radius {head.brain_radius_mm:.1f} mm); allowed: inside it "
                         f"(centres in MNI-like head coordinates, or a SphereHead "
                         f"with another centre_mm/radius_mm)")
    return p


# --- lead fields and fields ---------------------------------------------------------------------------
def sphere_lead_field(points_mm, electrodes, head=None):
    """EEG lead fields of the sphere head: potential at each electrode per unit dipole at each point.

    Parameters
    ----------
    points_mm : array_like, shape (n, 3)
        Dipole positions, mm, inside the brain sphere (head coordinates).
    electrodes : sequence of str
        10-20/10-05 names.
    head : SphereHead, optional
        Default :meth:`SphereHead.standard`.

    Returns
    -------
    numpy.ndarray, shape (n_electrodes, n, 3)
        ``L[k, i, :]``: potential at electrode k (V) per A m of dipole moment at point i along
        x, y, z (MNE's sphere forward model; reference: the model's own, which cancels in every
        use with currents or potentials summing over a zero-sum combination).
    """
    head = SphereHead.standard() if head is None else head
    names = [canonical_electrode(e) for e in electrodes]
    pts = _check_inside_brain(points_mm, head)
    return _mne_lead_field(pts, names, head)


def _mne_lead_field(points_mm, names, head):
    mne = require_mne()
    centre = np.asarray(head.centre_mm)
    el = (electrode_positions_mm(names, head) - centre) * 1e-3
    rr = (points_mm - centre) * 1e-3
    tiny = np.linalg.norm(rr, axis=1) < 1e-9          # MNE's formula divides by |r|: nudge 1 nm
    rr[tiny] = [1e-9, 0.0, 0.0]
    info = mne.create_info(names, 1000.0, "eeg")
    info.set_montage(mne.channels.make_dig_montage(ch_pos=dict(zip(names, el)), coord_frame="head"),
                     verbose=False)
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.0), head_radius=head.radius_mm * 1e-3,
                                   relative_radii=head.relative_radii,
                                   sigmas=head.conductivities_s_per_m, verbose=False)
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=np.tile([0.0, 0.0, 1.0], (len(rr), 1))),
                                        sphere=(0.0, 0.0, 0.0, head.brain_radius_mm * 1e-3),
                                        verbose=False)
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=True, meg=False,
                                    mindist=0.0, verbose=False)
    if fwd["nsource"] != len(rr):                      # pragma: no cover - guarded by the check above
        raise RuntimeError(f"MNE kept {fwd['nsource']} of {len(rr)} points")
    data = fwd["sol"]["data"]                          # (n_el, 3 n): x, y, z per point
    return data.reshape(len(names), len(rr), 3)


def montage_field(montage, points_mm, head=None):
    """(n, 3) electric field of ``montage`` at points, V/m: ``E = -sum_k I_k L_k`` (reciprocity).

    Parameters
    ----------
    montage : Montage
    points_mm : array_like, shape (n, 3)
        Points inside the brain sphere, mm (head coordinates).
    head : SphereHead, optional
    """
    lead = sphere_lead_field(points_mm, montage.electrodes, head)
    currents_a = np.asarray(montage.currents_ma) * 1e-3
    return -np.einsum("k,kid->id", currents_a, lead)


def region_orientations(connectome, head):
    """(R, 3) orientations: the connectome's, else the outward radial unit vectors from the centre."""
    if connectome.orientations is not None:
        return np.asarray(connectome.orientations)
    d = np.asarray(connectome.centres_mm) - np.asarray(head.centre_mm)
    norm = np.linalg.norm(d, axis=1, keepdims=True)
    return np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)


def regional_lead_field(connectome, electrodes, head=None):
    """(n_electrodes, R) lead field of region dipoles along their orientations, V per A m.

    Column r is the potential at the electrodes of a dipole of 1 A m at the centre of region r
    pointing along its (outward) orientation (:func:`region_orientations`). By reciprocity the
    normal field per mA of a montage is ``1e-3 * currents_ma @ L`` (:meth:`RegionalField.from_sphere`).
    """
    head = SphereHead.standard() if head is None else head
    if connectome.centres_mm is None:
        raise InputError("the sphere head model needs region centres (centres_mm); this connectome has none")
    names = [canonical_electrode(e) for e in electrodes]
    pts = _check_inside_brain(connectome.centres_mm, head, connectome.region_labels)
    lead = _mne_lead_field(pts, names, head)
    return np.einsum("kid,id->ki", lead, region_orientations(connectome, head))


# --- regional fields ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RegionalField:
    """Normal field of each region per mA of injected current (positive = into the cortex).

    Attributes
    ----------
    region_labels : tuple of str
    normal_v_per_m_per_ma : numpy.ndarray, shape (R,)
        V/m per mA; the field for a current I (mA) is ``I * normal_v_per_m_per_ma``.
    reference_current_ma : float or None
        The injected current of the montage it was computed for (mA), or None for a table.
    source : str
        Where it came from (for metadata).
    """

    region_labels: tuple
    normal_v_per_m_per_ma: np.ndarray
    reference_current_ma: float = None
    source: str = ""

    def v_per_m(self, current_ma=None):
        """(R,) normal field, V/m, at ``current_ma`` (default: ``reference_current_ma``)."""
        if current_ma is None:
            if self.reference_current_ma is None:
                raise InputError("give current_ma: this regional field has no reference current")
            current_ma = self.reference_current_ma
        return check_finite("current_ma", current_ma) * self.normal_v_per_m_per_ma

    @classmethod
    def from_sphere(cls, connectome, montage, head=None):
        """Normal fields of ``montage`` at the region centres from the sphere head model.

        Per mA of the montage's injected current: ``E_n = -E . n / I_injected`` with
        ``E = -sum_k I_k L_k`` (module docstring; Rush & Driscoll 1969), computed as
        ``1e-3 * currents_ma @ L / I_injected`` from :func:`regional_lead_field`.
        """
        head = SphereHead.standard() if head is None else head
        lead = regional_lead_field(connectome, montage.electrodes, head)
        per_montage = 1e-3 * np.asarray(montage.currents_ma) @ lead          # V/m for the montage
        inj = montage.injected_current_ma
        desc = ", ".join(f"{e} {c:+g} mA" for e, c in zip(montage.electrodes, montage.currents_ma))
        return cls(connectome.region_labels, _ro(per_montage / inj), inj,
                   f"sphere head model (radius {head.radius_mm:.1f} mm): {desc}")

    @classmethod
    def from_table(cls, csv_path, connectome):
        """Read a table of region -> normal field per mA (CSV with columns :data:`TABLE_COLUMNS`).

        Every region of ``connectome`` must appear exactly once, and no other; values in V/m per
        mA, finite, positive = into the cortex (module docstring: how to export it from SimNIBS).
        """
        import pandas as pd

        path = Path(csv_path)
        if not path.is_file():
            raise InputError(f"field table {str(path)!r} does not exist")
        t = pd.read_csv(path, skipinitialspace=True)
        missing_cols = [c for c in TABLE_COLUMNS if c not in t.columns]
        if missing_cols:
            raise InputError(f"field table {str(path)!r} lacks columns {missing_cols}; required: "
                             f"{', '.join(TABLE_COLUMNS)}; has: {', '.join(map(str, t.columns))}")
        regions = [str(r).strip() for r in t["region"]]
        values = pd.to_numeric(t["e_normal_v_per_m_per_ma"], errors="coerce").to_numpy(dtype=float)
        _check_table_regions(regions, values, connectome, path)
        by_region = dict(zip(regions, values))
        out = np.array([by_region[lab] for lab in connectome.region_labels])
        return cls(connectome.region_labels, _ro(out), None, f"table {path.name}")


def _check_table_regions(regions, values, connectome, path):
    known = set(connectome.region_labels)
    dup = sorted({r for r in regions if regions.count(r) > 1})
    if dup:
        raise InputError(f"field table {str(path)!r} repeats regions: {', '.join(dup[:5])}")
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise InputError(f"field table {str(path)!r}: unknown region {unknown[0]!r}"
                         f"{closest(unknown[0], connectome.region_labels)}; allowed: the "
                         f"{len(known)} region labels of the connectome")
    missing = [r for r in connectome.region_labels if r not in set(regions)]
    if missing:
        raise InputError(f"field table {str(path)!r} lacks {len(missing)} region(s) of the "
                         f"connectome: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}")
    bad = [r for r, v in zip(regions, values) if not np.isfinite(v)]
    if bad:
        raise InputError(f"field table {str(path)!r}: e_normal_v_per_m_per_ma of region {bad[0]!r} "
                         f"is not a finite number")


def _ro(a):
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def peak_fields_v_per_m(waveforms, fields_per_unit, block_elements=None):
    """The field of each region at the time its magnitude is largest, V/m (signed).

    The field of region r is ``E_r(t) = sum_c waveforms[t, c] fields_per_unit[c, r]`` (summed over the
    channels in order, so the values do not depend on the blocks); it is evaluated in blocks of time of at most ``block_elements`` (default
    :data:`PEAK_BLOCK_ELEMENTS`) samples x regions, so the (samples, R) field is never held. The
    first time of the largest |E_r| wins, as ``numpy.argmax`` over the whole field would pick.
    Overflow gives +-inf (or nan where infinities cancel), never a warning.

    Parameters
    ----------
    waveforms : array_like, shape (n_samples, n_channels)
        Waveform of each channel (e.g. mA).
    fields_per_unit : array_like, shape (n_channels, R)
        Field of each channel per waveform unit, V/m per unit.
    block_elements : int, optional

    Returns
    -------
    numpy.ndarray, shape (R,)
    """
    w = np.asarray(waveforms, dtype=float)
    per = np.asarray(fields_per_unit, dtype=float)
    if w.ndim != 2 or per.ndim != 2 or w.shape[1] != per.shape[0] or w.shape[0] < 1:
        raise InputError(f"waveforms (n_samples, C) and fields_per_unit (C, R) do not match: {w.shape}, {per.shape}")
    R = per.shape[1]
    step = max(1, int(block_elements or PEAK_BLOCK_ELEMENTS) // max(R, 1))
    best = np.full(R, -1.0)
    value = np.zeros(R)
    cols = np.arange(R)
    with np.errstate(all="ignore"):
        for i in range(0, w.shape[0], step):
            rows = w[i:i + step]
            block = rows[:, :1] * per[0]                                  # (rows, R), channel by channel:
            for c in range(1, per.shape[0]):                              # the same sums in any block
                block += rows[:, c:c + 1] * per[c]
            k = np.argmax(np.abs(block), axis=0)
            cand = block[k, cols]
            mag = np.abs(cand)
            # strictly larger: an earlier block keeps ties; nan (cancelled infinities) always wins
            better = (mag > best) | (np.isnan(mag) & ~np.isnan(best))
            best = np.where(better, mag, best)
            value = np.where(better, cand, value)
    return value
