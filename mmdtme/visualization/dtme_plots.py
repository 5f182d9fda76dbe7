import os.path as osp
from typing import List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from mmdtme.dtme import Plan  # noqa: E402


def plot_eigenvalue_spectra(plan: Plan, path: str) -> str:
    """Eigenvalue spectrum of each layer's token covariance (log scale), the range / null split marked at k."""
    columns = min(4, plan.num_layers)
    rows = (plan.num_layers + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    for layer in range(plan.num_layers):
        axis = axes[layer // columns][layer % columns]
        values = [max(value, 1e-12) for value in plan.eigenvalues[layer]]
        axis.semilogy(range(1, len(values) + 1), values, marker='.', linewidth=1)
        k = plan.ks[layer]
        if k <= len(values):
            axis.axvline(k + 0.5, color='tab:red', linestyle='--', linewidth=1)
        axis.set_title(f'block {layer}: k={k}', fontsize=9)
        axis.tick_params(labelsize=7)
    for index in range(plan.num_layers, rows * columns):
        axes[index // columns][index % columns].axis('off')
    figure.suptitle(
        f'token covariance spectra (top {len(plan.eigenvalues[0])}; range space left of the dashed '
        f'line, tau={plan.range_variance})',
        fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_conflict_scores(plan: Plan, path: str) -> str:
    """Range and null conflict score per layer; layers given TM / TE are marked."""
    layers = list(range(plan.num_layers))
    figure, axis = plt.subplots(figsize=(max(5.0, 0.45 * plan.num_layers + 2), 3.2))
    width = 0.4
    axis.bar([layer - width / 2 for layer in layers],
             plan.range_conflict,
             width,
             label='range conflict',
             color='tab:blue')
    axis.bar([layer + width / 2 for layer in layers],
             plan.null_conflict,
             width,
             label='null conflict',
             color='tab:orange')
    _mark(axis, plan.tm_layers, [plan.range_conflict[layer] for layer in plan.tm_layers], -width / 2, 'TM')
    _mark(axis, plan.te_layers, [plan.null_conflict[layer] for layer in plan.te_layers], width / 2, 'TE')
    axis.set_xticks(layers)
    axis.set_xlabel('block')
    axis.set_ylabel('fraction of conflicting token gradients')
    axis.set_title(f'token-space conflicts ({plan.mode}, ratio {plan.ratio}, {plan.variant})', fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _mark(axis, layers: List[int], heights: List[float], offset: float, text: str) -> None:
    for layer, height in zip(layers, heights):
        axis.annotate(text, (layer + offset, height), ha='center', va='bottom', fontsize=7, fontweight='bold')


def save_analysis_plots(plan: Plan, out_dir: str) -> List[str]:
    """Write ``dtme_spectra.png`` and ``dtme_conflicts.png`` for an analysed plan; returns their paths."""
    if not plan.eigenvalues or not plan.range_conflict:
        return []
    return [
        plot_eigenvalue_spectra(plan, osp.join(out_dir, 'dtme_spectra.png')),
        plot_conflict_scores(plan, osp.join(out_dir, 'dtme_conflicts.png'))
    ]
