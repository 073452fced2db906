"""Entrainment of the self-oscillating interneuron population (NMM2, M7.1): Arnold tongue (Pikovsky et al. 2001)."""
import numpy as np
import pytest

import stimsim
from stimsim.analysis import EntrainmentGrid, entrainment, tongue_width
from stimsim.analysis._entrainment import plv_and_surrogate, ratio_fraction

FREQS = np.arange(113.0, 146.0, 2.0)          # around the natural ~129 Hz ING rhythm
AMPS = [0.0, 1.0, 2.5, 5.0]                   # QIF units added to I = 30


@pytest.fixture(scope="module")
def tongue():
    return entrainment(stimsim.preset("interneurons"), model=("nmm2", "nmm1"), freqs_hz=FREQS, amplitudes=AMPS,
                       grid=EntrainmentGrid(dt_ms=0.05, settle_ms=600.0, measure_ms=1000.0))


def test_one_to_one_tongue_widens_with_amplitude_and_is_centred_on_f0(tongue):
    nm2 = tongue[tongue.model == "nmm2"]
    f0 = nm2["natural_freq_hz"].iloc[0]
    assert 120 < f0 < 140
    w = tongue_width(nm2).sort_values("amplitude_unit")
    assert w["n_locked"].iloc[0] == 0
    assert np.all(np.diff(w["width_hz"]) > 0), w
    assert w["n_locked"].iloc[1] >= 1
    # the locked range contains f0 at every amplitude > 0 and is contiguous (a tongue, not scattered cells)
    for a, sub in nm2[nm2.amplitude_unit > 0].groupby("amplitude_unit"):
        f = np.sort(sub.loc[sub.locked_1to1, "freq_hz"].to_numpy())
        assert f.min() <= f0 <= f.max(), a
        assert np.allclose(np.diff(f), 2.0), a
        # locked means the output spectrum peaks at the drive frequency (periodogram, independent of the phase)
        assert np.allclose(sub.loc[sub.locked_1to1, "dominant_freq_hz"], sub.loc[sub.locked_1to1, "freq_hz"], atol=0.2)
    # Adler: for weak drive the locking range grows about linearly with amplitude (x 2.5, then x 2);
    # counted in grid cells (2 Hz), so allow for +-1 cell at each edge
    n = w["n_locked"].to_numpy()
    assert 1.5 < n[2] / n[1] < 4.0
    assert 1.5 < n[3] / n[2] < 3.0


def test_zero_amplitude_nothing_locks_and_plv_is_at_surrogate_level(tongue):
    nm2 = tongue[tongue.model == "nmm2"]
    zero = nm2[nm2.amplitude_unit == 0]
    assert not zero["locked"].any() and not zero["locked_1to1"].any()
    assert (zero["plv"] <= zero["plv_surrogate"]).all()
    # a free rhythm at f0 against a drive at f has PLV = |sinc(pi (f - f0) T)| over a window T
    T = 0.8 * 1.0                                  # analysed window: measure_ms minus 10 % edges, s
    expected = np.abs(np.sinc((zero["freq_hz"] - zero["natural_freq_hz"]) * T))
    np.testing.assert_allclose(zero["plv_1to1"], expected, atol=0.03)


def test_nmm1_interneurons_do_not_oscillate_and_are_never_entrained(tongue):
    nm1 = tongue[tongue.model == "nmm1"]
    assert not nm1["self_oscillating"].any()
    assert not nm1["locked"].any()


def test_ratio_fraction():
    assert ratio_fraction(1.0) == (1, 1)
    assert ratio_fraction(0.5) == (1, 2)
    assert ratio_fraction(0.49) == (1, 2)
    assert ratio_fraction(1.34) == (4, 3)
    assert ratio_fraction(2.0) == (2, 1)
    assert ratio_fraction(0.2, max_denominator=4) == (1, 4)


def test_plv_of_locked_and_random_phases():
    rng = np.random.default_rng(0)
    t = np.arange(20000) * 0.1
    phi_e = 2 * np.pi * 0.05 * t
    plv, sur = plv_and_surrogate(phi_e + 0.7, phi_e, 1, 1, 200, 200, rng)
    assert plv == pytest.approx(1.0) and sur < 0.7
    # 2:1 -- output at half the drive frequency: q phi_x - p phi_e = 2 (phi_e/2) - phi_e
    plv21, _ = plv_and_surrogate(phi_e / 2 + 0.3, phi_e, 1, 2, 200, 200, rng)
    assert plv21 == pytest.approx(1.0)
    noise = rng.uniform(0, 2 * np.pi, t.size)
    plv_n, sur_n = plv_and_surrogate(noise, phi_e, 1, 1, 200, 500, rng)
    assert plv_n < 0.05 and plv_n < sur_n


def test_entrainment_bad_input():
    c = stimsim.preset("interneurons")
    with pytest.raises(ValueError, match="amplitudes"):
        entrainment(c, freqs_hz=[100.0], amplitudes=[-1.0])
    with pytest.raises(ValueError, match="measure_ms"):
        entrainment(c, freqs_hz=[5.0], amplitudes=[1.0], grid=dict(measure_ms=100.0))
    with pytest.raises(ValueError, match="plv_threshold"):
        entrainment(c, freqs_hz=[100.0], amplitudes=[1.0], criterion=dict(plv_threshold=1.5))
