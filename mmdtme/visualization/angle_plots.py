from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def plot_angle_histograms(iterations: Sequence[int], shares: Sequence[Sequence[float]], labels: Sequence[str],
                          path: str) -> str:
    """Share of each cos φ_ij bin over training as stacked bands (conflicting bins red, aligned ones blue), the form
    of DTME-MTL's Fig. 4.

    Args:
        iterations: The measurement iterations.
        shares: Per measurement, the share of every bin (each row sums to 1).
        labels: The bins' names, e.g. ``'[-1,-0.5)'``, from the lowest cosine to the highest.
    """
    columns = list(zip(*shares))  # per bin, its share at every measurement
    lows = [float(label[1:].split(',')[0]) for label in labels]
    conflicting = sum(low < 0 for low in lows)
    colours = [plt.cm.Reds(0.85 - 0.6 * index / max(conflicting - 1, 1)) for index in range(conflicting)]
    aligned = len(labels) - conflicting
    colours += [plt.cm.Blues(0.25 + 0.6 * index / max(aligned - 1, 1)) for index in range(aligned)]
    figure, axis = plt.subplots(figsize=(6.4, 3.6))
    if len(iterations) > 1:
        axis.stackplot(iterations, columns, labels=[f'cos {label}' for label in labels], colors=colours)
        axis.set_xlim(min(iterations), max(iterations))
    else:
        bottom = 0.0
        for label, column, colour in zip(labels, columns, colours):
            axis.bar(iterations, column, bottom=bottom, label=f'cos {label}', color=colour)
            bottom += column[0]
    axis.set_ylim(0, 1)
    axis.set_xlabel('iteration')
    axis.set_ylabel('share of (layer, batch, task pair)')
    axis.set_title('cosines between task gradients of the shared parameters', fontsize=10)
    handles, names = axis.get_legend_handles_labels()
    axis.legend(handles[::-1], names[::-1], fontsize=6, loc='center left', bbox_to_anchor=(1.0, 0.5))  # as stacked
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
