"""Δm references read from single-task runs: metrics JSONs, work dirs, and the errors when they are missing."""
import json
import logging
import os
import os.path as osp

import pytest

from mmdtme.evaluation import MultiTaskMetric, delta_m
from mmdtme.evaluation.delta_m import find_run_metrics, main_metric, resolve_st_reference


def write_json(path, data):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def write_scalars(work_dir, run, records):
    path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(json.dumps(record) + '\n' for record in records))
    return path


def test_numbers_pass_through_and_task_paths_take_the_main_metric(tmp_path):
    semseg = write_json(str(tmp_path / 'st_semseg' / 'test.json'), {'semseg/mIoU': 45.1, 'semseg/aAcc': 70.0})
    edge = write_json(str(tmp_path / 'st_edge.json'), {'edge/pixel_odsF': 60.5, 'edge/threshold': 0.4})
    reference = resolve_st_reference({'semseg': semseg, 'depth/rmse': 0.54, 'edge': edge})
    assert reference == {'semseg/mIoU': 45.1, 'depth/rmse': 0.54, 'edge/pixel_odsF': 60.5}


def test_edge_prefers_bsds_odsf_when_reported():
    assert main_metric('edge', {'edge/pixel_odsF': 60.0, 'edge/odsF': 77.0}) == 'edge/odsF'
    assert main_metric('edge', {'edge/pixel_odsF': 60.0}) == 'edge/pixel_odsF'
    assert main_metric('normals', {'normals/median': 1.0}) is None


def test_work_dir_prefers_test_metrics_then_test_log_then_last_validation(tmp_path):
    work_dir = str(tmp_path / 'st_depth')
    train, val_1, val_2 = {
        'loss': 1.0,
        'iter': 5,
        'step': 5
    }, {
        'depth/rmse': 0.9,
        'step': 5
    }, {
        'depth/rmse': 0.7,
        'step': 10
    }
    write_scalars(work_dir, '20250101_000000', [train, val_1, train, val_2, {'loss': 0.5, 'iter': 15}])
    write_scalars(work_dir, '20250102_000000', [train])  # a later run that stopped before evaluating
    metrics, source = find_run_metrics(work_dir)
    assert metrics == {'depth/rmse': 0.7} and source.endswith(osp.join('20250101_000000', 'vis_data', 'scalars.json'))
    write_json(osp.join(work_dir, '20250103_000000', '20250103_000000.json'), {'depth/rmse': 0.6, 'time': 0.1})
    assert resolve_st_reference({'depth': work_dir}) == {'depth/rmse': 0.6}
    write_json(osp.join(work_dir, 'test_metrics.json'), {'depth/rmse': 0.55})
    assert resolve_st_reference({'depth/rmse': work_dir}) == {'depth/rmse': 0.55}


def test_missing_file_or_metric_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        resolve_st_reference({'semseg': str(tmp_path / 'nope.json')})
    empty = str(tmp_path / 'empty_run')
    os.makedirs(empty)
    with pytest.raises(FileNotFoundError, match='holds no evaluation metrics'):
        resolve_st_reference({'semseg': empty})
    path = write_json(str(tmp_path / 'depth.json'), {'depth/rmse': 0.5})
    with pytest.raises(KeyError, match=r"semseg/mIoU.*depth/rmse"):
        resolve_st_reference({'semseg': path})
    with pytest.raises(TypeError, match='number or the path'):
        resolve_st_reference({'semseg/mIoU': None})


def test_multi_task_metric_reads_its_references_from_st_runs(tmp_path):
    semseg = write_json(str(tmp_path / 'semseg.json'), {'semseg/mIoU': 40.0})
    depth = write_json(str(tmp_path / 'depth.json'), {'depth/rmse': 0.5})
    metric = MultiTaskMetric(st_reference={'semseg': semseg, 'depth': depth})
    assert metric.st_reference == {'semseg/mIoU': 40.0, 'depth/rmse': 0.5}
    # semseg +10 % (higher is better), depth rmse +10 % (lower is better): they cancel
    mt = {'semseg/mIoU': 44.0, 'depth/rmse': 0.55}
    assert delta_m(mt, metric.st_reference, {'semseg/mIoU': False, 'depth/rmse': True}) == pytest.approx(0.0)


def test_references_file_as_written_by_the_tool(tmp_path):
    path = write_json(
        str(tmp_path / 'st.json'), {
            'metrics': {
                'semseg/mIoU': 24.93,
                'edge/pixel_odsF': 61.93
            },
            'sources': {
                'semseg/mIoU': 'work_dirs/st_semseg'
            }
        })
    assert resolve_st_reference(path) == {'semseg/mIoU': 24.93, 'edge/pixel_odsF': 61.93}
    assert resolve_st_reference(write_json(str(tmp_path / 'flat.json'), {'depth/rmse': 0.5})) == {'depth/rmse': 0.5}
    with pytest.raises(FileNotFoundError, match='st_reference.py'):
        resolve_st_reference(str(tmp_path / 'missing.json'))


def test_synthetic_configs_read_the_committed_references():
    from mmengine.config import Config

    from helpers import REPO_ROOT
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'baseline', 'vitt_synth.py'))
    assert resolve_st_reference(cfg.val_evaluator.st_reference) == {
        'semseg/mIoU': 24.93,
        'depth/rmse': 1.272,
        'normals/mean': 34.27,
        'edge/pixel_odsF': 61.93
    }
    st_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'baseline', 'vitt_synth_st_depth.py'))
    assert st_cfg.val_evaluator.st_reference is None and st_cfg.test_evaluator.st_reference is None


def depth_sample(pred: float):
    import torch
    return dict(gt_depth_map=dict(data=torch.ones(1, 2, 2)), pred_depth_map=dict(data=torch.full((1, 2, 2), pred)))


def test_delta_m_is_not_reported_over_fewer_tasks_than_the_reference(monkeypatch):
    from mmdtme.evaluation.metrics import multi_task_metric
    logged = []
    monkeypatch.setattr(multi_task_metric, 'print_log', lambda message, **kwargs: logged.append((message, kwargs)))
    metric = MultiTaskMetric(st_reference={'depth/rmse': 1.0, 'semseg/mIoU': 50.0})
    metric.process({}, [depth_sample(3.0)])
    results = metric.compute_metrics(metric.results)
    assert results['depth/rmse'] == 2.0 and 'delta_m' not in results
    warnings = [message for message, kwargs in logged if kwargs.get('level') == logging.WARNING]
    assert len(warnings) == 1 and "Δm is not reported: this evaluation has no ['semseg/mIoU']" in warnings[0]
    # the same reference without the missing task gives Δm = -(2 - 1) / 1 = -100 %
    metric = MultiTaskMetric(st_reference={'depth/rmse': 1.0})
    metric.process({}, [depth_sample(3.0)])
    assert metric.compute_metrics(metric.results)['delta_m'] == pytest.approx(-100.0)


def test_reference_of_a_task_that_is_not_evaluated_stops_at_construction():
    with pytest.raises(KeyError, match=r"\['semseg/mIoU'\] belong to no evaluated task \['depth'\]"):
        MultiTaskMetric(tasks=['depth'], st_reference={'depth/rmse': 1.0, 'semseg/mIoU': 50.0})
