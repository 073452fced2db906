"""docs/brain.md: the example runs as written (shortened), and what it produces is consistent."""
import re
from pathlib import Path

import numpy as np

DOC = (Path(__file__).resolve().parents[1] / "docs" / "brain.md").read_text(encoding="utf-8")


def test_the_example_runs_and_the_drive_reaches_the_regions():
    code = re.search(r"```python\n(.*?)```", DOC, re.S).group(1)
    code = code.replace("2000", "400")                       # a shorter run, the same code
    ns = {}
    exec(compile(code, "docs/brain.md", "exec"), ns)
    res, stim, field = ns["res"], ns["stim"], ns["field"]
    assert res.rate_hz.shape == (int(400 / 0.05) // 20 + 1, 20, 1)
    assert np.all(np.isfinite(res.rate_hz))
    # the pattern is the regional field (V/m per mA) times lambda / scale = 0.012 per V/m (models.md M6)
    np.testing.assert_allclose(stim.patterns[0, :, 0], field.v_per_m(1.0) * 0.12 / 10.0, rtol=1e-12)
    # the montage's anode (O1) and cathode (Cz) push regions both ways (the normal field changes sign)
    assert field.v_per_m(1.0).max() > 0 > field.v_per_m(1.0).min()
