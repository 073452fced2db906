"""Pointwise models: a model written as one population element's right-hand side.

A :class:`PointwiseModel` subclass declares its variables, a per-element right-hand side and
read-out as ``numba.njit`` functions, the variable that couples populations, and its parameters;
the lane kernels of :func:`stimsim.simulate` / :func:`stimsim.simulate_batch` (and so sweeps) and
the delayed-coupling kernel of whole-brain runs are generated from them
(:func:`stimsim.kernels.pointwise.make_kernels`). The numpy right-hand side, Jacobians and
read-outs every :class:`~stimsim.models.Model` provides (fixed points, linear response,
continuation) are still written by the subclass.

Per population k (time in ms; models.md M5)::

    dy_k/dt = point_rhs(y_k, x_k, p_k),     x_k = eta_bar_k + I_k(t) + sum_l K[k, l] y_{c,l}

with y_c the ``coupled_variable`` and K = w J the circuit's effective coupling; in a brain network
x gains the delayed long-range term w_k G sum_j W[i, j] y_{c,j,sender}(t - d_ij) (Sanz-Leon et al.,
Front. Neuroinform. 7:10, 2013), read from the stored history by linear interpolation.

Example (a first-order rate population, Wilson & Cowan, Biophys. J. 12, 1-24, 1972)::

    @numba.njit(error_model="numpy")
    def wc_rhs(y, x, p, dy):                   # p = (tau_s, eta_bar, kind, p0, p1, p2)
        dy[0] = (transfer(np.int64(p[2]), x, p[3], p[4], p[5]) - y[0]) / p[0]

    class WilsonCowan(PointwiseModel):
        name = "wc"
        state_variables = recorded_variables = (Variable("r", "kHz", "rate_hz", "Hz", 1000.0, "rate"),)
        point_rhs = staticmethod(wc_rhs)
        point_observe = staticmethod(wc_observe)
        coupled_variable = "r"
        parameter_names = ("tau_s", "eta_bar", "transfer_kind", "transfer_p0", "transfer_p1", "transfer_p2")
        ...  # numpy rhs, jacobian, input_jacobian, observe, observe_jacobian, state_at_rates
"""
from __future__ import annotations

import threading
import time

import numpy as np

from ._base import Model

#: parameter names that are not population parameters: the circuit's transfer function per
#: population (:meth:`stimsim.circuit.Circuit.transfer_parameters`; the kind as a float code)
TRANSFER_PARAMETERS = ("transfer_kind", "transfer_p0", "transfer_p1", "transfer_p2")

_LOCK = threading.Lock()


class PointwiseModel(Model):
    """Base class of models given by a per-element right-hand side (module docstring).

    Attributes (set by subclasses)
    ------------------------------
    point_rhs : numba dispatcher
        ``point_rhs(y, x, p, dy)``: dy (n_state,) = dy/dt of one element with state y (n_state,),
        total input x (model input units) and parameters p (n_par,); 1/ms times the state's units.
        Compile it with ``numba.njit(error_model="numpy")``; no allocation inside.
    point_observe : numba dispatcher
        ``point_observe(y, x, p, rec)``: the recorded variables rec (n_recorded,) at state y and
        input x (in the order of ``recorded_variables``).
    coupled_variable : str
        Name of the state variable through which populations couple (x += K y_c) and which a
        region sends over long-range connections.
    parameter_names : tuple of str
        Rows of the kernel's parameter array: population parameters
        (:meth:`stimsim.circuit.Circuit.vector` names such as 'tau_s', 'eta_bar') or the transfer
        function's 'transfer_kind' (float code of :data:`stimsim.transfer.TRANSFER_KINDS`),
        'transfer_p0', 'transfer_p1', 'transfer_p2'. It must hold 'eta_bar'. A subclass may
        instead override :meth:`kernel_parameters` and set ``eta_index``.
    eta_index : int or None
        Row of eta_bar in the parameter array (None: its position in ``parameter_names``).

    Class-level properties of every pointwise model: ``lane_kernel = True`` (it runs in the shared
    lane kernels), ``supports_delays = True`` (whole-brain runs with delays), ``history_slope =
    None`` (the history stores no slope: delayed values are interpolated linearly, second order
    in dt) and ``long_range_variable`` = ``coupled_variable``.

    The compiled kernels are generated on first use, once per class and process, without numba's
    disk cache (:mod:`stimsim.kernels.pointwise`); ``compile_seconds`` records how long each entry
    point's first call took.
    """

    point_rhs = None
    point_observe = None
    coupled_variable: str = ""
    parameter_names: tuple = ()
    eta_index = None
    lane_kernel = True
    supports_delays = True
    history_slope = None

    @property
    def long_range_variable(self):
        """Name of the variable a region sends to the others (the coupled variable)."""
        return self.coupled_variable

    @property
    def coupled_index(self):
        """Row of the coupled variable in the state."""
        names = self.state_names
        if self.coupled_variable not in names:
            raise ValueError(f"model {self.name!r}: coupled_variable {self.coupled_variable!r} is not one of its "
                             f"state variables {names}")
        return names.index(self.coupled_variable)

    def supports(self, circuit):
        return None

    # --- parameters ------------------------------------------------------------------------------
    def _eta_row(self):
        if self.eta_index is not None:
            return int(self.eta_index)
        if "eta_bar" not in self.parameter_names:
            raise ValueError(f"model {self.name!r}: parameter_names {self.parameter_names} must contain 'eta_bar' "
                             "(or set eta_index with a kernel_parameters method)")
        return self.parameter_names.index("eta_bar")

    def kernel_parameters(self, circuits):
        """Per-set parameters (n_par, P, B) in the order of ``parameter_names``."""
        if not self.parameter_names:
            raise NotImplementedError(f"model {self.name!r} declares no parameter_names and no kernel_parameters")
        rows = []
        for name in self.parameter_names:
            if name in TRANSFER_PARAMETERS:
                q = TRANSFER_PARAMETERS.index(name)
                cols = [np.asarray(c.transfer_parameters()[q], dtype=float) for c in circuits]
            else:
                cols = [c.vector(name) for c in circuits]
            rows.append(np.stack(cols, axis=-1))
        return np.stack(rows)

    # --- kernels ---------------------------------------------------------------------------------
    def kernels(self):
        """The generated :class:`stimsim.kernels.pointwise.PointwiseKernels` of this class (made
        once per class and process; compiled on first call)."""
        cls = type(self)
        k = cls.__dict__.get("_pointwise_kernels")
        if k is None:
            with _LOCK:
                k = cls.__dict__.get("_pointwise_kernels")
                if k is None:
                    if self.point_rhs is None or self.point_observe is None:
                        raise NotImplementedError(f"model {self.name!r} must set point_rhs and point_observe")
                    from ..kernels.pointwise import make_kernels

                    k = make_kernels(self.point_rhs, self.point_observe, self.n_state, self.n_recorded,
                                     self.coupled_index, self._eta_row())
                    cls._pointwise_kernels = k
                    cls.compile_seconds = {}
        return k

    def _timed(self, name, fn, *args):
        """Call an entry point; the first call's time (the compile) goes to ``compile_seconds``."""
        seconds = type(self).__dict__.get("compile_seconds")
        if seconds is None or name in seconds:
            return fn(*args)
        t0 = time.perf_counter()
        result = fn(*args)
        seconds[name] = time.perf_counter() - t0
        return result

    def kernel_entry(self, parallel):
        k = self.kernels()
        return k.integrate if parallel else k.integrate_serial

    def run_kernel(self, parallel, circuit, y0, par, K, *rest):
        self._timed("integrate" if parallel else "integrate_serial", self.kernel_entry(parallel), y0, par, K, *rest)

    def _kernel_derivative(self, circuit, y, par, K, u):
        return self._timed("derivative", self.kernels().derivative, y, par, K, u)

    def run_delayed_kernel(self, local, n_regions, state, par, args):
        """Integrate a brain network: the generated delayed kernel on ``state`` (nb, n_state, R P, L)
        and ``par`` (nb, n_par, R P, L) with the engine's remaining arguments ``args`` = (K,
        recv_w, sender, const, coef, waves, stride, has_wave, G, row_ptr, src, off, w, H, n_begin,
        n_end, reuse, dt, n_steps, record_every, check_every, method, out, status) of
        :func:`stimsim.kernels.delayed.integrate_nmm2`. ``w`` must hold linear weights (two rows)."""
        w = args[12]
        if np.shape(w)[1] != 2:
            raise ValueError(f"model {self.name!r} stores no history slope: whole-brain runs need linear history "
                             f"weights (2 rows), got {np.shape(w)[1]}")
        self._timed("integrate_delayed", self.kernels().integrate_delayed, state, par, *args)
