"""DTME-MTL core in plain torch: token-space analysis, layer selection, the plan, and the TM / TE modules.

Dynamic Token Modulation and Expansion (Jeong & Yoon, ICCV 2025), see docs/design.md §1.1-1.4:

- :class:`CovarianceAccumulator` streams the uncentered covariance of each block's output tokens;
- :func:`split_token_space` splits it by explained variance into a range and a null space (:class:`TokenSpaces`);
- :func:`task_gradients` and :class:`ConflictAccumulator` measure task-gradient conflicts in both spaces;
- :func:`analyze` runs both passes over an analysis set and returns the plan, reading all of it or, with
  ``stop='adaptive'``, until the :class:`StoppingRule` finds the result settled;
- :func:`select_layers` picks the Token Modulation / Token Expansion layers, recorded in a :class:`Plan`;
- :class:`TokenModulation`, :class:`BNTokenModulation`, :class:`TokenExpansion` and the task-stream helpers act on
  stacked (T·B, N, C) streams;
- Recon (Shi et al., ICLR 2023): :func:`measure_conflicts` scores parameter-level gradient conflicts per unit and
  picks the top k (:class:`ReconResult`); :func:`make_task_specific` gives every task its own copy of a module on
  the stacked streams (``Plan.copied_modules``).

Only torch and the standard library are imported here (no mmengine / mmseg / mmcv), so the package can be used
from a notebook or a test without any registry.
"""
from .analysis import AnalysisSettings, accumulate_conflicts, accumulate_covariance, analyze, token_spaces
from .conflicts import ConflictAccumulator, own_stream_gradients, pairwise_products, task_gradients, task_pairs
from .covariance import CovarianceAccumulator
from .modules import BNTokenModulation, TokenExpansion, TokenModulation, stack_task_streams, unstack_task_streams
from .plan import MODULATORS, PLAN_VERSION, Plan
from .recon import (COSINE_EDGES, GRANULARITIES, ReconAccumulator, ReconResult, conflict_units, copied_parameter_count,
                    cosine_histogram, gram_cosines, measure_conflicts, select_top_k, unit_grams, unit_parameters)
from .selection import MODES, VARIANTS, num_selected, select_layers
from .spaces import TokenSpaces, range_variance_from_r, split_token_space
from .stopping import BoundaryCheck, StoppingRule, check_boundary, check_selection, variance_leak
from .task_copies import TaskBatched, TaskLayerNorm, TaskLinear, check_copyable, make_task_specific

__all__ = [
    'AnalysisSettings', 'analyze', 'token_spaces', 'StoppingRule', 'BoundaryCheck', 'check_boundary', 'check_selection',
    'variance_leak', 'accumulate_covariance', 'accumulate_conflicts', 'CovarianceAccumulator', 'TokenSpaces',
    'split_token_space', 'range_variance_from_r', 'pairwise_products', 'task_pairs', 'ConflictAccumulator',
    'task_gradients', 'own_stream_gradients', 'select_layers', 'num_selected', 'MODES', 'VARIANTS', 'Plan',
    'PLAN_VERSION', 'MODULATORS', 'TokenModulation', 'BNTokenModulation', 'TokenExpansion', 'stack_task_streams',
    'unstack_task_streams', 'COSINE_EDGES', 'cosine_histogram', 'gram_cosines', 'unit_parameters', 'GRANULARITIES',
    'ReconAccumulator', 'ReconResult', 'conflict_units', 'copied_parameter_count', 'measure_conflicts', 'select_top_k',
    'unit_grams', 'TaskBatched', 'TaskLayerNorm', 'TaskLinear', 'check_copyable', 'make_task_specific'
]
