"""tools/analyze.py: the report, and the same plan from 2 gloo processes as from one."""
import json
import os.path as osp
import sys
import time

import pytest
import torch

from helpers import free_port, run_tool, tiny_synth_config
from mmdtme.registry import MODELS

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


@pytest.fixture(scope='module')
def analysis_setup(synthetic_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('analysis'))
    cfg = tiny_synth_config(synthetic_root, work)
    cfg.model.backbone.type = 'DTMEViT'
    cfg.custom_hooks = [dict(type='DTMEHook', ratio=0.5)]  # the whole training set: 16 scenes
    config = osp.join(work, 'tiny_dtme.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = osp.join(work, 'weights.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return config, checkpoint, work


def read_plan(directory):
    with open(osp.join(directory, 'dtme_plan.json')) as f:
        return json.load(f)


def test_analyze_writes_the_report(analysis_setup):
    config, checkpoint, work = analysis_setup
    out = osp.join(work, 'single')
    log = run_tool(sys.executable, 'tools/analyze.py', config, '--checkpoint', checkpoint, '--out', out)
    plan = read_plan(out)
    assert 'layer     k   range    null  TM  TE' in log
    assert len(plan['tm_layers']) == 2 and len(plan['ks']) == 4
    assert osp.isfile(osp.join(out, 'dtme_spectra.png')) and osp.isfile(osp.join(out, 'dtme_conflicts.png'))


@pytest.mark.distributed
def test_two_processes_give_the_single_process_plan(analysis_setup):
    config, checkpoint, work = analysis_setup
    single, double = osp.join(work, 'single_ref'), osp.join(work, 'double')
    run_tool(sys.executable, 'tools/analyze.py', config, '--checkpoint', checkpoint, '--out', single)
    log = run_tool(sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                   str(free_port()), 'tools/analyze.py', config, '--checkpoint', checkpoint, '--out', double,
                   '--launcher', 'pytorch')
    assert '(2 processes)' in log
    one, two = read_plan(single), read_plan(double)
    for key in ('tm_layers', 'te_layers', 'ks'):
        assert one[key] == two[key], key
    # The products are float32 and the processes see other batch compositions, so a product within rounding of 0
    # can take the other sign, moving a fraction by one entry of 16 scenes x 25 tokens x 6 task pairs. Two such flips
    # are allowed; a batch missing from the reduction or counted twice moves the cosine sums below by far more.
    entries = 16 * 25 * 6
    for key in ('range_conflict', 'null_conflict'):
        assert one[key] == pytest.approx(two[key], abs=2.5 / entries), key
    for key in ('range_cosine', 'null_cosine', 'eigenvalue_totals'):
        assert one[key] == pytest.approx(two[key], rel=1e-4, abs=1e-7), key


def test_benchmark_writes_every_ratio(analysis_setup):
    config, _, work = analysis_setup
    out = osp.join(work, 'bench.json')
    log = run_tool(sys.executable, 'tools/benchmark.py', config, '--batches', '2', '--repeats', '2', '--out', out)
    with open(out) as f:
        results = json.load(f)
    for key in ('analysis_floor_ratio', 'train_step_ratio', 'train_flop_ratio', 'infer_step_ratio', 'infer_flop_ratio',
                'analysis_mem_ratio', 'floor_time', 'analysis_time', 'analysis_fp64_share'):
        assert key in results, key
    assert results['analysis_fp64_share'] <= 0.01  # the analysis multiplies in the tokens' float32
    assert results['saved_bytes_dtme_cp'] < results['saved_bytes_dtme']  # checkpointed blocks keep their inputs only
    assert results['train_step_spread'][0] <= results['train_step_ratio'] <= results['train_step_spread'][1]
    assert results['analysis_floor_ratio'] > 0 and results['train_step_ratio'] > 0  # times are not asserted
    assert results['train_flop_ratio'] > 1.0 and results['infer_flop_ratio'] > 1.0  # task streams cost FLOPs
    assert results['dtme_extra_params'] > 0
    assert 'analysis / floor' in log


def test_benchmark_repeats_short_calls_within_a_round():
    import importlib.util
    spec = importlib.util.spec_from_file_location('benchmark_tool', 'tools/benchmark.py')
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    calls = {'fast': 0, 'slow': 0}

    def fast():
        calls['fast'] += 1

    def slow():
        calls['slow'] += 1
        time.sleep(0.001)

    timing = benchmark.compare(fast, slow, repeats=3)
    per_round = timing['calls_per_round']
    assert 50 < per_round <= 500  # calls of a millisecond or less repeat until the slower lasts MIN_ROUND_SECONDS
    assert calls == {'fast': 1 + 3 * per_round, 'slow': 1 + 3 * per_round}  # one warm-up, then the same count each
    assert timing['second'] >= 0.001 and timing['ratio'] > 10
    timing = benchmark.compare(fast, lambda: time.sleep(0.6), repeats=2)
    assert timing['calls_per_round'] == 1  # a call longer than a round runs once
