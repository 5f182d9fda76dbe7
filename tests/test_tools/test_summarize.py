"""tools/analysis_tools/summarize.py and get_flops.py, and tools/test.py --show-dir on a tiny checkpoint."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import REPO_ROOT, run_tool, tiny_synth_config

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, 'tools', 'analysis_tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summarize_tool = load_tool('summarize')


def fake_work_dir(root, name, metrics, as_validation=False):
    work_dir = osp.join(root, 'work_dirs', name)
    if as_validation:  # only mmengine's training log: a train record, then the validation
        os.makedirs(osp.join(work_dir, '20250101_000000', 'vis_data'))
        with open(osp.join(work_dir, '20250101_000000', 'vis_data', 'scalars.json'), 'w') as f:
            f.write(json.dumps({'loss': 1.0, 'iter': 10, 'step': 10}) + '\n')
            f.write(json.dumps(dict(metrics, step=10)) + '\n')
    else:
        os.makedirs(work_dir)
        with open(osp.join(work_dir, 'test_metrics.json'), 'w') as f:
            json.dump(metrics, f)
    return work_dir


def table_rows(table):
    lines = [line for line in table.splitlines() if line.startswith('|')]
    header = [cell.strip() for cell in lines[0].strip('|').split('|')]
    return header, {
        cells[0]: dict(zip(header, cells))
        for cells in ([cell.strip() for cell in line.strip('|').split('|')] for line in lines[2:])
    }


def test_table_values_and_delta_m_signs(tmp_path):
    root = str(tmp_path)
    st = fake_work_dir(
        root, 'st', {
            'semseg/mIoU': 40.0,
            'semseg/aAcc': 60.0,
            'depth/rmse': 0.5,
            'normals/mean': 20.0,
            'edge/pixel_odsF': 50.0,
            'edge/threshold': 0.3
        })
    # better everywhere by 10 %: mIoU up, RMSE and angle down, odsF up -> Δm = +10
    better = fake_work_dir(
        root,
        'mt/better', {
            'semseg/mIoU': 44.0,
            'depth/rmse': 0.45,
            'normals/mean': 18.0,
            'edge/pixel_odsF': 55.0,
            'delta_m': 3.0
        },
        as_validation=True)
    # depth RMSE 20 % higher (worse), the rest equal -> Δm = -20 / 4 = -5
    worse = fake_work_dir(root, 'mt/worse', {
        'semseg/mIoU': 40.0,
        'depth/rmse': 0.6,
        'normals/mean': 20.0,
        'edge/pixel_odsF': 50.0
    })
    table = summarize_tool.summarize([st, better, worse], reference_row='st', flops=False)
    header, rows = table_rows(table)
    assert header == ['run', 'semseg mIoU ↑', 'depth rmse ↓', 'normals mean ↓', 'edge pixel_odsF ↑', 'Δm (%) ↑']
    assert rows['mt/better']['semseg mIoU ↑'] == '44.00' and rows['mt/better']['depth rmse ↓'] == '0.450'
    assert rows['st']['Δm (%) ↑'] == '+0.00'
    assert rows['mt/better']['Δm (%) ↑'] == '+10.00'
    assert rows['mt/worse']['Δm (%) ↑'] == '-5.00'
    assert 'scalars.json' in table and 'test_metrics.json' in table  # sources are named
    # the same against ST references given as work dirs; without any, the logged delta_m
    _, rows = table_rows(summarize_tool.summarize([better, worse], st_reference=[st], flops=False))
    assert rows['mt/better']['Δm (%) ↑'] == '+10.00' and rows['mt/worse']['Δm (%) ↑'] == '-5.00'
    _, rows = table_rows(summarize_tool.summarize([better, worse], flops=False))
    assert rows['mt/better']['Δm (%) ↑'] == '+3.00' and rows['mt/worse']['Δm (%) ↑'] == '–'
    # one task from its own ST file: Δm over that task only
    _, rows = table_rows(summarize_tool.summarize([worse], st_reference=[f'depth={st}'], flops=False))
    assert rows['mt/worse']['Δm (%) ↑'] == '-20.00'
    with pytest.raises(SystemExit, match='not a row'):
        summarize_tool.summarize([better], reference_row='nope', flops=False)


@pytest.fixture(scope='module')
def tiny_run(synthetic_root, tmp_path_factory):
    """A 2-iteration run of the tiny config (trained in this process), then tools/test.py --show-dir on it."""
    from mmengine.runner import Runner
    work_dir = str(tmp_path_factory.mktemp('tiny_run'))
    cfg = tiny_synth_config(synthetic_root, work_dir, max_iters=2)
    cfg.visualizer.name = 'tiny_run_visualizer'
    Runner.from_cfg(cfg).train()
    config = osp.join(work_dir, 'tiny_synth.py')
    cfg.dump(config)
    show_dir = osp.join(work_dir, 'show')
    run_tool(sys.executable, 'tools/test.py', config, osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir,
             '--show-dir', show_dir)
    return work_dir, show_dir


def test_test_tool_writes_metrics_and_panels(tiny_run, synthetic_root):
    work_dir, show_dir = tiny_run
    evaluations = [d for d in os.listdir(work_dir) if d.startswith('test_')]  # the evaluation's own folder
    assert len(evaluations) == 1
    with open(osp.join(work_dir, evaluations[0], 'test_metrics.json')) as f:
        metrics = json.load(f)
    assert {'semseg/mIoU', 'depth/rmse', 'normals/mean', 'edge/pixel_odsF'} <= set(metrics)
    panels = sorted(os.listdir(show_dir))
    with open(osp.join(synthetic_root, 'gt_sets', 'val.txt')) as f:
        names = [line.strip() for line in f if line.strip()]
    assert panels == sorted(f'{name}.png' for name in names)
    panel = np.asarray(Image.open(osp.join(show_dir, panels[0])).convert('RGB'))
    image = np.asarray(Image.open(osp.join(synthetic_root, 'images', panels[0])).convert('RGB'))
    height, width = image.shape[:2]
    assert panel.shape == (2 * height, 5 * width, 3)  # GT and prediction rows: image + 4 tasks
    np.testing.assert_array_equal(panel[:height, :width], image)


def test_summarize_builds_the_model_for_params_and_flops(tiny_run):
    from mmengine.config import Config

    from mmdtme.utils.complexity import build_model_for_counting, config_complexity
    work_dir, _ = tiny_run
    table = summarize_tool.summarize([work_dir], names=['tiny'])
    _, rows = table_rows(table)
    cfg = Config.fromfile(osp.join(work_dir, 'tiny_synth.py'))
    expected = config_complexity(cfg)
    assert expected['shape'] == (32, 48)
    assert expected['params'] == sum(p.numel() for p in build_model_for_counting(cfg).parameters())
    assert float(rows['tiny']['params (M)']) == pytest.approx(expected['params'] / 1e6, rel=1e-2)
    assert float(rows['tiny']['FLOPs (G)']) == pytest.approx(expected['flops'] / 1e9, rel=1e-2)
    assert 'test_metrics.json' in table


def test_flops_count_attention():
    import torch

    from mmdtme.utils.complexity import count_complexity

    class Attention(torch.nn.Module):

        def forward(self, x):
            q = x.reshape(3, 2, 10, 4)  # B=3, heads=2, L=10, E=4
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    result = count_complexity(Attention(), (4, 20))  # 1x3x4x20 = 240 values = 2*10*4*3
    assert result['flops'] == 3 * 2 * 10 * 10 * (4 + 4)  # per head and batch: QK^T and AV


def test_flops_count_convolutions_and_matmuls_by_hand():
    import torch

    from mmdtme.utils.complexity import count_complexity, count_flops
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    result = count_complexity(conv, (4, 5))
    assert result == dict(params=8 * 3 * 9, flops=8 * 3 * 9 * 4 * 5)  # one multiply-add per weight and output pixel
    a, b = torch.ones(6, 7, requires_grad=True), torch.ones(7, 2)
    # forward 6·7·2; backward: dA = dC·Bᵀ (6·2·7); no gradient is asked of B
    assert count_flops(lambda: (a @ b).sum().backward()) == 2 * 6 * 7 * 2


def test_st_reference_tool_writes_the_main_metrics_and_never_overwrites(tmp_path):
    runs = []
    for task, metrics in (('semseg', {'semseg/mIoU': 40.0, 'semseg/aAcc': 70.0}), ('depth', {'depth/rmse': 0.5})):
        run = tmp_path / f'st_{task}'
        run.mkdir()
        (run / 'test_metrics.json').write_text(json.dumps(metrics))
        runs.append(str(run))
    out = str(tmp_path / 'reference.json')
    run_tool(sys.executable, 'tools/analysis_tools/st_reference.py', *runs, '--out', out)
    with open(out) as f:
        written = json.load(f)
    assert written['metrics'] == {'semseg/mIoU': 40.0, 'depth/rmse': 0.5}
    assert written['sources']['depth/rmse'] == osp.join(runs[1], 'test_metrics.json')
    before = open(out).read()
    result = subprocess.run([sys.executable, 'tools/analysis_tools/st_reference.py', runs[0], '--out', out],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0 and 'exists; pass --force' in result.stderr
    assert open(out).read() == before


def test_get_flops_counts_the_plan_of_a_checkpoint_and_says_when_it_has_none(synthetic_root, tmp_path, capsys,
                                                                             monkeypatch):
    import torch

    from mmdtme.dtme import Plan
    get_flops = load_tool('get_flops')
    cfg = tiny_synth_config(synthetic_root, str(tmp_path))
    cfg.model.backbone.type = 'DTMEViT'
    config = str(tmp_path / 'dtme.py')
    cfg.dump(config)
    plan = Plan(tasks=list(cfg.model.tasks), num_layers=4, channels=32, tm_layers=[1], te_layers=[2], num_tokens=6)
    checkpoint = str(tmp_path / 'expanded.pth')
    torch.save(dict(state_dict={'backbone.dtme_plan': plan.to_tensor()}), checkpoint)

    def run(*args):
        monkeypatch.setattr(sys, 'argv', ['get_flops.py', config, *args])
        get_flops.main()
        return capsys.readouterr().out

    plain = run()
    assert 'before the DTME expansion' in plain
    expanded = run('--checkpoint', checkpoint)
    added = 4 * 32 * 2 + 4 * 6 * 32  # TM: W and b per task and channel; TE: 6 tokens per task
    assert f'(+{added / 1e6:.3g} M, +' in expanded and 'before the DTME expansion' not in expanded
    plan_file = str(tmp_path / 'plan.json')
    plan.save(plan_file)
    assert run('--plan', plan_file).splitlines()[-1].split(':', 1)[1] == expanded.splitlines()[-1].split(':', 1)[1]
    torch.save(dict(state_dict={}), checkpoint)
    with pytest.raises(SystemExit, match='holds no DTME plan'):
        run('--checkpoint', checkpoint)
