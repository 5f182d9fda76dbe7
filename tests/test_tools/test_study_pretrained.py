"""The pretrained regime of the synthetic study: the cached pretraining stage, rows that fine-tune from it, and the
paired statistics of the report."""
import math
from dataclasses import replace

import pytest
import torch

import study_pretrain
from study_pretrain import PretrainSettings, cache_key, pretrain_backbone
from study_report import claim_table, per_task_gain
from study_runner import StudyScale, build_run_config, study_rows
from study_stats import expected_random_jaccard, jaccard, mean_pairwise_jaccard, paired_interval, spread, verdict

TINY = StudyScale(
    name='tiny',
    image_size=(16, 24),
    num_train=8,
    num_val=4,
    embed_dim=16,
    depth=4,
    num_heads=2,
    patch_size=8,
    head_channels=8,
    batch_size=2,
    max_iters=2,
    warmup_iters=1,
    analysis_batches=1,
    lr=3e-4)
SETTINGS = PretrainSettings(num_scenes=6, iters=4, batch_size=3, warmup_iters=1, checkpoint_every=2)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('study'))
    return work_dir, pretrain_backbone(TINY, work_dir, SETTINGS, progress=False, log=lambda message: None)


def test_pretraining_is_cached_reused_and_keyed_by_its_settings(pretrained, monkeypatch):
    work_dir, weights = pretrained
    monkeypatch.setattr(study_pretrain, 'masked_patch_loss', lambda *args: pytest.fail('the cache must be reused'))
    logs = []
    assert pretrain_backbone(TINY, work_dir, SETTINGS, progress=False, log=logs.append) == weights
    assert logs == [f'pretrained backbone: {weights} (cached)']
    assert cache_key(replace(SETTINGS, mask_ratio=0.6), TINY) != cache_key(SETTINGS, TINY)
    assert cache_key(SETTINGS, replace(TINY, depth=5)) != cache_key(SETTINGS, TINY)
    assert cache_key(SETTINGS, replace(TINY, num_train=4)) == cache_key(SETTINGS, TINY)  # the targets do not matter


def test_an_interrupted_pretraining_resumes_to_the_same_weights(pretrained, tmp_path, monkeypatch):
    _, uninterrupted = pretrained
    calls, loss = [], study_pretrain.masked_patch_loss

    def failing_at_the_third_step(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return loss(*args)

    monkeypatch.setattr(study_pretrain, 'masked_patch_loss', failing_at_the_third_step)
    with pytest.raises(KeyboardInterrupt):
        pretrain_backbone(TINY, str(tmp_path), SETTINGS, progress=False, log=lambda message: None)
    monkeypatch.setattr(study_pretrain, 'masked_patch_loss', loss)
    logs = []
    resumed = pretrain_backbone(TINY, str(tmp_path), SETTINGS, progress=False, log=logs.append)
    assert 'pretraining: resuming at iteration 2 of 4' in logs
    first, second = torch.load(uninterrupted)['state_dict'], torch.load(resumed)['state_dict']
    assert first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_rows_fine_tune_from_the_cache_and_the_scratch_row_does_not(pretrained, tmp_path):
    import mmdtme.models  # noqa: F401
    from mmdtme.registry import MODELS
    _, weights = pretrained
    cached = torch.load(weights)['state_dict']
    rows = {row.name: row for row in study_rows('pretrained')}
    assert 'Baseline MT from scratch' in rows and 'Baseline MT from scratch' not in {r.name for r in study_rows()}
    for name, loaded, lr in (('TM+TE', True, TINY.lr), ('Baseline MT from scratch', False, TINY.scratch_lr),
                             ('TM+TE from scratch', False, TINY.scratch_lr)):
        cfg = build_run_config(rows[name], TINY, 0, str(tmp_path / name), str(tmp_path / 'data'), weights)
        assert cfg.optim_wrapper.optimizer.lr == lr
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()  # what the runner does before the first step
        state = model.backbone.vit.state_dict()
        assert all(torch.equal(state[key], cached[key]) for key in cached) == loaded, name


def test_paired_intervals_and_verdicts_against_hand_computed_values():
    interval = paired_interval([1.0, 1.2, 0.8, 1.1, 0.9])
    # mean 1, sd sqrt(0.1 / 4), t(0.975, 4) = 2.776445
    half = 2.776445 * math.sqrt(0.025) / math.sqrt(5)
    assert interval['mean'] == pytest.approx(1.0) and interval['sd'] == pytest.approx(math.sqrt(0.025))
    assert (interval['low'], interval['high']) == pytest.approx((1 - half, 1 + half), abs=1e-6)
    assert verdict(interval) == 'reproduced' and verdict(interval, expected_sign=-1) == 'not reproduced'
    wide = paired_interval([1.0, 2.0, 3.0])  # t(0.975, 2) = 4.302653: [2 - 2.484, 2 + 2.484]
    assert (wide['low'], wide['high']) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    assert verdict(wide) == 'undecided'
    assert verdict(paired_interval([-1.0, -1.2, -0.8])) == 'not reproduced'
    single = paired_interval([0.5])
    assert single['low'] == -math.inf and verdict(single) == 'undecided'


def test_jaccard_and_spread_on_fixed_inputs():
    assert jaccard([5, 6, 8], [5, 8, 9, 10]) == pytest.approx(2 / 5)
    assert jaccard([], []) == 1.0 and jaccard([1], [2]) == 0.0
    assert mean_pairwise_jaccard([[1, 2], [1, 2], [2, 3]]) == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert mean_pairwise_jaccard([[1]]) is None
    assert spread([0.49, 0.53, 0.51]) == pytest.approx(0.04)
    # two draws of 4 of 8: overlap 0..4 with probabilities 1, 16, 36, 16, 1 (/ 70), Jaccard i / (8 - i)
    assert expected_random_jaccard(8, 4) == pytest.approx((16 / 7 + 36 * 2 / 6 + 16 * 3 / 5 + 1) / 70)
    assert expected_random_jaccard(4, 4) == pytest.approx(1.0) and expected_random_jaccard(8, 0) == 1.0


def run(semseg, depth, seed_time=1.0):
    return dict(metrics={'semseg/mIoU': semseg, 'depth/rmse': depth}, params=1, train_time_s=seed_time)


def test_claims_compare_rows_seed_by_seed():
    reference = {'semseg/mIoU': 40.0, 'depth/rmse': 1.0}
    results = {
        'Baseline MT': {
            0: run(40.0, 1.0),
            1: run(44.0, 1.0),
            2: run(36.0, 1.0)
        },  # Δm 0, +5, -5
        'TM+TE': {
            0: run(41.6, 1.0),
            1: run(45.6, 1.0),
            2: run(37.6, 1.0),
            3: run(80.0, 0.1)
        },  # +2 each, seed 3 alone
        'Baseline MT from scratch': {
            0: run(40.0, 1.2),
            1: run(44.0, 1.2),
            2: run(36.0, 1.2)
        },
    }
    table = claim_table(results, reference)
    # TM+TE - MT per shared seed: +2.00 (semseg +4 % / 2 tasks) three times: sd 0, interval [2, 2]
    assert '| TM+TE > Baseline MT (Tab. 1) | +2.00 | [+2.00, +2.00] | 3 | reproduced |' in table
    # pretrained - scratch: depth rmse 1.0 vs 1.2 is +20 % / 2 = +10 points of Δm on every seed
    assert '| pretrained Baseline MT > from scratch | +10.00 | [+10.00, +10.00] | 3 | reproduced |' in table
    assert 'TM > Baseline MT' not in table  # a claim with a missing row is left out
    keys = {'semseg': 'semseg/mIoU', 'depth': 'depth/rmse'}
    gain = per_task_gain(results, keys, 'Baseline MT', 'Baseline MT from scratch')
    assert '| semseg | semseg/mIoU | +0.000 |' in gain
    assert '| depth | depth/rmse | +0.200 | [+0.200, +0.200] | 3 | better |' in gain  # rmse 1.2 -> 1.0: + = better


def test_the_per_seed_table_lists_every_run_s_delta_m():
    from study_report import per_seed_table
    reference = {'semseg/mIoU': 40.0, 'depth/rmse': 1.0}
    results = {'Baseline MT': {0: run(40.0, 1.0), 1: run(44.0, 1.0)}, 'TM+TE': {1: run(40.0, 0.9)}}
    # Δm: (0 + 0) / 2, (+10 + 0) / 2, (0 + 10) / 2 percent
    assert per_seed_table(results, ['Baseline MT', 'TM+TE', 'TM'], reference).splitlines() == [
        '| row | seed 0 | seed 1 |', '|---|---|---|', '| Baseline MT | +0.00 | +5.00 |', '| TM+TE | – | +5.00 |'
    ]
    assert per_seed_table({}, ['TM'], reference) is None


def test_diagnostics_read_k_spread_and_stability_off_the_seeds_plans():
    from study_report import analysis_diagnostics

    def plan(tm, te, ranges):
        return dict(ks=[4, 2], range_conflict=ranges, null_conflict=[0.5, 0.5], tm_layers=tm, te_layers=te)

    results = {'TM+TE': {0: dict(plan=plan([0], [1], [0.4, 0.6])), 1: dict(plan=plan([0], [0], [0.45, 0.55]))}}
    table = analysis_diagnostics(results, ['TM+TE', 'TE'])
    # spreads 0.2 and 0.1 -> 0.15; TM the same block twice (Jaccard 1), TE blocks 1 then 0 (Jaccard 0)
    assert '| TM+TE | 2 | 4 2 | 0.425-0.575 | 0.500-0.500 | 0.150 / 0.000 | [0] (1.00) | [0, 1] (0.00) |' in table
    assert analysis_diagnostics({}, ['TM+TE']) is None


def test_a_study_run_fine_tunes_the_pretrained_backbone_and_keeps_its_plan(pretrained, tmp_path):
    from study_runner import run_study
    _, weights = pretrained
    probe = 'analysis pretrained, after head warm-up, half B'
    rows = [row for row in study_rows('pretrained') if row.name in ('TM+TE', probe)]
    results = run_study(
        str(tmp_path / 'study'),
        rows, [0],
        TINY,
        data_root=str(tmp_path / 'data'),
        log=lambda m: None,
        pretrained=weights)
    plan = results['TM+TE'][0]['plan']
    assert len(plan['ks']) == TINY.depth and plan['tm_layers'] and plan['te_layers']
    assert len(plan['eigenvalues']) == TINY.depth and len(plan['eigenvalue_totals']) == TINY.depth
    with open(tmp_path / 'study' / 'runs' / 'tm-te' / 'seed0' / 'run.log') as f:
        assert f'backbone weights loaded from {weights}' in f.read()
    # the probe analysed after the warm-up, took one step, kept its plan and was not tested
    assert results[probe][0]['metrics'] == {} and len(results[probe][0]['plan']['ks']) == TINY.depth
    with open(tmp_path / 'study' / 'runs' / 'analysis-pretrained--after-head-warm-up--half-b' / 'seed0' /
              'run.log') as f:
        log = f.read()
    assert 'Iter(train) [2/2]' in log and 'Iter(train) [3/' not in log and 'Iter(test)' not in log


def test_analysis_probes_read_one_half_of_the_scenes_and_stop_after_the_analysis(tmp_path):
    scale = replace(TINY, num_train=10, max_iters=12, warmup_iters=3)
    probes = {row.name: row for row in study_rows('pretrained') if row.probe}
    assert len(probes) == 8 and not [row for row in study_rows() if row.probe]
    for name, expand_iter, indices, weights in (
        ('analysis pretrained, iteration 0, half A', 0, [0, 1, 2, 3, 4], 'weights.pth'),
        ('analysis from scratch, after head warm-up, half B', 3, [5, 6, 7, 8, 9], None),
    ):
        cfg = build_run_config(probes[name], scale, 0, str(tmp_path), str(tmp_path / 'data'), 'weights.pth')
        hook = cfg.custom_hooks[0]
        assert hook['expand_iter'] == expand_iter and hook['analysis_dataloader']['dataset']['indices'] == indices
        assert hook['analysis_dataloader']['sampler']['shuffle'] is False
        assert cfg.train_cfg.max_iters == expand_iter + 1 and cfg.study_probe
        assert cfg.default_hooks.checkpoint['save_last'] is False
        assert cfg.model.backbone.pretrained == weights
        assert cfg.param_scheduler[1]['end'] == 12  # the LR of a real run up to the analysis


def test_selection_stability_compares_seeds_and_halves_of_the_probes():
    from study_report import selection_stability, stability_observation

    def plan(tm, te, top=(3.0, 1.0)):
        return dict(
            ks=[2, 1],
            eigenvalues=[list(top), [1.0, 1.0]],
            eigenvalue_totals=[8.0, 4.0],
            range_conflict=[0.4, 0.5],
            null_conflict=[0.5, 0.5],
            tm_layers=tm,
            te_layers=te)

    results = {
        'analysis pretrained, iteration 0, half A': {
            0: dict(plan=plan([0], [1])),
            1: dict(plan=plan([0], [0]))
        },
        'analysis pretrained, iteration 0, half B': {
            0: dict(plan=plan([0], [1], top=(7.0, 1.0))),
            1: dict(plan=plan([1], [0, 1]))
        },
    }
    table = selection_stability(results)
    # top-8 shares: block 0 (4 / 8, 4 / 8, 8 / 8, 4 / 8) -> 0.625, block 1 2 / 4; TM across seeds: A 1, B 0;
    # A vs B: seed 0 1, seed 1 0 -> 0.5; TE across seeds: A 0, B 0.5; A vs B: seed 0 1, seed 1 1 / 2 -> 0.75
    assert table.splitlines()[2] == ('| pretrained | iteration 0 | 4 | 2 1 | 0.62 0.50 | 0.100 / 0.000 | 1.00 / 0.00 | '
                                     '0.50 | 0.00 / 0.50 | 0.75 |')
    assert len(table.splitlines()) == 3 and selection_stability({}) is None
    # 2 blocks, 1 TE layer chosen in the first plan: two random draws agree half of the time
    assert stability_observation(results) == (
        'Analysis probes: the chosen TM / TE layers overlap across seeds by 0.00-1.00 (Jaccard; two random draws of 1 '
        'of 2 layers: 0.50) and across the two halves of the scenes with the same seed by 0.50-0.75, over both '
        'backbones and both analysis times.')


def test_expansion_rows_of_the_pretrained_regime_train_the_whole_schedule_after_expanding(tmp_path):
    scale = replace(TINY, max_iters=12, warmup_iters=2)
    rows = {row.name: row for row in study_rows('pretrained')}
    for name, expand_iter in (('expand after head warm-up', 2), ('expand at 1/4', 3)):
        cfg = build_run_config(rows[name], scale, 0, str(tmp_path), str(tmp_path / 'data'), 'weights.pth')
        assert cfg.custom_hooks[0]['expand_iter'] == expand_iter
        assert cfg.train_cfg.max_iters == expand_iter + 12
        warmup, decay = cfg.param_scheduler
        assert (warmup['begin'], warmup['end']) == (0, 2) and (decay['begin'], decay['end']) == (expand_iter, 14 +
                                                                                                 (expand_iter - 2))
    assert {'expand at 1/2'} & set(rows) == set() and 'expand at 1/2' in {row.name for row in study_rows()}
    # Baseline MT on each later expansion's schedule: the same iterations and LR, no DTMEHook
    for when, expand_iter in (('head warm-up', 2), ('1/4', 3)):
        cfg = build_run_config(rows[f'Baseline MT on the {when} schedule'], scale, 0, str(tmp_path),
                               str(tmp_path / 'data'), 'weights.pth')
        assert cfg.train_cfg.max_iters == expand_iter + 12 and cfg.param_scheduler[1]['begin'] == expand_iter
        assert not [hook for hook in cfg.custom_hooks if hook['type'] == 'DTMEHook']
    with pytest.raises(ValueError, match='has no DTMEHook'):  # other DTME options on an MT config are an error
        build_run_config(
            replace(rows['Baseline MT'], dtme=dict(ratio=0.25)), scale, 0, str(tmp_path), str(tmp_path / 'data'),
            'weights.pth')


def test_fig_3_gain_claims_subtract_each_expansion_s_baseline_mt():
    reference = {'semseg/mIoU': 40.0, 'depth/rmse': 1.0}
    semseg = {  # Δm = (mIoU / 40 - 1) * 50 points, seeds 0 and 1
        'TM+TE': (41.6, 40.8),  # +2, +1
        'Baseline MT': (40.0, 40.0),  # 0, 0
        'expand at 1/4': (44.0, 43.2),  # +5, +4
        'Baseline MT on the 1/4 schedule': (43.2, 43.2),  # +4, +4
    }
    results = {name: {seed: run(value, 1.0) for seed, value in enumerate(values)} for name, values in semseg.items()}
    table = claim_table(results, reference)
    # gains over MT: at 0 +2, +1; at 1/4 +1, 0 -> differences +1, +1
    assert '| gain over MT: expansion at 0 > at 1/4 (Fig. 3) | +1.00 | [+1.00, +1.00] | 2 | reproduced |' in table
    assert '| expansion at 1/4 > Baseline MT on its schedule | +0.50 |' in table
    # the raw comparison, longer training included: at 0 minus at 1/4 = -3, -3
    assert '| expansion at 0 > at 1/4 (Fig. 3) | -3.00 | [-3.00, -3.00] | 2 | not reproduced |' in table
    assert 'after a head warm-up' not in table  # its rows did not run


def test_tab_14_claims_compare_the_fall_of_conflicts_seed_by_seed():
    from study_report import conflict_claim_lines

    def monitored(before, after):
        return dict(conflicts=[
            dict(range_conflict=[before, before], null_conflict=[0.5, 0.5]),
            dict(range_conflict=[after, after], null_conflict=[0.5, 0.5])
        ])

    results = {
        'Baseline MT': {
            0: monitored(0.50, 0.45),
            1: monitored(0.50, 0.46)
        },  # falls 0.05, 0.04
        'TM': {
            0: monitored(0.50, 0.40),
            1: monitored(0.50, 0.41)
        },  # falls 0.10, 0.09: 5 points more each
    }
    lines = conflict_claim_lines(results)
    assert lines == [
        '| TM lowers range conflicts more than Baseline MT (Tab. 14) | +5.00 | [+5.00, +5.00] | 2 | '
        'reproduced |'
    ]


def test_wall_time_counts_the_time_finished_runs_were_running(tmp_path):
    import os

    from synthetic_study import runs_wall_time
    rows = [row for row in study_rows() if row.name in ('Baseline MT', 'TM+TE')]
    # two runs side by side, then one resumed much later: 400 s + 100 s, the pause between not counted
    spans = ((rows[0], 0, 1000.0, 1100.0), (rows[1], 0, 1050.0, 1400.0), (rows[1], 1, 9000.0, 9100.0))
    for row, seed, start, end in spans:
        run_dir = tmp_path / 'runs' / row.slug / f'seed{seed}'
        run_dir.mkdir(parents=True)
        for name, stamp in (('config.py', start), ('result.json', end)):
            (run_dir / name).write_text('{}')
            os.utime(run_dir / name, (stamp, stamp))
    unfinished = tmp_path / 'runs' / rows[0].slug / 'seed1'
    unfinished.mkdir()
    (unfinished / 'config.py').write_text('')  # no result: not counted
    os.utime(unfinished / 'config.py', (10.0, 10.0))
    assert runs_wall_time(str(tmp_path), rows, [0, 1]) == pytest.approx(500.0)
    assert runs_wall_time(str(tmp_path / 'empty'), rows, [0]) == 0.0


def test_a_report_without_st_rows_or_with_probes_only_is_written(tmp_path):
    from study_report import write_report
    rows = study_rows('pretrained')
    plan = dict(
        ks=[2, 1],
        eigenvalues=[[3.0, 1.0], [1.0, 1.0]],
        eigenvalue_totals=[8.0, 4.0],
        range_conflict=[0.4, 0.5],
        null_conflict=[0.5, 0.5],
        tm_layers=[0],
        te_layers=[1])
    probe = dict(metrics={}, params=1, train_time_s=1.0, plan=plan)
    results = {
        'Baseline MT': {
            0: run(40.0, 1.0)
        },  # no ST row: no Δm, the metrics still reported
        'analysis pretrained, iteration 0, half A': {
            0: probe
        },
    }
    markdown = write_report(str(tmp_path / 'report.md'), str(tmp_path / 'plots'), results, rows, 'tiny')
    assert '| Baseline MT | 40.00 ± 0.00 | 1.000 ± 0.000 | – | 0.000 | 1 | 1 |' in markdown
    assert '| pretrained | iteration 0 | 1 | 2 1 | 0.50 0.50 | 0.100 / 0.000 |' in markdown
    assert (tmp_path / 'plots' / 'spectra.png').is_file()


@pytest.mark.parametrize('with_controls', [True, False])
def test_the_report_explains_the_schedule_controls_only_when_they_ran(tmp_path, with_controls):
    from study_report import write_report
    semseg = {  # two seeds each; the ST rows give the Δm reference
        'ST semseg': (40.0, 40.0),
        'ST depth': (0.0, 0.0),
        'Baseline MT': (40.0, 40.4),
        'TM+TE': (41.6, 40.8),
        'expand at 1/4': (44.0, 43.2),
        'Baseline MT on the 1/4 schedule': (43.2, 43.2),
    }
    if not with_controls:
        del semseg['Baseline MT on the 1/4 schedule']
    results = {name: {seed: run(value, 1.0) for seed, value in enumerate(values)} for name, values in semseg.items()}
    markdown = write_report(str(tmp_path / 'report.md'), str(tmp_path / 'plots'), results, study_rows('pretrained'),
                            'tiny')
    assert '| expansion at 0 > at 1/4 (Fig. 3) |' in markdown  # the raw Fig. 3 line either way
    assert ('| gain over MT: expansion at 0 > at 1/4 (Fig. 3) |' in markdown) is with_controls
    assert ('the "gain over MT" lines compare each expansion' in markdown) is with_controls
    assert ('Baseline MT on the same schedule shows what the longer training alone gives' in markdown) is with_controls
