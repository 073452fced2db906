"""Structural connectomes: weights, tract lengths (mm), region centres (mm) and orientations.

A :class:`Connectome` holds what a whole-brain network needs from a parcellation: the structural
weights ``W[target, source]`` (region ``i`` receives ``sum_j W[i, j] x_j``), the tract lengths in
mm, the region centres in mm, labels, which regions are cortical, and optionally the region-mean
cortical orientation (for the normal component of a stimulation field) and hemispheres.

Loaders cover the formats people have:

* TVB connectivity zips (:func:`load_tvb_zip`; Sanz Leon et al., Front. Neuroinform. 7:10, 2013):
  ``weights.txt``, ``tract_lengths.txt``, ``centres.txt`` (label x y z per line), and optionally
  ``cortical.txt``, ``average_orientations.txt``, ``hemispheres.txt``, ``areas.txt``; members are
  found by a substring of their name, as TVB's own reader does.
* neurolib-style matrices ``Cmat`` and ``Dmat`` (:func:`from_matrices`; Cakan et al., Cogn.
  Comput. 15:1132-1152, 2023, first online 2021).
* plain CSV (:func:`load_csv`).
* the connectomes of the optional pip package ``tvb-data`` (:func:`tvb_data_connectome`; GPL-3
  data, read where installed and never copied into this repository).
* a small synthetic connectome for tests and examples (:func:`generated_connectome`).
"""
from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError, check_positive, check_positive_int, closest

#: weight normalisations accepted by :func:`normalise_weights`
NORMALISATIONS = ("none", "max", "row_sum")
#: connectivity zips shipped by the pip package ``tvb-data`` (folder ``tvb_data/connectivity``)
TVB_DATA_NAMES = ("connectivity_66", "connectivity_68", "connectivity_76", "connectivity_96",
                  "connectivity_192")
#: centre (mm) of the generated connectome: the centre of the sphere fitted to MNE's standard
#: 10-05 electrode positions (MNI-like head coordinates of the Colin27 head), so that generated regions lie
#: inside the default sphere head of :mod:`stimsim.brain._fields`
GENERATED_CENTRE_MM = (1.0, -16.0, 4.0)
#: ratio of tract length to Euclidean distance in :func:`generated_connectome` (tracts are curved)
GENERATED_TORTUOSITY = 1.2
#: peak bytes per region pair (R x R entry) while :func:`generated_connectome` builds its matrices:
#: distances, weights, tract lengths and their float64 temporaries (measured peak ``VmRSS``: 57
#: bytes per pair at R = 1000, 2000 and 3000)
GENERATED_BYTES_PER_PAIR = 64.0
#: largest peak memory :func:`generated_connectome` may allocate, bytes (4 GiB: 8,192 regions);
#: a larger R is refused before anything is allocated
MAX_GENERATED_BYTES = 4 * 2**30


# --- the container ------------------------------------------------------------------------------------
def _matrix(name, value, n=None):
    """``value`` as a finite, non-negative (n, n) float array; InputError otherwise."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric square matrix, got {type(value).__name__}") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise InputError(f"{name} must be a square (R, R) matrix, got shape {a.shape}")
    if n is not None and a.shape != (n, n):
        raise InputError(f"{name} must have shape ({n}, {n}) like the weights, got {a.shape}")
    if not np.all(np.isfinite(a)):
        i, j = np.argwhere(~np.isfinite(a))[0]
        raise InputError(f"{name} must be finite; entry [{i}, {j}] is {a[i, j]}")
    if np.any(a < 0):
        i, j = np.argwhere(a < 0)[0]
        raise InputError(f"{name} must be >= 0; entry [{i}, {j}] is {a[i, j]}")
    return a


def _vectors(name, value, n, max_norm=None):
    """``value`` as a finite (n, 3) float array (optionally rows of norm <= max_norm)."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric (R, 3) array") from None
    if a.shape != (n, 3):
        raise InputError(f"{name} must have shape ({n}, 3) (one xyz row per region), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must be finite; row {np.argwhere(~np.isfinite(a))[0][0]} is not")
    if max_norm is not None:
        norms = np.linalg.norm(a, axis=1)
        if np.any(norms > max_norm):
            k = int(np.argmax(norms))
            raise InputError(f"{name} must be unit or shorter vectors (norm <= 1); row {k} has norm "
                             f"{norms[k]:.6g}")
    return a


def _flags(name, value, n):
    """``value`` as an (n,) bool array (0/1 or booleans)."""
    a = np.asarray(value)
    if a.shape != (n,):
        raise InputError(f"{name} must have one entry per region ({n}), got shape {a.shape}")
    if a.dtype.kind == "b":
        return a.copy()
    try:
        f = a.astype(float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must hold booleans or 0/1") from None
    if not np.all((f == 0) | (f == 1)):
        raise InputError(f"{name} must hold booleans or 0/1, got values {sorted(set(f.tolist()))[:5]}")
    return f.astype(bool)


def _frozen(a):
    if a is not None:
        a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Connectome:
    """A structural connectome of R regions (all arrays are read-only copies).

    Parameters
    ----------
    weights : array_like, shape (R, R)
        Structural weights ``W[target, source]`` (dimensionless, >= 0): region ``i`` receives
        ``sum_j W[i, j] x_j`` (the convention of TVB's and neurolib's coupling sums).
    tract_lengths_mm : array_like, shape (R, R)
        Fibre-tract lengths, mm (>= 0); delays are lengths / conduction speed.
    centres_mm : array_like, shape (R, 3), or None
        Region centres, mm, in head (MNI-like) coordinates; needed by the field and EEG models.
    region_labels : sequence of str, length R, or None
        Unique region names; None gives ``region-000``, ``region-001``, ...
    cortical : array_like of bool, shape (R,), or None
        True for cortical regions; None: all cortical.
    orientations : array_like, shape (R, 3), or None
        Region-mean outward cortical normal (from white matter towards the pial surface, as
        TVB's ``average_orientations``): unit vectors, or shorter where the normals of a region
        partly cancel; None: unknown (the field model then uses the radial direction).
    hemispheres : array_like of bool, shape (R,), or None
        True for right-hemisphere regions (TVB's convention), or None.
    areas_mm2 : array_like, shape (R,), or None
        Region areas, mm^2, or None.
    """

    weights: object
    tract_lengths_mm: object
    centres_mm: object = None
    region_labels: object = None
    cortical: object = None
    orientations: object = None
    hemispheres: object = None
    areas_mm2: object = None

    def __post_init__(self):
        w = _matrix("weights", self.weights)
        n = w.shape[0]
        if n < 1:
            raise InputError("weights must have at least one region")
        set_ = lambda k, v: object.__setattr__(self, k, _frozen(v))  # noqa: E731
        set_("weights", w)
        set_("tract_lengths_mm", _matrix("tract_lengths_mm", self.tract_lengths_mm, n))
        set_("centres_mm", None if self.centres_mm is None else _vectors("centres_mm", self.centres_mm, n))
        object.__setattr__(self, "region_labels", _labels(self.region_labels, n))
        set_("cortical", np.ones(n, bool) if self.cortical is None else _flags("cortical", self.cortical, n))
        set_("orientations", None if self.orientations is None
             else _vectors("orientations", self.orientations, n, max_norm=1.0 + 1e-3))
        set_("hemispheres", None if self.hemispheres is None
             else _flags("hemispheres", self.hemispheres, n))
        if self.areas_mm2 is not None:
            a = np.array(self.areas_mm2, dtype=float)
            if a.shape != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0):
                raise InputError(f"areas_mm2 must be ({n},) finite and >= 0, got shape {a.shape}")
            set_("areas_mm2", a)

    @property
    def n_regions(self):
        """Number of regions R."""
        return self.weights.shape[0]

    def index(self, label):
        """Index of the region called ``label``; InputError with a close-match hint otherwise."""
        try:
            return self.region_labels.index(str(label))
        except ValueError:
            raise InputError(f"unknown region {label!r}{closest(label, self.region_labels)}; "
                             f"the connectome has {self.n_regions} regions "
                             f"({', '.join(self.region_labels[:5])}, ...)") from None

    def normalised(self, kind):
        """A copy with the weights normalised by :func:`normalise_weights` (``kind``)."""
        return replace(self, weights=normalise_weights(self.weights, kind))


def _labels(labels, n):
    if labels is None:
        return tuple(f"region-{k:03d}" for k in range(n))
    if isinstance(labels, str):
        raise InputError("region_labels must be a sequence of names, not one string")
    out = tuple(str(x).strip() for x in labels)
    if len(out) != n:
        raise InputError(f"region_labels has {len(out)} names for {n} regions")
    if any(not x for x in out):
        raise InputError("region_labels must not contain empty names")
    if len(set(out)) != n:
        dup = sorted({x for x in out if out.count(x) > 1})
        raise InputError(f"region_labels must be unique; repeated: {', '.join(dup[:5])}")
    return out


def normalise_weights(weights, kind="none"):
    """Normalised copy of a weight matrix.

    Parameters
    ----------
    weights : array_like, shape (R, R)
        Non-negative weights ``W[target, source]``.
    kind : {'none', 'max', 'row_sum'}
        ``'max'``: divide by the largest weight (largest becomes 1; TVB's "tract" style scaling
        to [0, 1]); ``'row_sum'``: each row (the inputs of one target region) sums to 1, rows
        without input stay 0; ``'none'``: unchanged.

    Returns
    -------
    numpy.ndarray, shape (R, R)
    """
    if kind not in NORMALISATIONS:
        raise InputError(f"unknown weight normalisation {kind!r}{closest(kind, NORMALISATIONS)}; "
                         f"allowed: {', '.join(NORMALISATIONS)}")
    w = _matrix("weights", weights)
    if kind == "max":
        top = w.max()
        return w / top if top > 0 else w
    if kind == "row_sum":
        rows = w.sum(axis=1, keepdims=True)
        return np.divide(w, rows, out=np.zeros_like(w), where=rows > 0)
    return w


# --- TVB zips -----------------------------------------------------------------------------------------
#: the zip members and the substring that finds each (TVB's reader matches names by substring)
_TVB_MEMBERS = {"weights": "weight", "tract_lengths": "tract", "centres": "centres",
                "cortical": "cortical", "orientations": "orientation", "hemispheres": "hemisphere",
                "areas": "area"}


def _member(names, key):
    """The one zip member whose base name contains ``key`` (None if none); InputError if several."""
    found = [n for n in names if key in Path(n).name.lower() and not n.endswith("/")]
    if len(found) > 1:
        raise InputError(f"the zip has several files matching {key!r}: {', '.join(found)}")
    return found[0] if found else None


def _decompress(name, data):
    if name.endswith(".bz2"):
        return bz2.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def _read_table(zf, name):
    """Rows of whitespace-separated tokens of a zip member (comments '#' and blank lines skipped)."""
    text = _decompress(name, zf.read(name)).decode("utf-8", "replace")
    return [line.split() for line in io.StringIO(text) if line.strip() and not line.lstrip().startswith("#")]


def _numeric(rows, what):
    try:
        a = np.array([[float(t) for t in r] for r in rows], dtype=float)
    except ValueError as exc:
        raise InputError(f"{what}: non-numeric entry ({exc})") from None
    if len({len(r) for r in rows}) > 1:
        raise InputError(f"{what}: rows have different numbers of columns")
    return a


def load_tvb_zip(path, normalise="none"):
    """Read a TVB connectivity zip (Sanz Leon et al., Front. Neuroinform. 7:10, 2013).

    Parameters
    ----------
    path : str or Path
        The zip. Required members: a file whose name contains ``weight`` (R x R, whitespace
        separated) and one containing ``centres`` (one ``label x y z`` line per region, mm).
        Optional: ``tract`` (tract lengths, mm; missing: the Euclidean distances between centres,
        as TVB does), ``cortical`` (0/1 per line), ``orientation`` (``average_orientations``,
        3 columns), ``hemisphere`` (0/1, 1 = right), ``area`` (mm^2). Members may sit in a folder
        and may be ``.bz2`` or ``.gz`` compressed.
    normalise : {'none', 'max', 'row_sum'}
        Weight normalisation (:func:`normalise_weights`).

    Returns
    -------
    Connectome
        Weights as stored, read as ``W[target, source]`` (TVB sums ``weights[i, j] x_j`` into
        region i).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TVB connectivity zip {str(path)!r} does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(f"{str(path)!r} is not a zip file") from None
    with zf:
        names = zf.namelist()
        m = {k: _member(names, s) for k, s in _TVB_MEMBERS.items()}
        for k in ("weights", "centres"):
            if m[k] is None:
                raise InputError(f"{str(path)!r} has no {k} file (a member whose name contains "
                                 f"{_TVB_MEMBERS[k]!r}); members: {', '.join(names)}")
        weights = _numeric(_read_table(zf, m["weights"]), f"{m['weights']}")
        rows = _read_table(zf, m["centres"])
        if any(len(r) != 4 for r in rows):
            raise InputError(f"{m['centres']}: every line must be 'label x y z'")
        labels = [r[0] for r in rows]
        centres = _numeric([r[1:] for r in rows], m["centres"])
        if len(rows) != weights.shape[0]:
            raise InputError(f"{m['centres']} has {len(rows)} regions, {m['weights']} has "
                             f"{weights.shape[0]} rows; they must match")
        lengths = (_numeric(_read_table(zf, m["tract_lengths"]), m["tract_lengths"])
                   if m["tract_lengths"] else euclidean_distances_mm(centres))
        optional = {k: _numeric(_read_table(zf, m[k]), m[k]) if m[k] else None
                    for k in ("cortical", "orientations", "hemispheres", "areas")}
    flat = lambda a: None if a is None else a.reshape(-1)  # noqa: E731
    return Connectome(normalise_weights(weights, normalise), lengths, centres, labels,
                      cortical=flat(optional["cortical"]), orientations=optional["orientations"],
                      hemispheres=flat(optional["hemispheres"]), areas_mm2=flat(optional["areas"]))


def save_tvb_zip(connectome, path):
    """Write ``connectome`` as a TVB connectivity zip readable by :func:`load_tvb_zip` and TVB.

    Members: weights.txt, tract_lengths.txt, centres.txt, cortical.txt, and where present
    average_orientations.txt, hemispheres.txt, areas.txt. Requires centres.
    """
    if connectome.centres_mm is None:
        raise InputError("a TVB zip needs region centres; this connectome has none")

    def text(a, fmt="%.17g"):
        buf = io.StringIO()
        np.savetxt(buf, np.atleast_1d(a), fmt=fmt)
        return buf.getvalue()

    centres = "".join(f"{lab} {x!r} {y!r} {z!r}\n" for lab, (x, y, z)
                      in zip(connectome.region_labels, connectome.centres_mm.tolist()))
    members = {"weights.txt": text(connectome.weights), "tract_lengths.txt": text(connectome.tract_lengths_mm),
               "centres.txt": centres, "cortical.txt": text(connectome.cortical.astype(int), "%d")}
    if connectome.orientations is not None:
        members["average_orientations.txt"] = text(connectome.orientations)
    if connectome.hemispheres is not None:
        members["hemispheres.txt"] = text(connectome.hemispheres.astype(int), "%d")
    if connectome.areas_mm2 is not None:
        members["areas.txt"] = text(connectome.areas_mm2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return Path(path)


# --- matrices and CSV ---------------------------------------------------------------------------------
def from_matrices(Cmat, Dmat, centres_mm=None, region_labels=None, orientations=None, cortical=None,
                  normalise="none"):
    """A connectome from neurolib-style matrices (Cakan et al., Cogn. Comput. 2023; online 2021).

    Parameters
    ----------
    Cmat : array_like, shape (R, R)
        Structural weights ``Cmat[target, source]`` (neurolib sums ``Cmat[i, j] x_j`` into node i).
    Dmat : array_like, shape (R, R)
        Fibre lengths, mm.
    centres_mm, region_labels, orientations, cortical
        As in :class:`Connectome` (optional).
    normalise : {'none', 'max', 'row_sum'}
        Weight normalisation (:func:`normalise_weights`).
    """
    return Connectome(normalise_weights(Cmat, normalise), Dmat, centres_mm, region_labels,
                      cortical=cortical, orientations=orientations)


def _csv_matrix(path, what):
    """A square numeric matrix from CSV; a header row and a first column of labels are recognised."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} file {str(path)!r} does not exist")
    raw = pd.read_csv(path, header=None, dtype=str, skipinitialspace=True).to_numpy()
    header = None
    if raw.shape[0] > 1 and not _is_number(raw[0, -1]):
        header, raw = [str(x).strip() for x in raw[0]], raw[1:]
    column = None
    if raw.shape[1] > 1 and not _is_number(raw[0, 0]):
        column, raw = [str(x).strip() for x in raw[:, 0]], raw[:, 1:]
        if header is not None:
            header = header[1:]
    try:
        a = raw.astype(float)
    except ValueError as exc:
        raise InputError(f"{what} {str(path)!r}: non-numeric entry ({exc})") from None
    return a, header if header is not None else column


def _is_number(x):
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def load_csv(weights_csv, lengths_csv, centres_csv=None, normalise="none"):
    """A connectome from plain CSV files.

    Parameters
    ----------
    weights_csv : str or Path
        R x R weights ``W[target, source]``, comma separated; optionally a header row of region
        labels (and a first column of labels).
    lengths_csv : str or Path
        R x R tract lengths, mm, same layout.
    centres_csv : str or Path, optional
        A table with a header: columns ``label``, ``x_mm``, ``y_mm``, ``z_mm`` (required), and
        optionally ``orientation_x``, ``orientation_y``, ``orientation_z`` and ``cortical``
        (0/1). Its labels, in its row order, name the regions.
    normalise : {'none', 'max', 'row_sum'}
        Weight normalisation (:func:`normalise_weights`).
    """
    import pandas as pd

    w, labels = _csv_matrix(weights_csv, "weights")
    d, _ = _csv_matrix(lengths_csv, "tract lengths")
    centres = orient = cortical = None
    if centres_csv is not None:
        path = Path(centres_csv)
        if not path.is_file():
            raise InputError(f"centres file {str(path)!r} does not exist")
        t = pd.read_csv(path, skipinitialspace=True)
        missing = [c for c in ("label", "x_mm", "y_mm", "z_mm") if c not in t.columns]
        if missing:
            raise InputError(f"centres file {str(path)!r} lacks columns {missing}; "
                             f"required: label, x_mm, y_mm, z_mm; has: {list(t.columns)}")
        if labels is not None and [str(x) for x in t["label"]] != labels:
            raise InputError(f"the labels of {str(path)!r} differ from the weights header")
        labels = [str(x) for x in t["label"]]
        centres = t[["x_mm", "y_mm", "z_mm"]].to_numpy(dtype=float)
        ocols = ["orientation_x", "orientation_y", "orientation_z"]
        if all(c in t.columns for c in ocols):
            orient = t[ocols].to_numpy(dtype=float)
        if "cortical" in t.columns:
            cortical = t["cortical"].to_numpy()
    return Connectome(normalise_weights(w, normalise), d, centres, labels, cortical=cortical,
                      orientations=orient)


# --- tvb-data -----------------------------------------------------------------------------------------
def tvb_data_connectome(name="connectivity_76", normalise="none"):
    """A connectome shipped by the optional pip package ``tvb-data`` (GPL-3; not copied here).

    Parameters
    ----------
    name : str
        One of :data:`TVB_DATA_NAMES` (``connectivity_68``: Desikan-Killiany, with orientations).
    normalise : {'none', 'max', 'row_sum'}

    Raises
    ------
    InputError
        If ``tvb-data`` is not installed (the message gives the pip command) or ``name`` is unknown.
    """
    if name not in TVB_DATA_NAMES:
        raise InputError(f"unknown tvb-data connectome {name!r}{closest(name, TVB_DATA_NAMES)}; "
                         f"allowed: {', '.join(TVB_DATA_NAMES)}")
    try:
        import tvb_data
    except ImportError:
        raise InputError("the connectome {!r} needs the optional package tvb-data (GPL-3): "
                         "pip install tvb-data".format(name)) from None
    folder = Path(next(iter(tvb_data.__path__))) / "connectivity"
    path = folder / f"{name}.zip"
    if not path.is_file():
        raise InputError(f"tvb-data is installed but has no {path.name} in {str(folder)!r}")
    return load_tvb_zip(path, normalise)


# --- synthetic ----------------------------------------------------------------------------------------
def euclidean_distances_mm(centres_mm):
    """(R, R) Euclidean distances between region centres, mm.

    Summed one coordinate at a time, ``sqrt((dx^2 + dy^2) + dz^2)`` (the order of
    ``numpy.linalg.norm`` over the last axis, so the values are the same bits), with two (R, R)
    arrays at a time instead of an (R, R, 3) difference.
    """
    c = np.asarray(centres_mm, dtype=float)
    d2 = np.zeros((c.shape[0], c.shape[0]))
    for k in range(c.shape[1]):
        diff = np.subtract.outer(c[:, k], c[:, k])
        diff *= diff
        d2 += diff
    return np.sqrt(d2, out=d2)


def fibonacci_sphere(n):
    """(n, 3) nearly uniform unit vectors: the Fibonacci (golden-angle) lattice on the sphere
    (Gonzalez, Math. Geosci. 42:49-64, 2010)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5.0 ** 0.5) * k
    rho = np.sqrt(1.0 - z * z)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])


def generated_connectome_bytes(n_regions):
    """Peak memory, bytes, of :func:`generated_connectome` with ``n_regions`` regions:
    :data:`GENERATED_BYTES_PER_PAIR` x R^2 (R^2 computed exactly, so any R is safe to ask about)."""
    return GENERATED_BYTES_PER_PAIR * float(int(n_regions)) ** 2


def generated_connectome(n_regions=20, seed=0, radius_mm=70.0, centre_mm=GENERATED_CENTRE_MM,
                         length_scale_mm=40.0, normalise="max"):
    """A small synthetic, symmetric connectome for tests and examples (not anatomy).

    Regions sit on a sphere of ``radius_mm`` around ``centre_mm`` on a Fibonacci lattice
    (:func:`fibonacci_sphere`) rotated at random by ``seed``; their orientations are the outward
    radial unit vectors. Weights are ``exp(-d / length_scale_mm)`` times a symmetric log-normal
    factor (sigma 0.5), zero on the diagonal; tract lengths are :data:`GENERATED_TORTUOSITY` (1.2)
    times the Euclidean distance d; labels ``L00``/``R00`` by hemisphere (x relative to the centre).

    Parameters
    ----------
    n_regions : int
        R >= 2.
    seed : int
        Random seed (rotation and weights).
    radius_mm : float
        Radius of the sphere of centres, mm (> 0).
    centre_mm : sequence of 3 floats
        Centre of that sphere, mm.
    length_scale_mm : float
        Decay length of the weights with distance, mm (> 0).
    normalise : {'none', 'max', 'row_sum'}

    Raises
    ------
    stimsim.errors.InputError
        Bad arguments, or an ``n_regions`` whose matrices would need more than
        :data:`MAX_GENERATED_BYTES` (:func:`generated_connectome_bytes`), before anything is allocated.
    """
    n = check_positive_int("n_regions", n_regions)
    if n < 2:
        raise InputError(f"n_regions must be >= 2, got {n}")
    need = generated_connectome_bytes(n)
    if need > MAX_GENERATED_BYTES:
        top = int((MAX_GENERATED_BYTES / GENERATED_BYTES_PER_PAIR) ** 0.5)
        raise InputError(f"n_regions={n:,} needs about {need / 2**30:.4g} GiB for the generated connectome's "
                         f"{n:,} x {n:,} matrices (limit {MAX_GENERATED_BYTES / 2**30:g} GiB, "
                         f"stimsim.brain._connectome.MAX_GENERATED_BYTES); use n_regions <= {top:,}")
    radius = check_positive("radius_mm", radius_mm, "mm")
    scale = check_positive("length_scale_mm", length_scale_mm, "mm")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.diag(r))
    units = fibonacci_sphere(n) @ rot.T
    centre = _vectors("centre_mm", np.reshape(centre_mm, (1, 3)), 1)[0]
    centres = centre + radius * units
    dist = euclidean_distances_mm(centres)
    factor = rng.lognormal(0.0, 0.5, size=(n, n))
    w = np.exp(-dist / scale) * np.sqrt(factor * factor.T)
    np.fill_diagonal(w, 0.0)
    right = units[:, 0] > 0
    counts = {True: 0, False: 0}
    labels = []
    for is_right in right:
        labels.append(f"{'R' if is_right else 'L'}{counts[is_right]:02d}")
        counts[is_right] += 1
    return Connectome(normalise_weights(w, normalise), GENERATED_TORTUOSITY * dist, centres, labels,
                      cortical=np.ones(n, bool), orientations=units, hemispheres=right)
