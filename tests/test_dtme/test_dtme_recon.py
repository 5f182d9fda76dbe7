"""Recon in plain torch: conflict scores against a brute-force count, top-k, task-specific copies, the v2 plan."""
import copy
import json

import pytest
import timm
import torch
import torch.nn as nn

from helpers import TINY_SIZE
from mmdtme.dtme import (Plan, ReconResult, TaskBatched, TaskLayerNorm, TaskLinear, conflict_units, make_task_specific,
                         measure_conflicts, select_top_k, unit_grams)
from mmdtme.models.backbones import DTMEViT

TASKS = ['semseg', 'depth', 'normals']
TINY = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)


class TinyMultiTask(nn.Module):
    """Two shared 'blocks' and one linear head per task; each task's loss pulls towards its own random target."""

    def __init__(self, num_tasks=3):
        super().__init__()
        self.blocks = nn.Sequential(nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6)), nn.Sequential(nn.Linear(6, 5)))
        self.heads = nn.ModuleList(nn.Linear(5, 2) for _ in range(num_tasks))

    def losses(self, batch):
        x, targets = batch
        features = self.blocks(x)
        return {TASKS[t]: ((head(features) - targets[t])**2).mean() for t, head in enumerate(self.heads)}


def brute_force_counts(model, batches, units, threshold):
    """Per unit: (count of (batch, pair) with cosine < S, mean cosine), one .backward() per task."""
    counts, cosines = {unit: 0 for unit in units}, {unit: [] for unit in units}
    for batch in batches:
        grads = []
        for task in TASKS:
            model.zero_grad()
            model.losses(batch)[task].backward()
            grads.append({
                unit: torch.cat([p.grad.flatten() for p in model.blocks.get_submodule(unit).parameters()])
                for unit in units
            })
        for unit in units:
            for i in range(len(TASKS)):
                for j in range(i + 1, len(TASKS)):
                    cosine = torch.nn.functional.cosine_similarity(
                        grads[i][unit].double(), grads[j][unit].double(), dim=0).item()
                    counts[unit] += cosine < threshold
                    cosines[unit].append(cosine)
    return counts, {unit: sum(values) / len(values) for unit, values in cosines.items()}


@pytest.mark.parametrize('threshold', [0.0, -0.02, 0.3])
def test_scores_match_a_brute_force_count(threshold):
    torch.manual_seed(0)
    model = TinyMultiTask()
    batches = [(torch.randn(5, 4), torch.randn(3, 5, 2)) for _ in range(6)]
    units = ['0', '0.0', '0.1', '1']  # nested units are fine for measuring
    result = measure_conflicts(batches, model.losses, TASKS, model.blocks, threshold=threshold, k=2, units=units)
    counts, mean_cosines = brute_force_counts(model, batches, units, threshold)
    assert result.scores == [counts[unit] for unit in units]
    assert result.mean_cosine == pytest.approx([mean_cosines[unit] for unit in units], abs=1e-9)
    assert result.conflict_rate == pytest.approx([counts[unit] / (6 * 3) for unit in units])
    assert result.num_batches == 6 and sum(map(sum, result.pair_scores)) == sum(result.scores)
    assert 0 < sum(result.scores) < 6 * 3 * 4  # the data does produce some conflicts, not only conflicts
    assert result.selected == select_top_k(result.scores, units, 2)


def test_threshold_orders_the_counts_and_unreached_units_never_conflict():
    torch.manual_seed(1)
    model = TinyMultiTask()
    batches = [(torch.randn(5, 4), torch.randn(3, 5, 2)) for _ in range(4)]
    low = measure_conflicts(batches, model.losses, TASKS, model.blocks, 'layer', threshold=-0.5, k=1)
    high = measure_conflicts(batches, model.losses, TASKS, model.blocks, 'layer', threshold=0.5, k=1)
    assert low.units == high.units == ['0.0', '0.1', '1.0']
    assert all(a <= b for a, b in zip(low.scores, high.scores)) and sum(low.scores) < sum(high.scores)
    # a unit no loss reaches has zero gradients: cosine 0, a conflict only if S > 0
    frozen = torch.zeros((), requires_grad=True)
    grams = unit_grams([(frozen * 0 + loss) for loss in model.losses(batches[0]).values()],
                       [[p for p in model.blocks.parameters()], [nn.Parameter(torch.ones(3))]])
    assert grams.shape == (2, 3, 3) and (grams[1] == 0).all() and (grams[0].diagonal() > 0).all()


def test_select_top_k_breaks_ties_by_model_order():
    units = ['0', '1', '2', '3']
    assert select_top_k([5, 9, 5, 1], units, 2) == ['0', '1']
    assert select_top_k([5, 9, 5, 7], units, 3) == ['0', '1', '3']
    with pytest.raises(ValueError, match=r'k must be in \[1, 4\]'):
        select_top_k([1, 2, 3, 4], units, 5)


def test_conflict_units_of_a_vit_at_each_granularity():
    vit = timm.create_model('vit_tiny_patch16_224', img_size=TINY_SIZE, num_classes=0, **dict(TINY, depth=2))
    assert conflict_units(vit.blocks, 'block') == ['0', '1']
    assert conflict_units(vit.blocks, 'sublayer')[:4] == ['0.norm1', '0.attn', '0.norm2', '0.mlp']
    layers = conflict_units(vit.blocks, 'layer')
    assert layers[:6] == ['0.norm1', '0.attn.qkv', '0.attn.proj', '0.norm2', '0.mlp.fc1', '0.mlp.fc2']
    assert len(layers) == 12
    with pytest.raises(ValueError, match='granularity must be one of'):
        conflict_units(vit.blocks, 'head')


def test_result_is_json_serialisable_and_tabulated():
    result = ReconResult(
        tasks=['a', 'b'],
        units=['0', '1'],
        threshold=0.0,
        k=1,
        num_batches=3,
        scores=[1, 2],
        conflict_rate=[1 / 3, 2 / 3],
        mean_cosine=[0.2, -0.1],
        pair_scores=[[1], [2]],
        selected=['1'])
    assert ReconResult(**json.loads(json.dumps(result.to_dict()))) == result
    rows = [line.split() for line in result.table().splitlines()[2:]]
    assert rows == [['0', '1', '0.333', '0.200'], ['1', '2', '0.667', '-0.100', 'x']]


@pytest.mark.parametrize(
    'module',
    [nn.Linear(6, 4),
     nn.Linear(6, 4, bias=False),
     nn.LayerNorm(6),
     timm.layers.LayerScale(6, init_values=0.5)],
    ids=lambda m: type(m).__name__)
def test_task_batched_module_equals_separate_copies(module):
    T, B = 3, 2
    torch.manual_seed(0)
    copies = [copy.deepcopy(module) for _ in range(T)]
    for layer in copies:
        with torch.no_grad():
            for param in layer.parameters():
                param.normal_()
    batched = make_batched(copies[0], T)
    with torch.no_grad():
        for name, param in batched.named_parameters():
            param.copy_(torch.stack([dict(layer.named_parameters())[name] for layer in copies]))
    x = torch.randn(T * B, 5, 6)
    expected = torch.cat([layer(x[t * B:(t + 1) * B]) for t, layer in enumerate(copies)])
    torch.testing.assert_close(batched(x), expected)


def make_batched(module, T):
    root = nn.Sequential(module)
    make_task_specific(root, '0', T)
    assert isinstance(root[0], (TaskLinear, TaskLayerNorm, TaskBatched))
    return root[0]


def tiny_backbone(seed=0, **kwargs):
    torch.manual_seed(seed)
    return DTMEViT(
        tasks=TASKS, model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, model_kwargs=dict(TINY, **kwargs)).eval()


def recon_plan(copied=('1', ), tm=(), te=(), **kwargs):
    return Plan(
        tasks=TASKS,
        num_layers=4,
        channels=32,
        tm_layers=list(tm),
        te_layers=list(te),
        copied_modules=list(copied),
        **kwargs)


@pytest.mark.parametrize('copied, tm, num_new', [(('1', ), (), 12), (('1.attn', '3.mlp.fc2', '2.norm1'), (2, ), 10)])
def test_copies_leave_the_outputs_unchanged_when_made(copied, tm, num_new):
    backbone = tiny_backbone()
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = backbone(x)
        new_params = backbone.expand(recon_plan(copied, tm))  # TM starts as the identity (TE would not)
        after = backbone(x)
    # block: 2 norms + 4 linears, weight and bias each; attn: 2 linears, fc2: 1, norm1: 1, TM: weight and bias
    assert len(new_params) == num_new
    assert all(param.shape[0] == 3 for param in new_params)  # T stacked copies (TM: (T, 1, 1, C))
    for task in TASKS:
        for level_before, level_after in zip(before, after[task]):
            torch.testing.assert_close(level_after, level_before)


def test_copies_with_modulation_equal_per_task_models():
    """Each task's stream equals an unexpanded model holding that task's copy (TE and TM applied by hand)."""
    backbone = tiny_backbone(init_values=0.1)  # LayerScale modules, copied through vmap
    original = copy.deepcopy(backbone)
    shapes = {key: value.shape for key, value in original.vit.state_dict().items()}
    backbone.expand(recon_plan(copied=('1', '3.attn'), tm=(3, ), te=(2, ), num_tokens=2))
    with torch.no_grad():
        for name, param in backbone.named_parameters():
            param.add_(0.05 * torch.randn_like(param))  # copies differ per task from here on
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        stacked = backbone(x)
        state = backbone.vit.state_dict()
        for t, task in enumerate(TASKS):
            reference = copy.deepcopy(original)
            reference.vit.load_state_dict({
                key: value[t] if value.shape != shapes[key] else value
                for key, value in state.items()
            })
            tokens, grid = reference.embed(x)
            for index, block in enumerate(reference.vit.blocks):
                if index == 2:
                    extra = backbone.token_expansion['2'].tokens[t].expand(2, -1, -1)
                    tokens = block(torch.cat([tokens, extra], dim=1))[:, :tokens.shape[1]]
                else:
                    tokens = block(tokens)
                if index == 3:
                    modulation = backbone.token_modulation['3']
                    tokens = tokens * modulation.weight[t, 0] + modulation.bias[t, 0]
            torch.testing.assert_close(stacked[task][-1], reference.tokens_to_map(tokens, grid), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(stacked['semseg'][-1], stacked['depth'][-1])


def test_copies_diverge_per_task_after_a_step_on_one_task():
    backbone = tiny_backbone()
    new_params = backbone.expand(recon_plan(copied=('1', )))
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = backbone(x)
    optimizer = torch.optim.SGD(new_params, lr=0.5)
    backbone(x)['depth'][-1].square().mean().backward()  # depth's loss only
    assert all(param.grad[[0, 2]].abs().max() == 0 and param.grad[1].abs().max() > 0 for param in new_params)
    optimizer.step()
    with torch.no_grad():
        after = backbone(x)
    assert not torch.allclose(after['depth'][-1], before['depth'][-1])
    for task in ('semseg', 'normals'):
        torch.testing.assert_close(after[task][-1], before[task][-1])
    torch.testing.assert_close(after['depth'][0], before['depth'][0])  # block 0 is shared and was not stepped


def test_expanded_checkpoint_with_copies_rebuilds_a_fresh_model():
    backbone = tiny_backbone()
    backbone.expand(recon_plan(copied=('0.mlp', '2'), tm=(3, )))
    with torch.no_grad():
        backbone.vit.blocks[2].attn.qkv.weight.add_(torch.randn(3, 96, 32))
    state = backbone.state_dict()
    assert state['vit.blocks.2.attn.qkv.weight'].shape == (3, 96, 32)
    assert state['vit.blocks.0.mlp.fc1.weight'].shape == (3, 128, 32)
    assert state['vit.blocks.0.attn.qkv.weight'].shape == (96, 32)  # not copied
    fresh = tiny_backbone(seed=1)
    fresh.load_state_dict(state, strict=True)
    assert fresh.plan == backbone.plan
    x = torch.randn(1, 3, *TINY_SIZE)
    with torch.no_grad():
        for task in TASKS:
            torch.testing.assert_close(fresh(x)[task][-1], backbone(x)[task][-1])


def test_bad_copied_modules_are_refused_before_anything_changes():
    backbone = tiny_backbone()
    with pytest.raises(ValueError, match=r"cannot copy '1.mlp.fc9'"):
        backbone.expand(recon_plan(copied=('0', '1.mlp.fc9'), tm=(2, )))
    assert not backbone.is_expanded and len(backbone.token_modulation) == 0
    assert not isinstance(backbone.vit.blocks[0].attn.qkv, TaskLinear)
    with pytest.raises(ValueError, match='holds no parameters'):
        backbone.expand(recon_plan(copied=('1.attn.q_norm', )))


def test_plan_v2_copied_modules_validation_and_v1_reading():
    plan = recon_plan(copied=('3.attn', '1'), tm=(2, ))
    assert plan.first_modified_layer == 1 and plan.copied_blocks == [1, 3]
    assert Plan.from_json(plan.to_json()) == plan and plan.version == 3
    assert 'task-specific copies: 3.attn, 1' in plan.summary_table()
    v1 = dict(recon_plan(copied=(), tm=(2, )).to_dict(), version=1)
    del v1['copied_modules']
    upgraded = Plan.from_dict(v1)
    assert upgraded.copied_modules == [] and upgraded.version == 3 and upgraded.tm_layers == [2]
    with pytest.raises(ValueError, match='copied_modules needs a version-2'):
        Plan.from_dict(dict(v1, copied_modules=['1']))
    with pytest.raises(ValueError, match=r"copied_modules \['4'\] name blocks out of range"):
        recon_plan(copied=('4', )).validate()
    with pytest.raises(ValueError, match=r"copied_modules \['1.attn'\] lie inside"):
        recon_plan(copied=('1', '1.attn')).validate()
    with pytest.raises(ValueError, match=r"copied_modules \['blocks.1'\] are not paths"):
        recon_plan(copied=('blocks.1', )).validate()
    with pytest.raises(ValueError, match='version 4 is not supported'):
        Plan.from_dict(dict(plan.to_dict(), version=4))
