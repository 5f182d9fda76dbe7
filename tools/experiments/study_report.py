"""Turn the study's per-run results into tables (mean ± std over seeds, Δm against the ST rows) and plots."""
import os
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from mmdtme.evaluation.delta_m import delta_m
from mmdtme.structures import LOWER_IS_BETTER, MAIN_METRICS
from study_runner import HALVES, PROBE_ORIGINS, PROBE_TIMES, SCHEDULE_CONTROL_OF, probe_name, schedule_control_name
from study_stats import (expected_random_jaccard, jaccard, mean_pairwise_jaccard, paired_differences, paired_interval,
                         spread, verdict)

STUDY_TASKS = ('semseg', 'depth', 'normals', 'edge')  # table order
GROUP_TITLES = dict(
    main='Baseline vs DTME variants',
    selection='Layer selection (paper Tab. 2 / 13)',
    ratio='Ratio of modified layers (paper Fig. 6)',
    expand_iter='Expansion iteration (paper Fig. 3)',
    mto='MTO methods and DTME + MTO',
    pretraining='What pretraining gives: Baseline MT fine-tuned vs from scratch')
# The paper's claims as paired comparisons of Δm: (claim, rows averaged on the + side, rows on the - side); the
# paper's sign is + for each.
CLAIMS = (
    ('TM+TE > Baseline MT (Tab. 1)', ('TM+TE', ), ('Baseline MT', )),
    ('TM > Baseline MT (Tab. 1)', ('TM', ), ('Baseline MT', )),
    ('TE > Baseline MT (Tab. 1)', ('TE', ), ('Baseline MT', )),
    ('conflict selection > random (Tab. 2)', ('TM+TE', ), ('selection random', )),
    ('random selection > reverse (Tab. 2)', ('selection random', ), ('selection reverse', )),
    ('standard > swapped conflict types (Tab. 13)', ('TM+TE', ), ('selection swap', )),
    ('ratio 0.25-0.5 > ratio 0.75-1.0 (Fig. 6)', ('ratio 0.25', 'TM+TE'), ('ratio 0.75', 'ratio 1.0')),
    ('expansion at 0 > after a head warm-up (Fig. 3)', ('TM+TE', ), ('expand after head warm-up', )),
    ('expansion at 0 > at 1/4 (Fig. 3)', ('TM+TE', ), ('expand at 1/4', )),
    ('expansion at 0 > at 1/2 (Fig. 3)', ('TM+TE', ), ('expand at 1/2', )),
    ('TM+TE > PCGrad (Tab. 3)', ('TM+TE', ), ('PCGrad', )),
    ('pretrained Baseline MT > from scratch', ('Baseline MT', ), ('Baseline MT from scratch', )),
    ('expansion after a head warm-up > Baseline MT on its schedule', ('expand after head warm-up', ),
     (schedule_control_name('head warm-up'), )),
    ('expansion at 1/4 > Baseline MT on its schedule', ('expand at 1/4', ), (schedule_control_name('1/4'), )),
)
# Fig. 3 without the longer training of a later expansion: (claim, (row, its Baseline MT), (row, its Baseline MT));
# the paired difference is the first row's gain over its Baseline MT minus the second's over its own.
GAIN_CLAIM_PREFIX = 'gain over MT: '
GAIN_CLAIMS = (
    (GAIN_CLAIM_PREFIX + 'expansion at 0 > after a head warm-up (Fig. 3)', ('TM+TE', 'Baseline MT'),
     ('expand after head warm-up', schedule_control_name('head warm-up'))),
    (GAIN_CLAIM_PREFIX + 'expansion at 0 > at 1/4 (Fig. 3)', ('TM+TE', 'Baseline MT'), ('expand at 1/4',
                                                                                        schedule_control_name('1/4'))),
)


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def main_metric_keys(results: Mapping[str, Mapping[int, dict]]) -> Dict[str, str]:
    """``{task: metric key}`` of the main metric of each task found in any result."""
    found = set()
    for runs in results.values():
        for run in runs.values():
            found.update(run['metrics'])
    keys = {}
    for task in STUDY_TASKS:
        for key in MAIN_METRICS[task]:
            if key in found:
                keys[task] = key
                break
    return keys


def st_reference(results: Mapping[str, Mapping[int, dict]], metric_keys: Mapping[str, str]) -> Dict[str, float]:
    """Δm reference: each task's main metric averaged over the seeds of its ``ST <task>`` row."""
    reference = {}
    for task, key in metric_keys.items():
        runs = results.get(f'ST {task}', {})
        values = [run['metrics'][key] for run in runs.values() if key in run['metrics']]
        if values:
            reference[key] = float(np.mean(values))
    return reference


def per_seed_delta_m(runs: Mapping[int, dict], reference: Mapping[str, float]) -> Dict[int, float]:
    """Δm of each seed's run against the ST reference (none without a reference: no ST row ran)."""
    if not reference:
        return {}
    return {
        seed: delta_m(run['metrics'], reference, LOWER_IS_BETTER)
        for seed, run in runs.items() if all(key in run['metrics'] for key in reference)
    }


def summarize_row(runs: Mapping[int, dict], metric_keys: Mapping[str, str], reference: Mapping[str, float]) -> dict:
    """Per-task mean ± std, Δm (computed per seed, then mean ± std), params and train time of one row."""
    summary = dict(seeds=sorted(runs), metrics={})
    for task, key in metric_keys.items():
        values = [run['metrics'][key] for run in runs.values() if key in run['metrics']]
        if values:
            summary['metrics'][key] = mean_std(values)
    per_seed = per_seed_delta_m(runs, reference)
    if reference and per_seed and len(reference) == len(metric_keys):
        summary['delta_m'] = mean_std(list(per_seed.values()))
    summary['params'] = float(np.mean([run['params'] for run in runs.values()]))
    summary['train_time_s'] = mean_std([run['train_time_s'] for run in runs.values()])
    return summary


def _cell(value: Optional[Tuple[float, float]], digits: int) -> str:
    if value is None:
        return '–'
    mean, std = value
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def markdown_table(rows: Sequence[Tuple[str, dict]], metric_keys: Mapping[str, str]) -> str:
    """A markdown table, one line per ``(row name, summary)``."""
    digits = {'depth/rmse': 3}
    header = ['Model'] + [f'{key} {"↓" if LOWER_IS_BETTER[key] else "↑"}' for key in metric_keys.values()]
    header += ['Δm (%) ↑', 'Params (M)', 'Train time (s)', 'Seeds']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, summary in rows:
        cells = [name] + [_cell(summary['metrics'].get(key), digits.get(key, 2)) for key in metric_keys.values()]
        cells += [
            _cell(summary.get('delta_m'), 2), f'{summary["params"] / 1e6:.3f}', f'{summary["train_time_s"][0]:.0f}',
            str(len(summary['seeds']))
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def conflict_table(results: Mapping[str, Mapping[int, dict]], row_names: Sequence[str]) -> Optional[str]:
    """Mean range / null conflict scores per block before and after training (paper Tab. 14), over seeds."""
    lines = []
    for name in row_names:
        histories = [run['conflicts'] for run in results.get(name, {}).values() if run.get('conflicts')]
        if not histories:
            continue
        for label, index in (('before', 0), ('after', -1)):
            for space in ('range', 'null'):
                scores = np.mean([history[index][f'{space}_conflict'] for history in histories], axis=0)
                lines.append((f'{name} ({label})', space, scores))
    if not lines:
        return None
    depth = len(lines[0][2])
    header = ['Model', 'space'] + [f'block {layer}' for layer in range(depth)] + ['mean']
    table = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, space, scores in lines:
        table.append('| ' + ' | '.join([name, space] + [f'{v:.3f}' for v in scores] + [f'{scores.mean():.3f}']) + ' |')
    return '\n'.join(table)


def plot_curve(path: str, x_labels: Sequence[str], series: Mapping[str, Sequence[Optional[dict]]], title: str,
               xlabel: str) -> None:
    """Δm (mean ± std over seeds) against a swept setting, one line per series (``{label: summaries, one per
    x label, None where the row did not run}``); the x axis holds the settings the first series ran."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    series = list(series.items())
    shown = [i for i, s in enumerate(series[0][1]) if s and 'delta_m' in s]
    if len(shown) < 2:  # a curve needs two settings
        return
    figure, axis = plt.subplots(figsize=(4.5, 3.2))
    for label, summaries in series:
        points = [(x, summaries[i]['delta_m']) for x, i in enumerate(shown)
                  if summaries[i] and 'delta_m' in summaries[i]]
        if points:
            axis.errorbar([x for x, _ in points], [p[0] for _, p in points],
                          yerr=[p[1] for _, p in points],
                          marker='o',
                          capsize=3,
                          label=label)
    axis.set_xticks(range(len(shown)), [x_labels[i] for i in shown])
    if len(series) > 1:
        axis.legend(fontsize=7)
    axis.set_xlabel(xlabel)
    axis.set_ylabel('Δm (%)')
    axis.set_title(title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_conflicts(path: str, results: Mapping[str, Mapping[int, dict]], row_names: Sequence[str]) -> None:
    """Range and null conflict scores per block, before (dashed) and after (solid) training."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    drawn = False
    for name in row_names:
        histories = [run['conflicts'] for run in results.get(name, {}).values() if run.get('conflicts')]
        if not histories:
            continue
        drawn = True
        for axis, space in zip(axes, ('range', 'null')):
            for label, index, style in (('before', 0, '--'), ('after', -1, '-')):
                scores = np.mean([history[index][f'{space}_conflict'] for history in histories], axis=0)
                axis.plot(scores, style, marker='.', label=f'{name} {label}')
            axis.set_title(f'{space}-space conflict')
            axis.set_xlabel('block')
    if drawn:
        axes[0].set_ylabel('conflict score')
        axes[1].legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    plt.close(figure)


# Tab. 14 as paired comparisons of how much a row's conflicts fall during training (before - after, per seed).
CONFLICT_CLAIMS = (
    ('TM lowers range conflicts more than Baseline MT (Tab. 14)', 'TM', 'range'),
    ('TE lowers null conflicts more than Baseline MT (Tab. 14)', 'TE', 'null'),
    ('TM+TE lowers range conflicts more than Baseline MT (Tab. 14)', 'TM+TE', 'range'),
    ('TM+TE lowers null conflicts more than Baseline MT (Tab. 14)', 'TM+TE', 'null'),
)


def conflict_drops(runs: Mapping[int, dict], space: str) -> Dict[int, float]:
    """Per seed, the fall of the mean conflict fraction over blocks from the first to the last measurement."""
    return {
        seed:
        float(np.mean(run['conflicts'][0][f'{space}_conflict']) - np.mean(run['conflicts'][-1][f'{space}_conflict']))
        for seed, run in runs.items() if len(run.get('conflicts') or []) >= 2
    }


def conflict_claim_lines(results: Mapping[str, Mapping[int, dict]]) -> list:
    lines = []
    for claim, row, space in CONFLICT_CLAIMS:
        differences = paired_differences(
            conflict_drops(results.get(row, {}), space), conflict_drops(results.get('Baseline MT', {}), space))
        if differences:
            interval = paired_interval(differences)
            lines.append(f'| {claim} | {_interval_cells(interval, 2, scale=100.0)} | {verdict(interval)} |')
    return lines


def _interval_cells(interval: Mapping[str, float], digits: int, scale: float = 1.0) -> str:
    """``mean | [low, high] | n``: the cells of a paired interval in a table row."""
    mean, low, high = (scale * interval[key] for key in ('mean', 'low', 'high'))
    return f'{mean:+.{digits}f} | [{low:+.{digits}f}, {high:+.{digits}f}] | {interval["n"]}'


def _side_mean(deltas: Mapping[str, Mapping[int, float]], names: Sequence[str], seed: int) -> float:
    return float(np.mean([deltas[name][seed] for name in names]))


def _shared_seeds(deltas: Mapping[str, Mapping[int, float]], names: Sequence[str]) -> set:
    """The seeds every row of ``names`` ran (empty when one of them has no run)."""
    if not all(deltas.get(name) for name in names):
        return set()
    return set.intersection(*(set(deltas[name]) for name in names))


def claim_table(results: Mapping[str, Mapping[int, dict]], reference: Mapping[str, float]) -> Optional[str]:
    """The paper's claims (:data:`CLAIMS`) as paired Δm differences over the seeds both sides ran, with 95 %
    Student-t intervals and a verdict each."""
    if not reference:
        return None
    deltas = {name: per_seed_delta_m(runs, reference) for name, runs in results.items()}
    lines = ['| claim | mean paired difference (points) | 95 % interval | seeds | verdict |', '|---' * 5 + '|']
    for claim, plus, minus in CLAIMS:
        seeds = _shared_seeds(deltas, plus + minus)
        if not seeds:
            continue
        differences = paired_differences({s: _side_mean(deltas, plus, s)
                                          for s in seeds}, {s: _side_mean(deltas, minus, s)
                                                            for s in seeds})
        interval = paired_interval(differences)
        lines.append(f'| {claim} | {_interval_cells(interval, 2)} | {verdict(interval)} |')
    for claim, plus, minus in GAIN_CLAIMS:
        seeds = _shared_seeds(deltas, plus + minus)
        if not seeds:
            continue
        gains = [{s: deltas[row][s] - deltas[reference_row][s] for s in seeds} for row, reference_row in (plus, minus)]
        interval = paired_interval(paired_differences(*gains))
        lines.append(f'| {claim} | {_interval_cells(interval, 2)} | {verdict(interval)} |')
    lines += conflict_claim_lines(results)  # in points of conflict fraction (x 100)
    return '\n'.join(lines) if len(lines) > 2 else None


def per_seed_table(results: Mapping[str, Mapping[int, dict]], row_names: Sequence[str],
                   reference: Mapping[str, float]) -> Optional[str]:
    """Δm of each row (a line) and seed (a column): the raw numbers of the paired comparisons."""
    deltas = {name: per_seed_delta_m(results.get(name, {}), reference) for name in row_names}
    deltas = {name: values for name, values in deltas.items() if values}
    if not deltas:
        return None
    seeds = sorted({seed for values in deltas.values() for seed in values})
    lines = ['| row | ' + ' | '.join(f'seed {seed}' for seed in seeds) + ' |', '|---' * (len(seeds) + 1) + '|']
    for name, values in deltas.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{values[s]:+.2f}' if s in values else '–' for s in seeds) + ' |')
    return '\n'.join(lines)


def per_task_gain(results: Mapping[str, Mapping[int, dict]], metric_keys: Mapping[str, str], better: str,
                  worse: str) -> Optional[str]:
    """Per task, the paired difference ``better - worse`` of the main metric (signed so that + is better)."""
    if not results.get(better) or not results.get(worse):
        return None
    lines = ['| task | metric | mean paired gain | 95 % interval | seeds | fine-tuned is |', '|---' * 6 + '|']
    for task, key in metric_keys.items():
        sign = -1.0 if LOWER_IS_BETTER[key] else 1.0
        first = {s: sign * run['metrics'][key] for s, run in results[better].items() if key in run['metrics']}
        second = {s: sign * run['metrics'][key] for s, run in results[worse].items() if key in run['metrics']}
        differences = paired_differences(first, second)
        if not differences:
            continue
        interval = paired_interval(differences)
        outcome = {'reproduced': 'better', 'not reproduced': 'worse'}.get(verdict(interval), 'undecided')
        lines.append(f'| {task} | {key} | {_interval_cells(interval, 3)} | {outcome} |')
    return '\n'.join(lines) if len(lines) > 2 else None


def analysis_diagnostics(results: Mapping[str, Mapping[int, dict]], row_names: Sequence[str]) -> Optional[str]:
    """What the analysis saw, per row over its seeds: the range dimension k per block, how much the blocks' conflict
    fractions differ (max - min over blocks; a flat profile cannot rank blocks), and how stable the chosen layer
    sets are across seeds (mean pairwise Jaccard overlap; 1 = every seed chose the same blocks)."""
    lines = [
        '| row | seeds | k per block (mean over seeds) | range conflicts, min-max over blocks | null conflicts, '
        'min-max | spread range / null | TM layers (Jaccard across seeds) | TE layers (Jaccard) |', '|---' * 8 + '|'
    ]
    for name in row_names:
        plans = [run['plan'] for run in results.get(name, {}).values() if run.get('plan')]
        if not plans:
            continue
        ks = np.mean([plan['ks'] for plan in plans], axis=0)
        ranges = np.mean([plan['range_conflict'] for plan in plans], axis=0)
        nulls = np.mean([plan['null_conflict'] for plan in plans], axis=0)
        spreads = [np.mean([spread(plan[key]) for plan in plans]) for key in ('range_conflict', 'null_conflict')]
        stability = [mean_pairwise_jaccard([plan[key] for plan in plans]) for key in ('tm_layers', 'te_layers')]
        chosen = [sorted({layer for plan in plans for layer in plan[key]}) for key in ('tm_layers', 'te_layers')]
        cells = [
            name,
            str(len(plans)), ' '.join(f'{k:.0f}' for k in ks), f'{ranges.min():.3f}-{ranges.max():.3f}',
            f'{nulls.min():.3f}-{nulls.max():.3f}', f'{spreads[0]:.3f} / {spreads[1]:.3f}'
        ]
        cells += [f'{layers} ({"-" if value is None else f"{value:.2f}"})' for layers, value in zip(chosen, stability)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) if len(lines) > 2 else None


TOP_EIGENVALUES = 8  # the stability table's summary of a spectrum: the variance share of the top 8 dimensions


def top_share(plan: Mapping[str, list]) -> list:
    """Per block, the share of the covariance's trace held by its :data:`TOP_EIGENVALUES` largest eigenvalues."""
    return [
        sum(values[:TOP_EIGENVALUES]) / total for values, total in zip(plan['eigenvalues'], plan['eigenvalue_totals'])
    ]


def _stability_cell(across_seeds: Sequence[Optional[float]], across_halves: Optional[float]) -> str:
    """``A / B | A vs B`` cells of one layer set."""
    seeds = ' / '.join('-' if value is None else f'{value:.2f}' for value in across_seeds)
    halves = '-' if across_halves is None else f'{across_halves:.2f}'
    return f'{seeds} | {halves}'


def probe_statistics(results: Mapping[str, Mapping[int, dict]]) -> list:
    """Per analysis-probe condition (backbone origin x analysis time) that ran: the range dimension k and the variance
    share of the top eigenvalues per block (means over seeds and halves), the mean spread of the conflict fractions
    over blocks, and per layer set (``tm_layers`` / ``te_layers``) the Jaccard overlap of the chosen layers across
    seeds (mean over pairs, one value per half) and across the two halves (same seed, mean over seeds)."""
    conditions = []
    for origin in PROBE_ORIGINS:
        for when in PROBE_TIMES:
            halves = [{
                seed: run['plan']
                for seed, run in results.get(probe_name(origin, when, half), {}).items() if run.get('plan')
            } for half in HALVES]
            plans = [plan for by_seed in halves for plan in by_seed.values()]
            if not plans:
                continue
            both = sorted(set(halves[0]) & set(halves[1]))
            condition = dict(
                origin=origin,
                when=when,
                runs=len(plans),
                ks=np.mean([plan['ks'] for plan in plans], axis=0),
                shares=np.mean([top_share(plan) for plan in plans], axis=0),
                spreads=[np.mean([spread(plan[key]) for plan in plans]) for key in ('range_conflict', 'null_conflict')])
            for key in ('tm_layers', 'te_layers'):
                condition[key] = dict(
                    across_seeds=[
                        mean_pairwise_jaccard([plan[key] for plan in by_seed.values()]) for by_seed in halves
                    ],
                    across_halves=float(np.mean([jaccard(halves[0][s][key], halves[1][s][key])
                                                 for s in both])) if both else None)
            conditions.append(condition)
    return conditions


def selection_stability(results: Mapping[str, Mapping[int, dict]]) -> Optional[str]:
    """:func:`probe_statistics` as a table, one line per condition."""
    lines = [
        '| backbone | analysis at | seeds | k per block | top-8 variance share per block | spread range / null | '
        'TM: Jaccard across seeds (A / B) | TM: A vs B | TE: Jaccard across seeds (A / B) | TE: A vs B |',
        '|---' * 10 + '|'
    ]
    for condition in probe_statistics(results):
        cells = [
            condition['origin'], condition['when'],
            str(condition['runs']), ' '.join(f'{k:.0f}' for k in condition['ks']),
            ' '.join(f'{share:.2f}' for share in condition['shares']), '{:.3f} / {:.3f}'.format(*condition['spreads'])
        ]
        cells += [_stability_cell(**condition[key]) for key in ('tm_layers', 'te_layers')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) if len(lines) > 2 else None


def stability_observation(results: Mapping[str, Mapping[int, dict]]) -> Optional[str]:
    """One sentence: how far the probes' chosen layers agree across seeds and across halves of the scenes, next to
    what two random draws would give."""
    conditions = probe_statistics(results)
    seeds = [
        value for c in conditions for key in ('tm_layers', 'te_layers') for value in c[key]['across_seeds']
        if value is not None
    ]
    halves = [
        c[key]['across_halves'] for c in conditions for key in ('tm_layers', 'te_layers')
        if c[key]['across_halves'] is not None
    ]
    if not seeds or not halves:
        return None
    depth, chosen = _selection_size(results)
    return (f'Analysis probes: the chosen TM / TE layers overlap across seeds by {min(seeds):.2f}-{max(seeds):.2f} '
            f'(Jaccard; two random draws of {chosen} of {depth} layers: {expected_random_jaccard(depth, chosen):.2f}) '
            f'and across the two halves of the scenes with the same seed by {min(halves):.2f}-{max(halves):.2f}, '
            'over both backbones and both analysis times.')


def _selection_size(results: Mapping[str, Mapping[int, dict]]) -> Tuple[int, int]:
    """(blocks, TE layers chosen) of the first probe plan found."""
    plan = next(run['plan'] for name in results if name.startswith('analysis ') for run in results[name].values()
                if run.get('plan'))
    return len(plan['ks']), len(plan['te_layers'])


def plot_spectra(path: str, results: Mapping[str, Mapping[int, dict]]) -> bool:
    """The top eigenvalues of each block's token covariance as shares of its trace (mean over the probes' seeds and
    halves), one panel per backbone origin and analysis time; ``False`` when no probe ran."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        len(PROBE_ORIGINS), len(PROBE_TIMES), figsize=(9, 6.4), sharex=True, sharey=True, squeeze=False)
    drawn = False
    for row, origin in enumerate(PROBE_ORIGINS):
        for column, when in enumerate(PROBE_TIMES):
            axis = axes[row][column]
            plans = [
                run['plan'] for half in HALVES for run in results.get(probe_name(origin, when, half), {}).values()
                if run.get('plan')
            ]
            axis.set_title(f'{origin}, {when}', fontsize=9)
            if not plans:
                continue
            drawn = True
            shares = np.mean(
                [[np.asarray(values) / total for values, total in zip(plan['eigenvalues'], plan['eigenvalue_totals'])]
                 for plan in plans],
                axis=0)
            ks = np.mean([plan['ks'] for plan in plans], axis=0)
            colours = plt.cm.viridis(np.linspace(0, 0.9, len(shares)))
            for block, (values, colour) in enumerate(zip(shares, colours)):
                axis.semilogy(
                    np.arange(1,
                              len(values) + 1), values, color=colour, label=f'block {block} (k {ks[block]:.0f})')
            axis.grid(alpha=0.3)
            axis.legend(fontsize=6, ncol=2)
    for axis in axes[-1]:
        axis.set_xlabel('eigenvalue rank')
    for axis in axes[:, 0]:
        axis.set_ylabel('share of the trace')
    if drawn:
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    plt.close(figure)
    return drawn


def observations(summaries: Mapping[str, dict], metric_keys: Mapping[str, str], reference: Mapping[str, float]) -> list:
    """Plain statements read off the numbers: transfer of Baseline MT per task, rows that differ from it in Δm."""
    lines = []
    mt = summaries.get('Baseline MT')
    if mt and reference:
        changes = []
        for task, key in metric_keys.items():
            if key in mt['metrics'] and key in reference:
                sign = -1.0 if LOWER_IS_BETTER[key] else 1.0
                change = sign * 100.0 * (mt['metrics'][key][0] - reference[key]) / reference[key]
                changes.append((task, change + 0.0))  # + 0.0: no '-0.0'
        negative = [task for task, change in changes if change < 0]
        lines.append('Baseline MT vs ST (relative change of the mean, positive = better): ' +
                     ', '.join(f'{task} {change:+.1f} %' for task, change in changes) + '; negative transfer on ' +
                     (', '.join(negative) if negative else 'no task') + '.')
    if mt and 'delta_m' in mt:
        base_mean, base_std = mt['delta_m']
        for name, summary in summaries.items():
            if name == 'Baseline MT' or 'delta_m' not in summary or name.startswith('ST '):
                continue
            mean, std = summary['delta_m']
            margin = max(std, base_std)
            verdict = ('above' if mean - base_mean > margin else 'below' if base_mean -
                       mean > margin else 'within one standard deviation of')
            lines.append(f'{name}: Δm {mean:+.2f} ± {std:.2f} %, {verdict} Baseline MT ({base_mean:+.2f} ± '
                         f'{base_std:.2f} %).')
    return lines


def write_report(markdown_path: str, plot_dir: str, results: Mapping[str, Mapping[int, dict]], rows: Sequence,
                 setting: str) -> str:
    """Write the markdown report and its plots; returns the markdown."""
    os.makedirs(plot_dir, exist_ok=True)
    metric_keys = main_metric_keys(results)
    reference = st_reference(results, metric_keys)
    summaries = {
        row.name: summarize_row(results[row.name], metric_keys, reference)
        for row in rows if results.get(row.name) and not row.probe  # probes are read by selection_stability
    }
    missing = [row.name for row in rows if not results.get(row.name)]
    plot_rel = osp.relpath(plot_dir, osp.dirname(osp.abspath(markdown_path)))

    parts = [
        '# DTME-MTL on the synthetic scenes', '',
        'Generated by `tools/experiments/synthetic_study.py`; every number is the mean ± sample standard '
        'deviation over the seeds in the last column. Δm is computed per seed against the mean of the '
        'single-task (ST) rows, then averaged.', '', f'Setting: {setting}', ''
    ]
    if missing:
        parts += [f'Rows without any finished run: {", ".join(missing)}.', '']
    facts = observations(summaries, metric_keys, reference)
    stable = stability_observation(results)
    if stable:
        facts.append(stable)
    if facts:
        parts += ['## What the numbers say', ''] + [f'- {fact}' for fact in facts] + ['']
    claims = claim_table(results, reference)
    if claims:
        parts += [
            '## The paper\'s claims, seed by seed', '',
            'Each claim compares two rows on the same seeds (same data order and initialisation): the mean of the '
            'per-seed differences of Δm (for Tab. 14: of the fall of the mean conflict fraction over training, in '
            'points), its two-sided 95 % Student-t interval (a paired t-test), and "reproduced" '
            'when the interval lies above 0, "not reproduced" when it lies below 0 (it excludes the paper\'s sign), '
            '"undecided" when it contains 0.', ''
        ]
        if f'| {GAIN_CLAIM_PREFIX}' in claims:
            parts += [
                'A later expansion here trains longer (the whole schedule after it, as Fig. 3 runs it), so the plain '
                'Fig. 3 lines compare training lengths as well; the "gain over MT" lines compare each expansion\'s '
                'paired gain over Baseline MT trained on the same schedule.', ''
            ]
        parts += [claims, '']
        per_seed = per_seed_table(results, [row.name for row in rows if row.name in summaries], reference)
        if per_seed:
            parts += ['Δm (%) of every run, the numbers the paired claims are computed from:', '', per_seed, '']
    diagnostics = analysis_diagnostics(
        results, ['TM+TE', 'TM', 'TE', 'expand after head warm-up', 'expand at 1/4', 'TM+TE from scratch'])
    if diagnostics:
        parts += [
            '## What the analysis saw', '',
            'From each seed\'s plan (the analysis at the expansion): the range dimension k per block, the spread of '
            'the blocks\' conflict fractions (max - min; coin flips give a flat profile near 0.5), and the blocks '
            'chosen over all seeds with the mean pairwise Jaccard overlap of the seeds\' choices (1 = the same '
            'blocks every time). If the choice is unstable, a comparison of selection rules (Tab. 2) compares noise. '
            'The expansion rows show the analysis after the head warm-up and at 1/4 of training; "from scratch" the '
            'analysis of a randomly initialised ViT on the same scenes.', '', diagnostics, ''
        ]
    stability = selection_stability(results)
    if stability:
        depth, chosen = _selection_size(results)
        parts += [
            '## Selection stability and spectra (analysis probes)', '',
            'The analysis alone, run for every seed on each half of the target scenes (A: the first half of the '
            'training scenes, B: the second; as many batches of each as the rows\' analysis reads), on the '
            'pretrained and on a random backbone, at iteration 0 and after the head warm-up. k is the range dimension '
            '(of the embedding\'s channels), the top-8 share the variance held by the 8 largest eigenvalues (a steep '
            'spectrum holds much), the spread the max - min of the blocks\' conflict fractions; the Jaccard columns '
            'say how far the chosen TM / TE layers agree across seeds (mean over pairs, per half) and between the '
            'halves of one seed (mean over seeds). 1 = always the same layers; two random draws of '
            f'{chosen} of {depth} layers overlap by {expected_random_jaccard(depth, chosen):.2f} '
            'on average.', '', stability, ''
        ]
        if plot_spectra(osp.join(plot_dir, 'spectra.png'), results):
            parts += [f'![eigenvalue spectra]({plot_rel}/spectra.png)', '']
    gain = per_task_gain(results, metric_keys, 'Baseline MT', 'Baseline MT from scratch')
    if gain:
        parts += [
            '## Pretraining against training from scratch', '',
            'Baseline MT fine-tuned from the pretrained backbone minus Baseline MT trained from scratch on the same '
            'target scenes and seeds, per task (signed so that + is better).', '', gain, ''
        ]
    groups = ['st', 'pretraining', 'main', 'selection', 'ratio', 'expand_iter', 'mto']
    for group in groups:
        group_rows = [(row.name, summaries[row.name]) for row in rows if row.group == group and row.name in summaries]
        if not group_rows:  # no row of the group ran: no table of its reference row alone
            continue
        if group in ('selection', 'ratio', 'expand_iter') and 'TM+TE' in summaries:
            reference_row = {
                'selection': 'TM+TE (conflict)',
                'ratio': 'TM+TE (ratio 0.5)',
                'expand_iter': 'TM+TE (at 0)'
            }[group]
            group_rows.insert(0, (reference_row, summaries['TM+TE']))
            if group == 'expand_iter' and 'Baseline MT' in summaries:
                group_rows.insert(1, ('Baseline MT', summaries['Baseline MT']))
        if group == 'mto' and 'Baseline MT' in summaries:
            group_rows.insert(0, ('Baseline MT (GD)', summaries['Baseline MT']))
        if not group_rows:
            continue
        title = 'Single-task references' if group == 'st' else GROUP_TITLES[group]
        parts += [f'## {title}', '']
        if group == 'expand_iter' and any(name in SCHEDULE_CONTROL_OF.values() for name, _ in group_rows):
            parts += [
                'A later expansion keeps the whole schedule after it (the LR held at its peak until the expansion), '
                'so it trains longer; Baseline MT on the same schedule shows what the longer training alone gives.', ''
            ]
        parts += [markdown_table(group_rows, metric_keys), '']

    ratio_rows = [('0.25', 'ratio 0.25'), ('0.5', 'TM+TE'), ('0.75', 'ratio 0.75'), ('1.0', 'ratio 1.0')]
    plot_curve(
        osp.join(plot_dir, 'ratio.png'), [label for label, _ in ratio_rows],
        dict(DTME=[summaries.get(name) for _, name in ratio_rows]), 'Δm vs ratio of modified layers', 'ratio ρ')
    # (x label, expansion row, Baseline MT on its schedule)
    later = (('warm-up', 'expand after head warm-up'), ('1/4', 'expand at 1/4'), ('1/2', 'expand at 1/2'))
    expand_rows = [('0', 'TM+TE', 'Baseline MT')] + [(label, name, SCHEDULE_CONTROL_OF.get(name))
                                                     for label, name in later]
    plot_curve(
        osp.join(plot_dir, 'expand_iter.png'), [label for label, _, _ in expand_rows], {
            'TM+TE': [summaries.get(name) for _, name, _ in expand_rows],
            'Baseline MT, same schedule': [summaries.get(control) for _, _, control in expand_rows]
        }, 'Δm vs expansion iteration', 'expansion iteration (share of training)')
    for name, title in (('ratio.png', 'ratio'), ('expand_iter.png', 'expansion iteration')):
        if osp.isfile(osp.join(plot_dir, name)):
            parts += [f'![Δm vs {title}]({plot_rel}/{name})', '']

    conflicts = conflict_table(results, ['Baseline MT', 'TM+TE'])
    if conflicts:
        plot_conflicts(osp.join(plot_dir, 'conflicts.png'), results, ['Baseline MT', 'TM+TE'])
        parts += [
            '## Token-space conflicts before and after training (paper Tab. 14)', '',
            'Share of conflicting task pairs per token, on the analysis batches, at iteration 0 (after the '
            'expansion for TM+TE) and after the last iteration.', '', conflicts, '',
            f'![conflicts]({plot_rel}/conflicts.png)', ''
        ]
    markdown = '\n'.join(parts)
    with open(markdown_path, 'w') as f:
        f.write(markdown)
    return markdown
