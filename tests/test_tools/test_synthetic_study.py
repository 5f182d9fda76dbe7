import json
import os.path as osp

import pytest

from study_report import markdown_table, st_reference, summarize_row, write_report
from study_runner import StudyScale, build_run_config, run_study, study_rows

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses

TINY_SCALE = StudyScale(
    name='tiny',
    image_size=(32, 48),
    num_train=8,
    num_val=4,
    embed_dim=32,
    depth=4,
    num_heads=2,
    head_channels=8,
    batch_size=4,
    max_iters=2,
    warmup_iters=1,
    analysis_batches=1)


def fake_run(miou, rmse, normals, edge, params=1_000_000, time_s=10.0, conflicts=None):
    metrics = {'semseg/mIoU': miou, 'depth/rmse': rmse, 'normals/mean': normals, 'edge/pixel_odsF': edge}
    run = dict(metrics=metrics, params=params, train_time_s=time_s)
    if conflicts:
        run['conflicts'] = conflicts
    return run


FAKE_RESULTS = {
    'ST semseg': {
        0: dict(metrics={'semseg/mIoU': 40.0}, params=1, train_time_s=1.0),
        1: dict(metrics={'semseg/mIoU': 44.0}, params=1, train_time_s=1.0)
    },
    'ST depth': {
        0: dict(metrics={'depth/rmse': 1.0}, params=1, train_time_s=1.0)
    },
    'ST normals': {
        0: dict(metrics={'normals/mean': 30.0}, params=1, train_time_s=1.0)
    },
    'ST edge': {
        0: dict(metrics={'edge/pixel_odsF': 50.0}, params=1, train_time_s=1.0)
    },
    # seed 0: +10 %, -10 % (rmse up), +0 %, +0 % → Δm 0; seed 1: +5 %, +10 % (rmse down), -10 % (worse), +10 %
    'Baseline MT': {
        0: fake_run(46.2, 1.1, 30.0, 50.0),
        1: fake_run(44.1, 0.9, 33.0, 55.0, time_s=20.0)
    },
}


def test_summary_uses_mean_st_reference_and_per_seed_delta_m():
    keys = {'semseg': 'semseg/mIoU', 'depth': 'depth/rmse', 'normals': 'normals/mean', 'edge': 'edge/pixel_odsF'}
    reference = st_reference(FAKE_RESULTS, keys)
    assert reference == {'semseg/mIoU': 42.0, 'depth/rmse': 1.0, 'normals/mean': 30.0, 'edge/pixel_odsF': 50.0}
    summary = summarize_row(FAKE_RESULTS['Baseline MT'], keys, reference)
    delta_seed0 = 100 * ((46.2 - 42) / 42 - 0.1 + 0 + 0) / 4
    delta_seed1 = 100 * ((44.1 - 42) / 42 + 0.1 - 0.1 + 0.1) / 4
    mean = (delta_seed0 + delta_seed1) / 2
    std = abs(delta_seed0 - delta_seed1) / 2**0.5
    assert summary['delta_m'] == pytest.approx((mean, std))
    assert summary['metrics']['depth/rmse'] == pytest.approx((1.0, 0.2 / 2**0.5))
    assert summary['train_time_s'] == pytest.approx((15.0, 10 / 2**0.5))
    table = markdown_table([('Baseline MT', summary)], keys)
    lines = table.splitlines()
    assert lines[0] == ('| Model | semseg/mIoU ↑ | depth/rmse ↓ | normals/mean ↓ | edge/pixel_odsF ↑ | Δm (%) ↑ '
                        '| Params (M) | Train time (s) | Seeds |')
    assert lines[2] == (f'| Baseline MT | 45.15 ± 1.48 | 1.000 ± 0.141 | 31.50 ± 2.12 | 52.50 ± 3.54 '
                        f'| {summary["delta_m"][0]:.2f} ± {std:.2f} | 1.000 | 15 | 2 |')


def test_report_lists_missing_rows_and_conflict_table(tmp_path):
    history = [
        dict(iter=0, range_conflict=[0.6, 0.4], null_conflict=[0.5, 0.5]),
        dict(iter=10, range_conflict=[0.2, 0.4], null_conflict=[0.3, 0.1])
    ]
    results = dict(FAKE_RESULTS)
    results['Baseline MT'] = {0: fake_run(46.2, 1.1, 30.0, 50.0, conflicts=history)}
    rows = [
        row for row in study_rows()
        if row.name in ('ST semseg', 'ST depth', 'ST normals', 'ST edge', 'Baseline MT', 'TM+TE')
    ]
    markdown = write_report(str(tmp_path / 'report.md'), str(tmp_path / 'plots'), results, rows, 'fake')
    assert 'Rows without any finished run: TM+TE.' in markdown
    # MT seed 0 vs the ST means: semseg (46.2 - 42) / 42 = +10.0 %, depth rmse 1.1 vs 1.0 = -10.0 %
    assert ('- Baseline MT vs ST (relative change of the mean, positive = better): semseg +10.0 %, depth -10.0 %, '
            'normals +0.0 %, edge +0.0 %; negative transfer on depth.') in markdown
    assert '| Baseline MT (before) | range | 0.600 | 0.400 | 0.500 |' in markdown
    assert '| Baseline MT (after) | null | 0.300 | 0.100 | 0.200 |' in markdown
    assert osp.isfile(tmp_path / 'plots' / 'conflicts.png')


def test_row_configs_change_only_the_row_settings(tmp_path):
    rows = {row.name: row for row in study_rows()}
    base = build_run_config(rows['TM+TE'], TINY_SCALE, 0, str(tmp_path), str(tmp_path / 'data'))
    quarter = build_run_config(rows['expand at 1/4'], TINY_SCALE, 0, str(tmp_path), str(tmp_path / 'data'))
    hooks = {hook['type']: hook for hook in base.custom_hooks}
    assert hooks['DTMEHook']['expand_iter'] == 0 and hooks['DTMEHook']['max_batches'] == 1
    assert hooks['ConflictMonitorHook']['measure_before_train']
    assert [hook for hook in quarter.custom_hooks if hook['type'] == 'DTMEHook'][0]['expand_iter'] == 0  # round(0.5)
    assert 'st_reference' not in base.val_evaluator
    assert base.model.backbone.model_kwargs == dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)
    assert base.train_cfg.max_iters == 2 and base.train_cfg.val_interval == 3 and base.randomness.seed == 0
    for row in study_rows():
        assert osp.isfile(osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), row.config)), row


def test_study_runs_two_rows_and_resumes(tmp_path):
    rows = [row for row in study_rows() if row.name in ('ST semseg', 'Baseline MT')]
    logs = []
    results = run_study(
        str(tmp_path / 'study'), rows, [0], TINY_SCALE, jobs=2, data_root=str(tmp_path / 'data'), log=logs.append)
    assert sorted(results) == ['Baseline MT', 'ST semseg'], logs
    mt = results['Baseline MT'][0]
    assert set(mt['metrics']) >= {'semseg/mIoU', 'depth/rmse', 'normals/mean', 'edge/pixel_odsF'}
    assert mt['params'] > results['ST semseg'][0]['params']
    assert [entry['iter'] for entry in mt['conflicts']] == [0, 2]
    with open(tmp_path / 'study' / 'runs' / 'baseline-mt' / 'seed0' / 'result.json') as f:
        assert json.load(f) == mt
    logs.clear()
    run_study(str(tmp_path / 'study'), rows, [0], TINY_SCALE, data_root=str(tmp_path / 'data'), log=logs.append)
    assert logs[0] == '0 run(s) to do, 2 already done'


def test_observations_compare_delta_m_with_the_baseline_spread():
    from study_report import observations
    summaries = {
        'Baseline MT': dict(metrics={}, delta_m=(1.0, 0.5)),
        'TM': dict(metrics={}, delta_m=(2.0, 0.2)),  # 1.0 above, margin 0.5 → above
        'TE': dict(metrics={}, delta_m=(1.3, 0.8)),  # within the larger std
        'ST semseg': dict(metrics={}, delta_m=(0.0, 0.0)),
        'PCGrad': dict(metrics={}, delta_m=(-0.5, 0.1))
    }
    lines = observations(summaries, {}, {})
    assert lines == [
        'TM: Δm +2.00 ± 0.20 %, above Baseline MT (+1.00 ± 0.50 %).',
        'TE: Δm +1.30 ± 0.80 %, within one standard deviation of Baseline MT (+1.00 ± 0.50 %).',
        'PCGrad: Δm -0.50 ± 0.10 %, below Baseline MT (+1.00 ± 0.50 %).'
    ]
