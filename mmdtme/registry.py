"""Registries of the ``mmdtme`` scope.

Every registry of the scope is declared here; modules only decorate. Each registry of a kind mmseg has is a child
of mmseg's registry of that kind (itself a child of mmengine's root registry), so a config with
``default_scope='mmdtme'`` can name mmdtme, mmseg and mmengine components alike, e.g.
``dict(type='PhotoMetricDistortion')`` resolves to mmseg's transform.
"""
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import EVALUATOR as MMSEG_EVALUATOR
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import LOG_PROCESSORS as MMSEG_LOG_PROCESSORS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import RUNNERS as MMSEG_RUNNERS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

SCOPE = 'mmdtme'

RUNNERS = Registry('runner', parent=MMSEG_RUNNERS, scope=SCOPE)
LOOPS = Registry('loop', parent=MMSEG_LOOPS, scope=SCOPE)
HOOKS = Registry('hook', parent=MMSEG_HOOKS, scope=SCOPE, locations=['mmdtme.engine'])
DATASETS = Registry('dataset', parent=MMSEG_DATASETS, scope=SCOPE, locations=['mmdtme.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMSEG_DATA_SAMPLERS, scope=SCOPE)
TRANSFORMS = Registry('transform', parent=MMSEG_TRANSFORMS, scope=SCOPE, locations=['mmdtme.datasets'])
MODELS = Registry('model', parent=MMSEG_MODELS, scope=SCOPE, locations=['mmdtme.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMSEG_MODEL_WRAPPERS, scope=SCOPE, locations=['mmdtme.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMSEG_WEIGHT_INITIALIZERS, scope=SCOPE, locations=['mmdtme.models'])
OPTIMIZERS = Registry('optimizer', parent=MMSEG_OPTIMIZERS, scope=SCOPE, locations=['mmdtme.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMSEG_OPTIM_WRAPPERS, scope=SCOPE, locations=['mmdtme.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE, locations=['mmdtme.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMSEG_PARAM_SCHEDULERS, scope=SCOPE, locations=['mmdtme.engine'])
METRICS = Registry('metric', parent=MMSEG_METRICS, scope=SCOPE, locations=['mmdtme.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMSEG_EVALUATOR, scope=SCOPE, locations=['mmdtme.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMSEG_VISUALIZERS, scope=SCOPE, locations=['mmdtme.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMSEG_VISBACKENDS, scope=SCOPE)
LOG_PROCESSORS = Registry('log_processor', parent=MMSEG_LOG_PROCESSORS, scope=SCOPE)

# mmdtme's own kinds: the pieces a MultiTaskOptimWrapper is built from (configs/mto)
AGGREGATORS = Registry('mto gradient aggregator', scope=SCOPE, locations=['mmdtme.engine.optimizers'])
LOSS_WEIGHTERS = Registry('mto loss weighter', scope=SCOPE, locations=['mmdtme.engine.optimizers'])
