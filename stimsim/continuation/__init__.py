"""Bifurcation analysis: continuation of equilibria, limit cycles and bifurcation curves.

Pseudo-arclength continuation that installs with pip (no AUTO-07p), on any registered model with
a Jacobian, on any circuit, in any circuit parameter:

* :func:`bifurcation_diagram`: equilibrium branches in one parameter with stability, folds and
  Hopf points (frequency, first Lyapunov coefficient), and the limit cycles born at each Hopf
  point (shooting with the compiled kernels: period, extremes, Floquet multipliers);
* :func:`two_parameter_diagram`: fold and Hopf curves in two parameters with cusp,
  Bogdanov-Takens and generalized-Hopf points;
* :func:`parameter`: the parameter names ('I', 'J[E,I]', 'tau_s/tau_m', 'field', ...).

Methods: Kuznetsov, *Elements of Applied Bifurcation Theory*, 3rd ed., Springer 2004 (Ch. 10);
Doedel, Keller & Kernévez, Int. J. Bifurcat. Chaos 1 (1991).
"""
from ._api import (BifurcationDiagram, TwoParameterDiagram, bifurcation_diagram, criticality,
                   two_parameter_diagram)
from ._branches import StepControl
from ._parameters import CONTINUABLE, Parameter, parameter

__all__ = ["BifurcationDiagram", "TwoParameterDiagram", "bifurcation_diagram", "criticality",
           "two_parameter_diagram", "StepControl", "CONTINUABLE", "Parameter", "parameter"]
from ._figures import curves_figure, diagram_figure  # noqa: E402

__all__ += ["curves_figure", "diagram_figure"]
