from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from mmdtme.dtme import ReconResult  # noqa: E402


def plot_recon_scores(result: ReconResult, path: str) -> str:
    """Recon's S-conflict rate per candidate unit (bars) and mean gradient cosine (line); copied units marked."""
    units: Sequence[str] = result.units
    positions = list(range(len(units)))
    figure, axis = plt.subplots(figsize=(max(5.0, 0.35 * len(units) + 2), 3.4))
    chosen = set(result.selected)
    colours = ['tab:red' if unit in chosen else 'tab:blue' for unit in units]
    axis.bar(positions, result.conflict_rate, color=colours)
    axis.set_ylabel(f'share of (batch, pair) with cos < S={result.threshold}')
    axis.set_ylim(0, 1)
    cosine = axis.twinx()
    cosine.plot(positions, result.mean_cosine, color='black', marker='.', linewidth=1)
    cosine.axhline(result.threshold, color='grey', linestyle='--', linewidth=1)
    cosine.set_ylabel('mean gradient cosine')
    axis.set_xticks(positions)
    axis.set_xticklabels(units, rotation=90 if len(units) > 12 else 0, fontsize=7)
    axis.set_xlabel('unit below the ViT blocks (red: made task-specific)')
    axis.set_title(
        f'Recon conflict scores: top {result.k} of {len(units)} units, {result.num_batches} batches', fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
