"""with_cp: checkpointed blocks give the same loss and gradients as plain ones, for MT, DTME and TaskPrompter."""
import torch

from helpers import TINY_SIZE
from mmdtme.dtme import Plan
from mmdtme.models.backbones import DTMEViT, TimmViT
from test_task_prompter import NYUD_TASKS, batch_for, tiny_model

TINY = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)
# Recomputing a block runs the same kernels on the same inputs (and, with the RNG state restored, the same drop-path
# masks): on the CPU the results are identical; the tolerance only allows another kernel order elsewhere.
TOLERANCE = dict(rtol=1e-6, atol=1e-7)


def losses_and_grads(model, loss_fn, with_cp: bool):
    model.train()
    backbone = getattr(model, 'backbone', model)
    backbone.with_cp = with_cp
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same drop-path draws in both runs
    loss = loss_fn()
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_with_and_without_checkpointing(model, loss_fn):
    plain_loss, plain = losses_and_grads(model, loss_fn, with_cp=False)
    cp_loss, checkpointed = losses_and_grads(model, loss_fn, with_cp=True)
    torch.testing.assert_close(cp_loss, plain_loss, **TOLERANCE)
    assert checkpointed.keys() == plain.keys() and len(plain) > 10
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], **TOLERANCE, msg=name)


def features_loss(backbone, images):
    features = backbone(images)
    levels = [level for task_levels in features.values() for level in task_levels] if isinstance(features, dict) \
        else features
    return sum(level.pow(2).mean() for level in levels)


def test_baseline_vit():
    torch.manual_seed(0)
    vit = TimmViT(model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, drop_path_rate=0.1, model_kwargs=TINY)
    images = torch.randn(2, 3, *TINY_SIZE)
    assert_same_with_and_without_checkpointing(vit, lambda: features_loss(vit, images))


def test_dtme_streams_with_te_and_tm():
    torch.manual_seed(0)
    tasks = ['semseg', 'depth', 'normals']
    backbone = DTMEViT(
        tasks=tasks, model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, drop_path_rate=0.1, model_kwargs=TINY)
    backbone.expand(Plan(tasks=tasks, num_layers=4, channels=32, tm_layers=[1, 3], te_layers=[1, 2]))
    images = torch.randn(2, 3, *TINY_SIZE)
    assert_same_with_and_without_checkpointing(backbone, lambda: features_loss(backbone, images))


def test_taskprompter_segmentor_loss():
    model = tiny_model()
    data = model.data_preprocessor(batch_for(NYUD_TASKS), training=True)

    def loss():
        total, _ = model.parse_losses(model.loss(data['inputs'], data['data_samples']))
        return total

    assert_same_with_and_without_checkpointing(model, loss)


def test_checkpointing_keeps_fewer_activations_for_backward():
    from mmdtme.utils.complexity import saved_tensor_bytes
    torch.manual_seed(0)
    tasks = ['semseg', 'depth', 'normals']
    backbone = DTMEViT(tasks=tasks, model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, model_kwargs=TINY).train()
    backbone.expand(Plan(tasks=tasks, num_layers=4, channels=32, tm_layers=[0], te_layers=[0]))
    images = torch.randn(2, 3, *TINY_SIZE)
    saved = {}
    for with_cp in (False, True):
        backbone.with_cp = with_cp
        saved[with_cp] = saved_tensor_bytes(lambda: features_loss(backbone, images))
    assert saved[True] < 0.5 * saved[False], saved
