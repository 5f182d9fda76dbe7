"""The DTME plan: what the analysis found and which layers get TM / TE (docs/design.md §1.3).

The plan is written to the work dir, can be loaded instead of re-running the analysis, and travels inside the
model's state as a uint8 tensor of UTF-8 JSON bytes (:meth:`Plan.to_tensor`) so that a checkpoint rebuilds the
expanded model.

Version 2 added ``copied_modules`` (Recon's task-specific copies), version 3 the record of an adaptive analysis
(``stop``, ``stopped_after``, ``stop_reasons``, ``tied_tm_layers``, ``tied_te_layers``); older plans are still
read, as plans without those.
"""
import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from .selection import MODES, VARIANTS

PLAN_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # version 1 had no copied_modules, version 2 no adaptive record
_COPIED_MODULE = re.compile(r'^\d+(\.\w+)*$')  # block index, then an optional sub-module path
MODULATORS = ('affine', 'bn')
STOPS = ('full', 'adaptive')
_PER_LAYER = ('ks', 'eigenvalues', 'eigenvalue_totals', 'range_conflict', 'null_conflict', 'range_cosine',
              'null_cosine')


@dataclass
class Plan:
    """A versioned, JSON-serialisable record of a DTME analysis and the resulting layer choice.

    Per-layer lists (``ks`` ... ``null_cosine``) hold one entry per layer, or are empty when no analysis was
    recorded (a hand-written plan).

    Args:
        tasks: Task names; task t's decoder reads stream t, so the order matters.
        num_layers: Number of transformer blocks L.
        channels: Token width C.
        tm_layers: Layers with Token Modulation.
        te_layers: Layers with Token Expansion.
        num_tokens: Tokens n added per task at each TE layer. Default: 6.
        ks: Range-space dimension k per layer.
        eigenvalues: Per layer, the largest eigenvalues of the token covariance (a summary, e.g. the top 32).
        eigenvalue_totals: Per layer, the sum of all eigenvalues (the trace of the covariance).
        range_conflict: Per layer, the fraction of range-space conflicts.
        null_conflict: Per layer, the fraction of null-space conflicts.
        range_cosine: Per layer, the mean range-space cosine.
        null_cosine: Per layer, the mean null-space cosine.
        mode: Selection mode, see :func:`select_layers`. Default: ``conflict``.
        variant: ``tm``, ``te`` or ``tm+te``. Default: ``tm+te``.
        ratio: Selection ratio ρ. Default: 0.5.
        range_variance: Variance threshold τ of the range space. Default: 0.99.
        seed: Seed of the ``random`` mode. Default: 0.
        modulator: ``affine`` (W ⊙ x + b) or ``bn`` (the BN-style ablation). Default: ``affine``.
        copied_modules: Modules made task-specific (Recon): paths below the ViT's ``blocks``, e.g. ``'3'`` (all of
            block 3), ``'3.attn'`` or ``'3.mlp.fc1'``; each task gets its own copy, initialised from the shared one.
        stop: How the analysis read its set: ``full`` (every batch, both passes) or ``adaptive``.
        stopped_after: Adaptive: batches read per process by the covariance and the conflict pass.
        stop_reasons: Adaptive: why each pass stopped.
        tied_tm_layers: Adaptive: layers statistically tied across the TM boundary; the selection among them
            follows the estimate, and another pass may order them differently.
        tied_te_layers: The same for TE.
        version: Format version, :data:`PLAN_VERSION`.
    """

    tasks: List[str]
    num_layers: int
    channels: int
    tm_layers: List[int] = field(default_factory=list)
    te_layers: List[int] = field(default_factory=list)
    num_tokens: int = 6
    ks: List[int] = field(default_factory=list)
    eigenvalues: List[List[float]] = field(default_factory=list)
    eigenvalue_totals: List[float] = field(default_factory=list)
    range_conflict: List[float] = field(default_factory=list)
    null_conflict: List[float] = field(default_factory=list)
    range_cosine: List[float] = field(default_factory=list)
    null_cosine: List[float] = field(default_factory=list)
    mode: str = 'conflict'
    variant: str = 'tm+te'
    ratio: float = 0.5
    range_variance: float = 0.99
    seed: int = 0
    modulator: str = 'affine'
    copied_modules: List[str] = field(default_factory=list)
    stop: str = 'full'
    stopped_after: List[int] = field(default_factory=list)
    stop_reasons: List[str] = field(default_factory=list)
    tied_tm_layers: List[int] = field(default_factory=list)
    tied_te_layers: List[int] = field(default_factory=list)
    version: int = PLAN_VERSION

    @property
    def first_modified_layer(self) -> Optional[int]:
        """The first layer with TM, TE or a task-specific copy (where the task streams split), or None."""
        layers = set(self.tm_layers) | set(self.te_layers) | set(self.copied_blocks)
        return min(layers) if layers else None

    @property
    def copied_blocks(self) -> List[int]:
        """The blocks holding a task-specific copy, sorted."""
        return sorted({int(path.split('.')[0]) for path in self.copied_modules})

    def validate(self) -> 'Plan':
        """Raise a ValueError listing every problem found; returns ``self`` when there is none."""
        problems = []
        if self.version != PLAN_VERSION:
            problems.append(f'version is {self.version}, expected {PLAN_VERSION}')
        if not self.tasks or not all(isinstance(task, str) and task for task in self.tasks):
            problems.append(f'tasks must be a non-empty list of names, got {self.tasks!r}')
        elif len(set(self.tasks)) != len(self.tasks):
            problems.append(f'tasks must be unique, got {self.tasks}')
        if self.num_layers < 1 or self.channels < 1:
            problems.append(f'num_layers and channels must be >= 1, got {self.num_layers} and {self.channels}')
        for name in ('tm_layers', 'te_layers', 'tied_tm_layers', 'tied_te_layers'):
            layers = getattr(self, name)
            bad = [layer for layer in layers if not isinstance(layer, int) or not 0 <= layer < self.num_layers]
            if bad:
                problems.append(f'{name} {bad} are out of range for {self.num_layers} layers')
            if len(set(layers)) != len(layers):
                problems.append(f'{name} has duplicates: {layers}')
        problems.extend(self._copied_module_problems())
        if self.num_tokens < (1 if self.te_layers else 0):
            problems.append(f'num_tokens must be >= 1 with TE layers, got {self.num_tokens}')
        for name in _PER_LAYER:
            length = len(getattr(self, name))
            if length not in (0, self.num_layers):
                problems.append(f'{name} has {length} entries, expected {self.num_layers} (one per layer) or none')
        bad_ks = [k for k in self.ks if not 1 <= k <= self.channels]
        if bad_ks:
            problems.append(f'ks {bad_ks} are outside [1, channels={self.channels}]')
        for name, value, allowed in (('mode', self.mode, MODES), ('variant', self.variant, VARIANTS),
                                     ('modulator', self.modulator, MODULATORS), ('stop', self.stop, STOPS)):
            if value not in allowed:
                problems.append(f'{name} must be one of {allowed}, got {value!r}')
        for name in ('ratio', 'range_variance'):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f'{name} must be in (0, 1], got {getattr(self, name)}')
        if problems:
            raise ValueError('invalid DTME plan: ' + '; '.join(problems))
        return self

    def _copied_module_problems(self) -> List[str]:
        paths = self.copied_modules
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            return [f'copied_modules must be a list of module paths (strings), got {paths!r}']
        problems = []
        malformed = [path for path in paths if not _COPIED_MODULE.match(path)]
        if malformed:
            problems.append(f'copied_modules {malformed} are not paths below the ViT blocks such as \'3\', '
                            '\'3.attn\' or \'3.mlp.fc1\'')
        well_formed = [path for path in paths if path not in malformed]
        bad = [path for path in well_formed if not 0 <= int(path.split('.')[0]) < self.num_layers]
        if bad:
            problems.append(f'copied_modules {bad} name blocks out of range for {self.num_layers} layers')
        if len(set(paths)) != len(paths):
            problems.append(f'copied_modules has duplicates: {paths}')
        nested = sorted({inner for inner in well_formed for outer in well_formed if inner.startswith(outer + '.')})
        if nested:
            problems.append(f'copied_modules {nested} lie inside other copied modules; list the outer one only')
        return problems

    def agrees_up_to_ties(self, reference: 'Plan') -> bool:
        """Whether this plan's TM / TE layers equal ``reference``'s except, at most, on the layers this plan declared
        tied (an adaptive plan against the full pass's)."""
        return (set(self.tm_layers) ^ set(reference.tm_layers) <= set(self.tied_tm_layers)
                and set(self.te_layers) ^ set(reference.te_layers) <= set(self.tied_te_layers))

    def check_compatible(self, tasks: Sequence[str], num_layers: int, channels: int) -> None:
        """Raise a ValueError naming every difference between the plan and a model's tasks / depth / width."""
        differences = []
        if list(tasks) != list(self.tasks):
            differences.append(f'tasks {list(self.tasks)} in the plan vs {list(tasks)} in the model')
        if num_layers != self.num_layers:
            differences.append(f'num_layers {self.num_layers} in the plan vs {num_layers} in the model')
        if channels != self.channels:
            differences.append(f'channels {self.channels} in the plan vs {channels} in the model')
        if differences:
            raise ValueError('the DTME plan does not fit this model: ' + '; '.join(differences) +
                             '. Use the plan (or checkpoint) made for this model, or re-run the analysis')

    def to_dict(self) -> Dict[str, Any]:
        """A plain dict of JSON types (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> 'Plan':
        """Build and validate a plan; refuses other versions, unknown keys and missing required keys."""
        if not isinstance(data, dict):
            raise ValueError(f'a DTME plan is a JSON object, got a {type(data).__name__}')
        version = data.get('version')
        if version not in READABLE_VERSIONS:
            raise ValueError(f'DTME plan version {version!r} is not supported (this mmdtme reads versions '
                             f'{list(READABLE_VERSIONS)}); re-run the analysis to write a current plan')
        if version < 2 and 'copied_modules' in data:
            raise ValueError('copied_modules needs a version-2 DTME plan, but this one says version 1')
        data = dict(data, version=PLAN_VERSION)  # an older plan is this version's plan without the newer fields
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f'unknown DTME plan keys {unknown}; known keys are {names}')
        missing = [name for name in ('tasks', 'num_layers', 'channels') if name not in data]
        if missing:
            raise ValueError(f'DTME plan lacks required keys {missing}')
        return cls(**data).validate()

    def to_json(self, indent: Optional[int] = None) -> str:
        """The plan as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> 'Plan':
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def save(self, path: str) -> None:
        """Write the plan as indented JSON."""
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.to_json(indent=2) + '\n')

    @classmethod
    def load(cls, path: str) -> 'Plan':
        """Read a plan written by :meth:`save`; errors name the file."""
        with open(path, encoding='utf-8') as f:
            text = f.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f'cannot parse DTME plan file {path!r}: {err}') from err
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f'DTME plan file {path!r}: {err}') from err

    def to_tensor(self) -> Tensor:
        """The plan as a 1-D uint8 tensor of UTF-8 JSON bytes (DDP-broadcastable module extra state)."""
        return torch.tensor(list(self.to_json().encode('utf-8')), dtype=torch.uint8)

    @classmethod
    def from_tensor(cls, tensor: Tensor) -> 'Plan':
        """Inverse of :meth:`to_tensor`."""
        if tensor.dtype != torch.uint8 or tensor.dim() != 1 or tensor.numel() == 0:
            raise ValueError(f'a DTME plan tensor is a non-empty 1-D uint8 tensor, got dtype {tensor.dtype} '
                             f'and shape {tuple(tensor.shape)}')
        return cls.from_json(bytes(tensor.cpu().tolist()).decode('utf-8'))

    @classmethod
    def from_state_dict(cls, state_dict: Dict[str, Tensor]) -> Optional['Plan']:
        """The plan a model's state dict stores in its backbone's ``dtme_plan`` buffer, or None (unexpanded)."""
        stored = next((value for key, value in state_dict.items() if key.endswith('backbone.dtme_plan')), None)
        return cls.from_tensor(stored) if stored is not None and stored.numel() > 0 else None

    def summary_table(self) -> str:
        """A plain-text table: one row per layer with k, both conflict scores and TM / TE marks."""

        def cell(values: list, layer: int, fmt: str) -> str:
            if not values or (isinstance(values[layer], float) and math.isnan(values[layer])):
                return '-'
            return format(values[layer], fmt)

        if self.copied_modules and not (self.tm_layers or self.te_layers or self.ks or self.range_conflict):
            # A Recon plan: nothing per layer to show but the copies.
            return (f'plan v{self.version}: tasks {", ".join(self.tasks)} | {self.num_layers} layers | '
                    f'task-specific copies: {", ".join(self.copied_modules)}')
        lines = [(f'DTME plan v{self.version}: tasks {", ".join(self.tasks)} | mode {self.mode} | '
                  f'variant {self.variant} | ratio {self.ratio} | range_variance {self.range_variance} | '
                  f'tokens {self.num_tokens} | modulator {self.modulator}'),
                 f'{"layer":>5} {"k":>5} {"range":>7} {"null":>7} {"TM":>3} {"TE":>3}']
        tm, te = set(self.tm_layers), set(self.te_layers)
        for layer in range(self.num_layers):
            lines.append(f'{layer:>5} {cell(self.ks, layer, "d"):>5} {cell(self.range_conflict, layer, ".3f"):>7} '
                         f'{cell(self.null_conflict, layer, ".3f"):>7} {"x" if layer in tm else "":>3} '
                         f'{"x" if layer in te else "":>3}'.rstrip())
        if self.copied_modules:
            lines.append(f'task-specific copies: {", ".join(self.copied_modules)}')
        if self.stop == 'adaptive':
            lines.extend(f'adaptive analysis, {reason}' for reason in self.stop_reasons)
            for name, tied in (('TM', self.tied_tm_layers), ('TE', self.tied_te_layers)):
                if tied:
                    lines.append(f'{name}: layers {tied} are tied at the boundary; the current estimate ordered them')
        return '\n'.join(lines)
