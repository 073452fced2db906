"""Connectomes, regional fields (table and concentric-sphere head model) and the simulated EEG.

Independent references:

* the potential of a point current source on the surface of a homogeneous sphere in closed form,
  phi(r) = I / (4 pi sigma) [2 / |r - a| + (1/R) ln(2R / (R - r.a/R + |r - a|))] + const, the sum
  of the Legendre series I / (4 pi sigma R) sum_n (2n+1)/n (r/R)^n P_n(cos g) (Rush & Driscoll,
  IEEE Trans. Biomed. Eng. 16:15-22, 1969), with sum t^n P_n / n = ln(2 / (1 - x t + rho));
* the exact multi-shell Legendre series for the same source in concentric shells (Rush & Driscoll
  1969, generalised to N shells by continuity of potential and normal current at each interface),
  written here independently of MNE;
* linearity in the currents and antisymmetry under swapping anode and cathode;
* magnitudes reported for 2 mA in cortex: a few tenths of a V/m, below 1 V/m (Huang et al.,
  eLife 6:e18834, 2017; Opitz et al., Sci. Rep. 6:31236, 2016).
"""
from __future__ import annotations

import bz2
import importlib.util
import sys
import zipfile

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss
from scipy.spatial.distance import cdist
from scipy.special import eval_legendre

from stimsim.brain._connectome import (
    GENERATED_CENTRE_MM, Connectome, from_matrices, generated_connectome, load_csv, load_tvb_zip,
    normalise_weights, save_tvb_zip, tvb_data_connectome)
from stimsim.errors import InputError

from stimsim.brain._eeg import eeg_from_sources, eeg_lead_field
from stimsim.brain._fields import (
    Montage, RegionalField, SphereHead, electrode_positions_mm, montage_field, require_mne,
    sphere_lead_field)

#: the head model's tests need MNE-Python (extras 'headmodel' and 'dev'); the connectome tests do not
needs_mne = pytest.mark.skipif(importlib.util.find_spec("mne") is None,
                               reason="MNE-Python not installed: pip install 'stimsim[headmodel]'")

HEAD = SphereHead((0.0, 0.0, 0.0), 90.0)                                    # MNE's default shells
HOMOGENEOUS = SphereHead((0.0, 0.0, 0.0), 90.0, conductivities_s_per_m=(0.33,) * 4)
SIGMA = 0.33                                                                 # S/m


# --- independent references -----------------------------------------------------------------------------
def closed_form_potential(r_mm, a_mm, radius_mm, sigma=SIGMA, current_a=1.0):
    """Potential (V) at r of current_a entering a homogeneous sphere at the surface point a."""
    r, a, R = np.asarray(r_mm) * 1e-3, np.asarray(a_mm) * 1e-3, radius_mm * 1e-3
    d = np.linalg.norm(r - a)
    return current_a / (4 * np.pi * sigma) * (2 / d + np.log(2 * R / (R - r @ a / R + d)) / R)


def shell_coefficients(n_max, relative_radii, sigmas, radius_mm):
    """c_n (V per A) with phi(r) = sum_n c_n (r/R)^n P_n(cos g) in the innermost shell, for 1 A
    entering at the surface: A r^n + B r^-(n+1) in each shell, potential and sigma dphi/dr
    continuous at each interface, sigma dphi/dr = (2n+1) / (4 pi R^2) at the surface."""
    out = np.zeros(n_max + 1)
    R = radius_mm * 1e-3
    for n in range(1, n_max + 1):
        A, B = 1.0, 0.0
        for j in range(len(relative_radii) - 1):
            p = relative_radii[j]
            v = A * p**n + B * p**(-n - 1)
            f = sigmas[j] * (n * A * p**(n - 1) - (n + 1) * B * p**(-n - 2))
            A2 = ((n + 1) * v / p + f / sigmas[j + 1]) / ((2 * n + 1) * p**(n - 1))
            B, A = (v - A2 * p**n) * p**(n + 1), A2
        flux = sigmas[-1] * (n * A - (n + 1) * B) / R
        out[n] = (2 * n + 1) / (4 * np.pi * R**2) / flux
    return out


def series_potential(r_mm, a_mm, coeffs, radius_mm):
    r, a = np.asarray(r_mm, float), np.asarray(a_mm, float)
    cos_g = r @ a / (np.linalg.norm(r) * np.linalg.norm(a))
    n = np.arange(len(coeffs))
    return float(np.sum(coeffs * (np.linalg.norm(r) / radius_mm) ** n * eval_legendre(n, cos_g)))


def gradient_v_per_m(phi, r_mm, h_mm=1e-3):
    """-grad phi (V/m) by central differences of a potential given in V at points in mm."""
    return -np.array([(phi(r_mm + h_mm * e) - phi(r_mm - h_mm * e)) / (2 * h_mm * 1e-3)
                      for e in np.eye(3)])


def line_integral_v(field_fn, p_mm, q_mm, n=24):
    """int_p^q E . dl (V) by Gauss-Legendre quadrature: equals phi(p) - phi(q)."""
    x, w = leggauss(n)
    t = 0.5 * (x + 1)
    pts = p_mm + t[:, None] * (q_mm - p_mm)
    E = field_fn(pts)
    return 0.5 * np.sum(w * (E @ ((q_mm - p_mm) * 1e-3)))


POINTS_MM = np.array([[10.0, 30.0, 50.0], [-20.0, 40.0, 60.0], [0.0, 20.0, 72.0], [30.0, -30.0, 20.0],
                      [0.0, 50.0, 60.0], [-40.0, 0.0, -30.0]])


# --- connectomes ----------------------------------------------------------------------------------------
def test_generated_connectome_geometry_against_direct_computation():
    c = generated_connectome(30, seed=3, normalise="none")
    centre = np.asarray(GENERATED_CENTRE_MM)
    rel = c.centres_mm - centre
    np.testing.assert_allclose(np.linalg.norm(rel, axis=1), 70.0, rtol=1e-12)
    np.testing.assert_allclose(c.orientations, rel / 70.0, atol=1e-12)
    np.testing.assert_allclose(c.tract_lengths_mm, 1.2 * cdist(c.centres_mm, c.centres_mm), rtol=1e-12)
    np.testing.assert_array_equal(c.weights, c.weights.T)
    assert np.all(np.diag(c.weights) == 0) and np.all(c.weights[~np.eye(30, dtype=bool)] > 0)
    assert c.hemispheres.tolist() == (rel[:, 0] > 0).tolist()
    assert len(set(c.region_labels)) == 30
    assert not c.weights.flags.writeable


def test_normalisations():
    w = np.array([[0.0, 2.0, 6.0], [1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalise_weights(w, "max"), w / 6.0)
    rs = normalise_weights(w, "row_sum")
    np.testing.assert_allclose(rs.sum(axis=1), [1.0, 1.0, 0.0])           # a row without input stays 0
    np.testing.assert_allclose(rs[0], [0.0, 0.25, 0.75])
    np.testing.assert_array_equal(normalise_weights(w, "none"), w)
    assert generated_connectome(10, seed=1).weights.max() == 1.0           # default 'max'
    with pytest.raises(InputError, match="unknown weight normalisation 'rowsum'.*'row_sum'"):
        normalise_weights(w, "rowsum")


def _write_tvb_zip(path, c, bz2_weights=False):
    """A TVB-style zip written independently of save_tvb_zip, members in a sub-folder."""
    def txt(a, fmt="%.17g"):
        import io
        buf = io.StringIO()
        np.savetxt(buf, a, fmt=fmt)
        return buf.getvalue()

    with zipfile.ZipFile(path, "w") as zf:
        weights = txt(c.weights).encode()
        if bz2_weights:
            zf.writestr("conn/weights.txt.bz2", bz2.compress(weights))
        else:
            zf.writestr("conn/weights.txt", weights)
        zf.writestr("conn/tract_lengths.txt", txt(c.tract_lengths_mm))
        zf.writestr("conn/centres.txt", "".join(f"{lab}\t{x!r}\t{y!r}\t{z!r}\n" for lab, (x, y, z)
                                                in zip(c.region_labels, c.centres_mm.tolist())))
        zf.writestr("conn/cortical.txt", txt(c.cortical.astype(int), "%d"))
        zf.writestr("conn/average_orientations.txt", txt(c.orientations))
        zf.writestr("conn/hemispheres.txt", txt(c.hemispheres.astype(int), "%d"))
        zf.writestr("conn/areas.txt", txt(np.arange(1.0, c.n_regions + 1)))


def _assert_same(a, b, areas=True):
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.tract_lengths_mm, b.tract_lengths_mm)
    np.testing.assert_array_equal(a.centres_mm, b.centres_mm)
    np.testing.assert_array_equal(a.orientations, b.orientations)
    np.testing.assert_array_equal(a.cortical, b.cortical)
    np.testing.assert_array_equal(a.hemispheres, b.hemispheres)
    assert a.region_labels == b.region_labels


@pytest.mark.parametrize("compressed", [False, True])
def test_tvb_zip_written_by_hand_loads(tmp_path, compressed):
    c = generated_connectome(12, seed=2)
    c = Connectome(c.weights, c.tract_lengths_mm, c.centres_mm, c.region_labels,
                   cortical=np.arange(12) % 3 != 0, orientations=0.8 * c.orientations,
                   hemispheres=c.hemispheres)
    _write_tvb_zip(tmp_path / "c.zip", c, bz2_weights=compressed)
    back = load_tvb_zip(tmp_path / "c.zip")
    _assert_same(back, c)
    np.testing.assert_array_equal(back.areas_mm2, np.arange(1.0, 13))
    np.testing.assert_allclose(load_tvb_zip(tmp_path / "c.zip", "row_sum").weights.sum(1), 1.0)


def test_tvb_zip_round_trip_and_missing_lengths(tmp_path):
    c = generated_connectome(9, seed=4)
    save_tvb_zip(c, tmp_path / "rt.zip")
    _assert_same(load_tvb_zip(tmp_path / "rt.zip"), c)
    with zipfile.ZipFile(tmp_path / "rt.zip") as src, zipfile.ZipFile(tmp_path / "nolen.zip", "w") as dst:
        for n in src.namelist():
            if "tract" not in n:
                dst.writestr(n, src.read(n))
    nolen = load_tvb_zip(tmp_path / "nolen.zip")                             # TVB: Euclidean lengths
    np.testing.assert_allclose(nolen.tract_lengths_mm, cdist(c.centres_mm, c.centres_mm), atol=1e-12)


def test_tvb_zip_bad_input(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_tvb_zip(tmp_path / "none.zip")
    (tmp_path / "x.zip").write_text("not a zip")
    with pytest.raises(InputError, match="not a zip"):
        load_tvb_zip(tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "nw.zip", "w") as zf:
        zf.writestr("centres.txt", "a 0 0 0\n")
    with pytest.raises(InputError, match="no weights file.*'weight'"):
        load_tvb_zip(tmp_path / "nw.zip")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("weights.txt", "0 1\n1 0\n")
        zf.writestr("centres.txt", "a 0 0 0\nb 1 0 0\nc 2 0 0\n")
    with pytest.raises(InputError, match="centres.txt has 3 regions, weights.txt has 2 rows"):
        load_tvb_zip(tmp_path / "bad.zip")


def test_csv_and_matrices_round_trip(tmp_path):
    c = generated_connectome(8, seed=5)
    labels = ",".join(c.region_labels)
    np.savetxt(tmp_path / "w.csv", c.weights, delimiter=",", fmt="%.17g", header=labels, comments="")
    np.savetxt(tmp_path / "d.csv", c.tract_lengths_mm, delimiter=",", fmt="%.17g")
    with open(tmp_path / "centres.csv", "w") as fh:
        fh.write("label,x_mm,y_mm,z_mm,orientation_x,orientation_y,orientation_z,cortical\n")
        for lab, xyz, o in zip(c.region_labels, c.centres_mm, c.orientations):
            fh.write(",".join([lab] + [repr(float(v)) for v in (*xyz, *o)] + ["1"]) + "\n")
    back = load_csv(tmp_path / "w.csv", tmp_path / "d.csv", tmp_path / "centres.csv")
    np.testing.assert_array_equal(back.weights, c.weights)
    np.testing.assert_array_equal(back.tract_lengths_mm, c.tract_lengths_mm)
    np.testing.assert_array_equal(back.centres_mm, c.centres_mm)
    np.testing.assert_array_equal(back.orientations, c.orientations)
    assert back.region_labels == c.region_labels
    plain = load_csv(tmp_path / "d.csv", tmp_path / "d.csv", normalise="max")  # no labels: defaults
    assert plain.region_labels[0] == "region-000" and plain.centres_mm is None
    m = from_matrices(c.weights * 7.0, c.tract_lengths_mm, c.centres_mm, c.region_labels, normalise="max")
    np.testing.assert_allclose(m.weights, c.weights, rtol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[[0, -1], [1, 0]]), r"weights must be >= 0; entry \[0, 1\]"),
    (dict(weights=[[0, np.nan], [1, 0]]), "weights must be finite"),
    (dict(weights=[[0, 1, 2], [1, 0, 2]]), "square"),
    (dict(tract_lengths_mm=np.ones((3, 3))), r"must have shape \(2, 2\)"),
    (dict(region_labels=["a"]), "1 names for 2 regions"),
    (dict(region_labels=["a", "a"]), "unique; repeated: a"),
    (dict(centres_mm=np.zeros((2, 2))), r"centres_mm must have shape \(2, 3\)"),
    (dict(orientations=[[2.0, 0, 0], [0, 0, 1]]), "unit or shorter.*row 0 has norm 2"),
    (dict(cortical=[1, 2]), "booleans or 0/1"),
])
def test_connectome_validation(kwargs, match):
    base = dict(weights=[[0, 1], [1, 0]], tract_lengths_mm=[[0, 10], [10, 0]])
    with pytest.raises(InputError, match=match):
        Connectome(**{**base, **kwargs})


def test_tvb_data_connectome(monkeypatch, tmp_path):
    """The tvb-data loading path, on a stand-in package laid out like tvb-data (its GPL-3 data are
    not used in the tests): <package>/connectivity/<name>.zip in TVB's zip format."""
    import types

    with pytest.raises(InputError, match="unknown tvb-data connectome 'connectivity_67'"):
        tvb_data_connectome("connectivity_67")
    pkg = tmp_path / "tvb_data"
    (pkg / "connectivity").mkdir(parents=True)
    src = generated_connectome(68, seed=2)
    save_tvb_zip(src, pkg / "connectivity" / "connectivity_68.zip")
    fake = types.ModuleType("tvb_data")
    fake.__path__ = [str(pkg)]
    monkeypatch.setitem(sys.modules, "tvb_data", fake)
    c = tvb_data_connectome("connectivity_68")
    assert c.n_regions == 68 and c.orientations is not None and c.centres_mm is not None
    np.testing.assert_array_equal(c.weights, src.weights)
    np.testing.assert_array_equal(c.tract_lengths_mm, src.tract_lengths_mm)
    assert tuple(c.region_labels) == tuple(src.region_labels)
    np.testing.assert_allclose(tvb_data_connectome("connectivity_68", normalise="max").weights.max(), 1.0)
    with pytest.raises(InputError, match="has no connectivity_76.zip"):
        tvb_data_connectome("connectivity_76")


def test_tvb_data_missing_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "tvb_data", None)                    # import fails as if absent
    with pytest.raises(InputError, match="pip install tvb-data"):
        tvb_data_connectome("connectivity_76")


def test_mne_missing_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "mne", None)
    with pytest.raises(InputError, match=r"pip install 'stimsim\[headmodel\]'"):
        require_mne()


# --- montages and tables --------------------------------------------------------------------------------
@needs_mne
def test_montage_validation():
    m = Montage(("f3", "F4", "cz"), (1.5, -1.0, -0.5))
    assert m.electrodes == ("F3", "F4", "Cz") and m.injected_current_ma == 1.5
    with pytest.raises(InputError, match="unknown electrode 'F33'.*did you mean.*allowed"):
        Montage(("F33", "F4"), (1, -1))
    with pytest.raises(InputError, match="sum to zero.*0.5 mA"):
        Montage(("F3", "F4"), (1.0, -0.5))
    with pytest.raises(InputError, match="unique; repeated: F3"):
        Montage(("F3", "f3"), (1, -1))
    with pytest.raises(InputError, match="must be finite"):
        Montage(("F3", "F4"), (np.inf, -np.inf))
    with pytest.raises(InputError, match="2 electrodes, 3 currents"):
        Montage(("F3", "F4"), (1, -1, 0))
    with pytest.raises(InputError, match="all zero"):
        Montage(("F3", "F4"), (0, 0))
    with pytest.raises(InputError, match="current_ma must be > 0 mA"):
        Montage.pair("F3", "F4", -2)


def test_field_table(tmp_path):
    c = generated_connectome(6, seed=0)
    values = np.linspace(-0.2, 0.3, 6)
    rows = list(zip(c.region_labels, values.tolist()))[::-1]                          # any row order
    (tmp_path / "f.csv").write_text("region,e_normal_v_per_m_per_ma\n"
                                    + "".join(f"{r},{v!r}\n" for r, v in rows))
    f = RegionalField.from_table(tmp_path / "f.csv", c)
    np.testing.assert_array_equal(f.normal_v_per_m_per_ma, values)
    np.testing.assert_allclose(f.v_per_m(2.0), 2.0 * values)
    lab = c.region_labels
    cases = {
        "unknown region 'L99'": rows + [("L99", 0.1)],
        "lacks 1 region": rows[1:],
        "repeats regions": rows + [rows[0]],
        "not a finite number": [(rows[0][0], "nan")] + rows[1:],
    }
    for match, rs in cases.items():
        (tmp_path / "g.csv").write_text("region,e_normal_v_per_m_per_ma\n" + "".join(f"{r},{v}\n" for r, v in rs))
        with pytest.raises(InputError, match=match):
            RegionalField.from_table(tmp_path / "g.csv", c)
    (tmp_path / "h.csv").write_text("label,value\n" + f"{lab[0]},1\n")
    with pytest.raises(InputError, match="lacks columns"):
        RegionalField.from_table(tmp_path / "h.csv", c)
    with pytest.raises(InputError, match="give current_ma"):
        f.v_per_m()


@needs_mne
def test_points_outside_brain_rejected_before_computing():
    far = Connectome([[0, 1], [1, 0]], [[0, 1], [1, 0]], [[0, 0, 0], [0, 0, 85.0]], ["a", "b"])
    with pytest.raises(InputError, match="region 'b'.*outside the brain sphere.*81.0 mm"):
        RegionalField.from_sphere(far, Montage.pair("F3", "F4"), HEAD)
    nocentres = Connectome([[0, 1], [1, 0]], [[0, 1], [1, 0]])
    with pytest.raises(InputError, match="needs region centres"):
        RegionalField.from_sphere(nocentres, Montage.pair("F3", "F4"), HEAD)


# --- the sphere head model ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def f3f4_fields():
    m = Montage.pair("F3", "F4", 1.0)
    return {"homogeneous": montage_field(m, POINTS_MM, HOMOGENEOUS),
            "shells": montage_field(m, POINTS_MM, HEAD)}


@needs_mne
def test_homogeneous_sphere_field_matches_closed_form(f3f4_fields):
    a, b = electrode_positions_mm(["F3", "F4"], HOMOGENEOUS)
    for r, E in zip(POINTS_MM, f3f4_fields["homogeneous"]):
        ref = gradient_v_per_m(lambda x: closed_form_potential(x, a, 90.0) - closed_form_potential(x, b, 90.0), r)
        np.testing.assert_allclose(E * 1e3, ref, rtol=0, atol=1e-3 * np.linalg.norm(ref))  # per A


@needs_mne
def test_homogeneous_sphere_potential_matches_closed_form():
    """phi(p) - phi(q) = int_p^q E . dl: the potential of the model against the closed form (1 %)."""
    m = Montage(("Cz", "O1", "T7"), (2.0, -1.5, -0.5))
    pos = electrode_positions_mm(m.electrodes, HOMOGENEOUS)
    p, q = np.array([5.0, 10.0, 70.0]), np.array([-30.0, -50.0, 10.0])
    model = line_integral_v(lambda x: montage_field(m, x, HOMOGENEOUS), p, q)
    phi = lambda x: sum(i * 1e-3 * closed_form_potential(x, e, 90.0) for i, e in zip(m.currents_ma, pos))  # noqa: E731
    assert model == pytest.approx(phi(p) - phi(q), rel=0.01)


def test_series_reference_matches_closed_form():
    """The multi-shell series in the homogeneous case equals the closed form (checks the reference)."""
    c = shell_coefficients(400, (0.9, 0.92, 0.97, 1.0), (SIGMA,) * 4, 90.0)
    a = np.array([0.0, 60.0, 67.08])
    a *= 90.0 / np.linalg.norm(a)
    for r in POINTS_MM:
        # the closed form holds up to a constant: compare differences between points
        d_series = series_potential(r, a, c, 90.0) - series_potential(POINTS_MM[0], a, c, 90.0)
        d_closed = closed_form_potential(r, a, 90.0) - closed_form_potential(POINTS_MM[0], a, 90.0)
        assert d_series == pytest.approx(d_closed, rel=1e-9, abs=1e-9 * abs(d_closed) + 1e-12)


@needs_mne
def test_four_shell_field_and_potential_match_series(f3f4_fields):
    c = shell_coefficients(400, HEAD.relative_radii, HEAD.conductivities_s_per_m, 90.0)
    a, b = electrode_positions_mm(["F3", "F4"], HEAD)
    phi = lambda x: series_potential(x, a, c, 90.0) - series_potential(x, b, c, 90.0)  # noqa: E731
    for r, E in zip(POINTS_MM, f3f4_fields["shells"]):
        ref = gradient_v_per_m(phi, r)
        np.testing.assert_allclose(E * 1e3, ref, rtol=0, atol=0.01 * np.linalg.norm(ref))
    p, q = POINTS_MM[1], POINTS_MM[3]
    model = line_integral_v(lambda x: montage_field(Montage.pair("F3", "F4", 1.0), x, HEAD), p, q)
    assert model * 1e3 == pytest.approx(phi(p) - phi(q), rel=0.01)


@needs_mne
def test_field_linear_in_current_and_antisymmetric(f3f4_fields):
    m = Montage(("F3", "F4", "Pz", "Fp1"), (1.0, -0.25, -0.5, -0.25))
    E = montage_field(m, POINTS_MM, HEAD)
    np.testing.assert_allclose(montage_field(m.scaled(2.5), POINTS_MM, HEAD), 2.5 * E, rtol=1e-12, atol=0)
    np.testing.assert_allclose(montage_field(m.reversed(), POINTS_MM, HEAD), -E, rtol=1e-12, atol=0)
    swapped = montage_field(Montage.pair("F4", "F3", 1.0), POINTS_MM, HEAD)
    np.testing.assert_allclose(swapped, -f3f4_fields["shells"], rtol=1e-12, atol=0)
    # superposition: F3->F4 plus F4->Pz equals F3->Pz
    f4pz = montage_field(Montage.pair("F4", "Pz", 1.0), POINTS_MM, HEAD)
    f3pz = montage_field(Montage.pair("F3", "Pz", 1.0), POINTS_MM, HEAD)
    np.testing.assert_allclose(f3f4_fields["shells"] + f4pz, f3pz, rtol=1e-10, atol=1e-12)


@needs_mne
def test_f3_f4_2ma_cortical_field_magnitude():
    """2 mA F3-F4 in the standard head, 7 mm below the brain surface: tenths of a V/m, below 1 V/m
    (Huang et al. 2017; Opitz et al. 2016)."""
    head = SphereHead.standard()
    k = np.arange(600) + 0.5                                       # Fibonacci lattice, upper half
    z = 1 - k / 600
    phi = np.pi * (1 + 5**0.5) * k
    u = np.column_stack([np.sqrt(1 - z * z) * np.cos(phi), np.sqrt(1 - z * z) * np.sin(phi), z])
    pts = np.asarray(head.centre_mm) + (head.brain_radius_mm - 7.0) * u
    mag = np.linalg.norm(montage_field(Montage.pair("F3", "F4", 2.0), pts, head), axis=1)
    assert 0.05 < np.median(mag) < 0.5
    assert 0.1 < np.percentile(mag, 95) < 1.0
    assert mag.max() < 1.5


@needs_mne
def test_regional_normal_field_sign_and_orientation():
    """A radial region under the anode gets a positive (inward, depolarising) normal field, one
    under the cathode a negative one; a tangential orientation sees the tangential field; a
    shorter orientation vector scales the normal field by its length."""
    head = HEAD
    under = electrode_positions_mm(["F3", "F4"], head) * 0.75           # centre at the origin
    radial = under / np.linalg.norm(under, axis=1, keepdims=True)
    c = Connectome(np.zeros((2, 2)), np.zeros((2, 2)), under, ["under-F3", "under-F4"])
    f = RegionalField.from_sphere(c, Montage.pair("F3", "F4", 2.0), head)
    assert f.normal_v_per_m_per_ma[0] > 0 > f.normal_v_per_m_per_ma[1]
    assert f.reference_current_ma == 2.0
    E = montage_field(Montage.pair("F3", "F4", 1.0), under, head)
    np.testing.assert_allclose(f.normal_v_per_m_per_ma, -np.sum(E * radial, axis=1), rtol=1e-10)
    half = Connectome(np.zeros((2, 2)), np.zeros((2, 2)), under, ["a", "b"], orientations=0.5 * radial)
    np.testing.assert_allclose(RegionalField.from_sphere(half, Montage.pair("F3", "F4"), head)
                               .normal_v_per_m_per_ma, 0.5 * f.normal_v_per_m_per_ma, rtol=1e-10)


@needs_mne
def test_regional_field_of_generated_connectome_in_standard_head():
    c = generated_connectome(40, seed=1)
    f = RegionalField.from_sphere(c, Montage.pair("F3", "F4", 2.0))
    v = f.v_per_m()
    assert v.shape == (40,) and np.all(np.isfinite(v))
    assert 0.05 < np.abs(v).max() < 1.0                                 # V/m at 2 mA
    np.testing.assert_allclose(f.v_per_m(1.0), v / 2.0, rtol=1e-15)


# --- EEG ------------------------------------------------------------------------------------------------
TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3",
              "Pz", "P4", "P8", "O1", "O2"]


@pytest.fixture(scope="module")
def eeg_setup():
    c = generated_connectome(16, seed=7)
    return c, eeg_lead_field(c, TEN_TWENTY, reference="none")


@needs_mne
def test_one_active_region_gives_its_topography(eeg_setup):
    c, L = eeg_setup
    r = 5
    t = np.linspace(0, 0.2, 50)
    s = 1e-8 * np.sin(2 * np.pi * 10 * t)                                  # 10 nA m at 10 Hz
    q = np.zeros((c.n_regions, t.size))
    q[r] = s
    V = eeg_from_sources(L, q)
    np.testing.assert_allclose(V, np.outer(L.topography(c.region_labels[r]), s), rtol=1e-14, atol=0)
    q2 = q.copy()
    q2[9] = -2 * s
    np.testing.assert_allclose(eeg_from_sources(L, q2), V - 2 * np.outer(L.matrix[:, 9], s),
                               rtol=1e-12, atol=1e-20)


@needs_mne
@pytest.mark.parametrize("electrode", ["Cz", "O1", "F4", "T7"])
@pytest.mark.parametrize("reference", ["none", "average"])
def test_radial_dipole_under_electrode_peaks_there(electrode, reference):
    pos = electrode_positions_mm([electrode], HEAD)[0]
    c = Connectome(np.zeros((1, 1)), np.zeros((1, 1)), [0.8 * pos], ["under"])
    L = eeg_lead_field(c, TEN_TWENTY, head=HEAD, reference=reference)
    topo = L.topography(0)
    assert TEN_TWENTY[int(np.argmax(topo))] == electrode and topo.max() > 0
    if reference == "average":
        assert abs(topo.sum()) < 1e-12 * np.abs(topo).max()


@needs_mne
def test_eeg_lead_field_is_the_stimulation_matrix_transposed(eeg_setup):
    """Reciprocity: the regional field per mA of a montage is 1e-3 * currents @ L, whatever the
    EEG reference (the currents sum to zero)."""
    c, _ = eeg_setup
    m = Montage(("F3", "F4", "Pz"), (2.0, -1.0, -1.0))
    f = RegionalField.from_sphere(c, m)
    L = eeg_lead_field(c, m.electrodes, reference="average").matrix
    np.testing.assert_allclose(f.v_per_m(), 1e-3 * np.asarray(m.currents_ma) @ L, rtol=1e-10,
                               atol=1e-12)
    Lref = eeg_lead_field(c, m.electrodes, reference="Pz").matrix
    assert np.all(Lref[2] == 0)
    np.testing.assert_allclose(f.v_per_m(), 1e-3 * np.asarray(m.currents_ma) @ Lref, rtol=1e-10,
                               atol=1e-12)


@needs_mne
def test_eeg_bad_input(eeg_setup):
    c, L = eeg_setup
    with pytest.raises(InputError, match="unknown EEG reference 'Cq'.*allowed"):
        eeg_lead_field(c, ["Cz", "Pz"], reference="Cq")
    with pytest.raises(InputError, match=r"\(R,\) or \(R, T\) with R = 16"):
        eeg_from_sources(L, np.zeros((3, 10)))
    with pytest.raises(InputError, match="finite"):
        eeg_from_sources(L, np.full(16, np.nan))
    with pytest.raises(InputError, match="unknown electrode 'Cz2'"):
        sphere_lead_field([[0, 0, 10.0]], ["Cz2"], HEAD)
