from typing import Mapping


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

