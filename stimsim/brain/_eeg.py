"""Simulated EEG: region dipoles projected to scalp electrodes through the sphere head model.

Each region is a current dipole at its centre along its outward orientation (white matter -> pial
surface; the radial direction where none is given), with moment q_r(t) in A m (positive =
surface-positive, pointing outward, as for the net intracellular current of pyramidal cells
depolarised at their apical dendrites; Nunez & Srinivasan, Electric Fields of the Brain, 2006).
The potentials at the electrodes are linear in the moments (Malmivuo & Plonsey,
Bioelectromagnetism, 1995, ch. 11)::

    V_k(t) = sum_r L[k, r] q_r(t)                                (V)

with ``L`` the regional lead field of the concentric-sphere head model
(:func:`stimsim.brain._fields.regional_lead_field`, V per A m). By reciprocity it is the same
matrix that gives the stimulation field: the normal field per mA of a montage is
``1e-3 * currents_ma @ L`` (module :mod:`stimsim.brain._fields`).

Turning a model's regional activity (rates, mean voltages) into dipole moments needs a scale
(e.g. ~10 nA m per cm^2 of active cortex for evoked responses; Murakami & Okada, J. Physiol.
575:925-936, 2006); it is left to the caller.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, closest
from ._fields import SphereHead, canonical_electrode, regional_lead_field

#: EEG references accepted by :func:`eeg_lead_field` besides an electrode name
REFERENCES = ("average", "none")


@dataclass(frozen=True, eq=False)
class EEGLeadField:
    """A regional EEG lead field.

    Attributes
    ----------
    electrodes : tuple of str
    region_labels : tuple of str
    matrix : numpy.ndarray, shape (n_electrodes, R)
        V per A m of dipole moment along each region's orientation.
    reference : str
        ``'average'``, ``'none'`` (the sphere model's own) or an electrode name.
    """

    electrodes: tuple
    region_labels: tuple
    matrix: np.ndarray
    reference: str

    def topography(self, region):
        """(n_electrodes,) potentials, V, of a 1 A m dipole in ``region`` (label or index)."""
        if isinstance(region, str):
            if region not in self.region_labels:
                raise InputError(f"unknown region {region!r}{closest(region, self.region_labels)}")
            region = self.region_labels.index(region)
        return self.matrix[:, region].copy()


def eeg_lead_field(connectome, electrodes, head=None, reference="average"):
    """The regional EEG lead field of ``connectome`` for scalp ``electrodes``.

    Parameters
    ----------
    connectome : Connectome
        Needs centres (mm, head coordinates); orientations optional (radial otherwise).
    electrodes : sequence of str
        10-20/10-05 names.
    head : SphereHead, optional
        Default :meth:`SphereHead.standard`.
    reference : str
        ``'average'`` (subtract the mean over the electrodes), ``'none'`` (the sphere model's own
        reference; differences between electrodes are reference-free), or the name of one of
        ``electrodes`` (subtract its row; that electrode reads 0).

    Returns
    -------
    EEGLeadField
    """
    names = tuple(canonical_electrode(e) for e in electrodes)
    if len(set(names)) != len(names):
        raise InputError("electrodes must be unique")
    ref = _check_reference(reference, names)
    head = SphereHead.standard() if head is None else head
    lead = regional_lead_field(connectome, names, head)
    if ref == "average":
        lead = lead - lead.mean(axis=0, keepdims=True)
    elif ref != "none":
        lead = lead - lead[names.index(ref)]
    lead.setflags(write=False)
    return EEGLeadField(names, connectome.region_labels, lead, ref)


def _check_reference(reference, names):
    if reference in REFERENCES:
        return reference
    try:
        ref = canonical_electrode(reference)
    except InputError:
        ref = None
    if ref not in names:
        allowed = list(REFERENCES) + list(names)
        raise InputError(f"unknown EEG reference {reference!r}{closest(reference, allowed)}; allowed: "
                         f"'average', 'none' or one of the electrodes ({', '.join(names)})")
    return ref


def eeg_from_sources(lead_field, source_activity):
    """Scalp potentials from regional dipole moments: ``V = L q``.

    Parameters
    ----------
    lead_field : EEGLeadField or array_like, shape (n_electrodes, R)
        V per A m.
    source_activity : array_like, shape (R,) or (R, T)
        Dipole moment of each region along its orientation, A m (one column per time sample).

    Returns
    -------
    numpy.ndarray, shape (n_electrodes,) or (n_electrodes, T)
        Potentials, V.
    """
    L = np.asarray(getattr(lead_field, "matrix", lead_field), dtype=float)
    if L.ndim != 2:
        raise InputError(f"lead_field must be (n_electrodes, R), got shape {L.shape}")
    q = np.asarray(source_activity, dtype=float)
    if q.ndim not in (1, 2) or q.shape[0] != L.shape[1]:
        raise InputError(f"source_activity must be (R,) or (R, T) with R = {L.shape[1]} regions, "
                         f"got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise InputError("source_activity must be finite")
    return L @ q
