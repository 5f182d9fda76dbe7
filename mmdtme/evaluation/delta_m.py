import glob
import json
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from mmdtme.structures import MAIN_METRICS


def delta_m(metrics: Mapping[str, float], reference: Mapping[str, float], lower_is_better: Mapping[str, bool]) -> float:
    """Multi-task performance change Δm (%) against single-task references (Maninis et al., 2019).

    Δm = (1/T) Σ_t (−1)^{l_t} (M_t − M_ST,t) / M_ST,t × 100, with l_t = 1 where lower is better. Every key of
    ``reference`` must be in ``metrics`` and ``lower_is_better``.
    """
    if not reference:
        raise ValueError('Δm needs at least one single-task reference value')
    total = 0.0
    for key, ref in reference.items():
        if key not in metrics:
            raise KeyError(f'Δm reference {key!r} has no matching metric; metrics are {sorted(metrics)}')
        if ref == 0:
            raise ValueError(f'Δm reference {key!r} is 0; relative change is undefined')
        sign = -1.0 if lower_is_better[key] else 1.0
        total += sign * (metrics[key] - ref) / ref
    return 100.0 * total / len(reference)


TEST_METRICS_FILE = 'test_metrics.json'  # written into the work dir by tools/test.py


def main_metric(task: str, metrics: Mapping[str, float]) -> Optional[str]:
    """The key of ``task``'s main metric in ``metrics`` (``TaskSpec.main_metrics``), or None if it has none.

    A task outside the task table uses its only reported metric, if it reports exactly one.
    """
    candidates = MAIN_METRICS.get(task)
    if candidates is None:
        candidates = [key for key in metrics if key.partition('/')[0] == task]
        if len(candidates) != 1:
            return None
    return next((key for key in candidates if key in metrics), None)


def _is_eval_record(record: dict) -> bool:
    # Training records carry 'loss'; evaluation records carry 'task/metric' keys.
    return 'loss' not in record and any('/' in key and not key.startswith('conflicts/') for key in record)


def _only_metrics(record: dict) -> Dict[str, float]:
    return {
        key: float(value)
        for key, value in record.items()
        if ('/' in key or key == 'delta_m') and isinstance(value, (int, float)) and not key.startswith('conflicts/')
    }


def _read_json_metrics(path: str) -> Dict[str, float]:
    """A metrics JSON (one object, as ``tools/test.py`` writes) or a JSON-lines log (its last evaluation)."""
    with open(path) as f:
        text = f.read()
    try:
        records = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f'{path!r} is not a metrics JSON file ({error})') from error
    records = [record for record in records if isinstance(record, dict) and _is_eval_record(record)]
    if not records:
        raise ValueError(f'{path!r} holds no evaluation metrics (no "task/metric" keys)')
    return _only_metrics(records[-1])


def _run_dirs(work_dir: str) -> List[str]:
    """mmengine's per-run folders of a work dir (named by their start time, so sorted = oldest first)."""
    return sorted(path for path in glob.glob(osp.join(work_dir, '[0-9]' * 8 + '_' + '[0-9]' * 6)) if osp.isdir(path))


def find_run_metrics(path: str) -> Tuple[Dict[str, float], str]:
    """The metrics of a run and the file they came from.

    ``path`` is a metrics JSON (``tools/test.py --out``, ``test_metrics.json``, an mmengine ``scalars.json``) or a
    work dir. In a work dir the test metrics win: the newest ``test_<timestamp>/test_metrics.json`` (written by
    ``tools/test.py``), else ``test_metrics.json``, else the newest test log
    (``<timestamp>/<timestamp>.json``); without them, the last validation in the newest
    ``<timestamp>/vis_data/scalars.json`` that has one.
    """
    if osp.isfile(path):
        return _read_json_metrics(path), path
    if not osp.isdir(path):
        raise FileNotFoundError(f'metrics source {path!r} does not exist; give a metrics JSON written by '
                                f'tools/test.py or the work dir of a run')
    # tools/test.py writes each evaluation into its own test_<timestamp>/ folder: the newest wins
    evaluations = sorted(glob.glob(osp.join(path, 'test_' + '[0-9]' * 8 + '_' + '[0-9]' * 6, TEST_METRICS_FILE)))
    candidates = list(reversed(evaluations)) + [osp.join(path, TEST_METRICS_FILE)]
    candidates += [osp.join(run, osp.basename(run) + '.json') for run in reversed(_run_dirs(path))]
    candidates += [osp.join(run, 'vis_data', 'scalars.json') for run in reversed(_run_dirs(path))]
    for candidate in candidates:
        if osp.isfile(candidate):
            try:
                return _read_json_metrics(candidate), candidate
            except ValueError:
                continue  # a run that stopped before its first evaluation
    raise FileNotFoundError(f'work dir {path!r} holds no evaluation metrics: no {TEST_METRICS_FILE}, no test log '
                            f'<timestamp>/<timestamp>.json and no validation in <timestamp>/vis_data/scalars.json. '
                            f'Run tools/test.py CONFIG CHECKPOINT --work-dir {path} first.')


def load_st_reference_file(path: str) -> Dict[str, Union[float, str]]:
    """The references stored in a JSON file: ``{"metrics": {"semseg/mIoU": 24.9, ...}, ...}`` (as written by
    ``tools/analysis_tools/st_reference.py``) or a plain ``{"semseg/mIoU": 24.9, ...}``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'st_reference file {path!r} does not exist. Write it from finished single-task '
                                'runs with `python tools/analysis_tools/st_reference.py ST_WORK_DIR ... --out '
                                f'{path}`, or give the values in the config as {{\'semseg/mIoU\': 45.1, ...}}.')
    with open(path, encoding='utf-8') as f:
        stored = json.load(f)
    values = stored.get('metrics', stored) if isinstance(stored, dict) else None
    if not isinstance(values, dict) or not values:
        raise ValueError(f'st_reference file {path!r} holds no {{"task/metric": value}} mapping')
    return values


def resolve_st_reference(st_reference: Union[None, str, Mapping[str, Union[float, str]]]) -> Dict[str, float]:
    """Single-task references for Δm as ``{'task/metric': value}``, from numbers, a references file or ST runs.

    ``st_reference`` is a JSON file of references (see :func:`load_st_reference_file`) or a mapping whose entries
    are each one of:

    - ``'semseg/mIoU': 45.1``: the value itself;
    - ``'semseg': 'work_dirs/vitb_nyud_st_semseg/test.json'``: the task's main metric (``TaskSpec.main_metrics``) read
      from a metrics JSON or a work dir (see :func:`find_run_metrics`);
    - ``'semseg/mIoU': 'work_dirs/vitb_nyud_st_semseg'``: that metric read from the file or work dir.

    Raises:
        FileNotFoundError: A file or work dir does not exist or holds no metrics.
        KeyError: The file has no such metric; the message lists the ones it has.
    """
    if isinstance(st_reference, str):
        st_reference = load_st_reference_file(st_reference)
    resolved: Dict[str, float] = {}
    for key, value in (st_reference or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(f'st_reference[{key!r}] is {value!r}; give a number or the path of an ST run\'s metrics '
                            'JSON or work dir')
        if not isinstance(value, str):
            resolved[key] = float(value)
            continue
        metrics, source = find_run_metrics(value)
        metric_key = key if '/' in key else main_metric(key, metrics)
        if metric_key is None or metric_key not in metrics:
            wanted = metric_key or ' or '.join(MAIN_METRICS.get(key, (f'{key}/<metric>', )))
            raise KeyError(f'st_reference[{key!r}]: {source!r} has no {wanted}; it has {sorted(metrics)}. '
                           'Name the metric as the key, e.g. {\'semseg/mIoU\': PATH}.')
        if metric_key in resolved:
            raise ValueError(f'st_reference gives {metric_key!r} twice')
        resolved[metric_key] = metrics[metric_key]
    return resolved


def collect_st_reference(entries: Sequence[str]) -> Dict[str, float]:
    """References from ST runs given as ``PATH`` or ``task=PATH`` / ``task/metric=PATH`` (metrics JSON or work dir),
    as ``{'task/metric': value}``.

    A bare ``PATH`` gives the main metric of every task it reports (an ST run reports one task).

    Raises:
        ValueError: Two entries give the same metric.
    """
    reference: Dict[str, float] = {}
    for entry in entries:
        key, separator, path = entry.partition('=')
        if separator and not osp.exists(entry):
            resolved = resolve_st_reference({key: path})
        else:
            metrics, _ = find_run_metrics(entry)
            tasks = dict.fromkeys(key.partition('/')[0] for key in metrics if '/' in key)
            resolved = {metric: metrics[metric] for metric in (main_metric(task, metrics) for task in tasks) if metric}
        for metric, value in resolved.items():
            if metric in reference:
                raise ValueError(f'the ST references give {metric} twice (again from {entry!r}); name the task, '
                                 f'e.g. {metric.partition("/")[0]}=PATH')
            reference[metric] = value
    return reference
