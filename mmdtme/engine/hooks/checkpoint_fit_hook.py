from mmengine.hooks import Hook

from mmdtme.dtme import Plan
from mmdtme.registry import HOOKS
from mmdtme.utils.checkpoint import CheckpointMismatchError, checkpoint_mismatch
from ..runner_utils import unwrap_model


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse a checkpoint (``load_from``, ``--resume``, ``tools/test.py``) whose weights do not fit the model.

    mmengine loads checkpoints non-strictly: missing, unexpected and wrong-sized weights are only logged, and a
    run continues with a partly random model. This hook compares the checkpoint with the model before the weights
    load and raises :class:`~mmdtme.utils.checkpoint.CheckpointMismatchError` naming the first keys of each kind
    and the likely cause. A checkpoint that holds a DTME plan is compared with the model expanded by that plan (as
    loading would expand it). ``MultiTaskRunner`` registers it unless the config sets ``strict_load=False``.
    Pretrained backbone weights are loaded by the backbone itself, with its own rules, not through this hook.

    Args:
        allow_unexpanded: Accept a Baseline checkpoint for an unexpanded DTME backbone (training starts from it and
            expands later); ``tools/test.py`` refuses it, since the DTME config would be evaluated unexpanded.
    """

    priority = 'LOW'  # after the expansion hooks have applied a stored plan

    def __init__(self, allow_unexpanded: bool = True) -> None:
        self.allow_unexpanded = allow_unexpanded

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = unwrap_model(runner.model)
        state = checkpoint.get('state_dict', checkpoint)
        backbone = getattr(model, 'backbone', None)
        plan = Plan.from_state_dict(state)
        if plan is not None and hasattr(backbone, 'expand') and getattr(backbone, 'plan', None) is None:
            backbone.expand(plan)  # what loading the state dict would do first
        problem = checkpoint_mismatch(model.state_dict(), state, self.allow_unexpanded)
        if problem is not None:
            raise CheckpointMismatchError(f'the checkpoint does not fit the model: {problem}')
