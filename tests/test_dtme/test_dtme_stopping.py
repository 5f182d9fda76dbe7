"""The adaptive analysis: its stopping rules on statistics with a known answer, and its plan against the full pass."""
import math

import pytest
import torch

from mmdtme.dtme import AnalysisSettings, Plan, StoppingRule, analyze, check_boundary, check_selection, variance_leak
from mmdtme.dtme.stopping import describe_checks
from test_dtme_analysis import TASKS, make_callables, tiny_vit


def fractions(means, batches, noise, seed=0):
    """(batches, L) per-batch conflict fractions around ``means`` with a batch effect shared by all layers."""
    generator = torch.Generator().manual_seed(seed)
    shared = noise * torch.randn(batches, 1, generator=generator)
    own = 0.2 * noise * torch.randn(batches, len(means), generator=generator)
    return torch.tensor(means).expand(batches, -1) + shared + own


def test_variance_leak_is_the_missed_variance_in_units_of_the_null_share():
    covariance = torch.diag(torch.tensor([8.0, 1.0, 0.5, 0.5], dtype=torch.float64))  # trace 10; k = 2 explains 0.9
    eye = torch.eye(4, dtype=torch.float64)
    assert variance_leak(eye[:, :2], covariance, own_share=0.9) == pytest.approx(0.0)
    assert variance_leak(eye[:, [0, 2]], covariance, own_share=0.9) == pytest.approx((0.9 - 0.85) / 0.1)
    assert variance_leak(eye[:, [2, 3]], covariance, own_share=0.9) == pytest.approx((0.9 - 0.1) / 0.1)


def test_well_separated_layers_settle_and_close_ones_wait():
    rule = StoppingRule(separation=3.0, tie_margin=0.01)
    means = [0.30, 0.40, 0.50, 0.60]
    per_batch = fractions(means, batches=4, noise=0.02)
    check = check_boundary(per_batch, per_batch.mean(0).tolist(), n=2, highest=True, rule=rule)
    assert check.selected == [2, 3] and check.settled and check.tied == []
    # 0.50 vs 0.49 with a noisy batch effect on few batches: neither separated nor within the tie margin
    per_batch = fractions([0.30, 0.49, 0.50, 0.60], batches=3, noise=0.05)
    check = check_boundary(per_batch, per_batch.mean(0).tolist(), n=2, highest=True, rule=rule)
    assert not check.settled and (2, 1) in check.undecided


def test_equal_layers_at_the_boundary_are_declared_tied():
    rule = StoppingRule(separation=3.0, tie_margin=0.01)
    per_batch = fractions([0.30, 0.47, 0.47, 0.60], batches=40, noise=0.01)
    scores = per_batch.mean(0).tolist()
    check = check_boundary(per_batch, scores, n=2, highest=True, rule=rule)
    assert check.settled and check.tied == [1, 2]
    assert 3 in check.selected and len({1, 2} & set(check.selected)) == 1  # the estimate breaks the tie


def test_the_check_reports_the_noise_of_the_differences_and_the_batches_it_takes_to_decide():
    rule = StoppingRule()  # z = 2, tie margin 0.02
    assert rule.batches_to_decide(0.0135) == 8  # (2 * 2 * 0.0135 / 0.02)² = 7.29
    assert rule.batches_to_decide(0.005) == 1 and StoppingRule(tie_margin=0.0).batches_to_decide(0.01) == math.inf
    # each layer's own noise 0.2 * 0.05 = 0.01 (the batch effect cancels in a difference): SD of a difference 0.0141
    per_batch = fractions([0.30, 0.40, 0.50, 0.60], batches=400, noise=0.05)
    check = check_boundary(per_batch, per_batch.mean(0).tolist(), n=2, highest=True, rule=rule)
    assert check.difference_sd == pytest.approx(0.01 * math.sqrt(2), rel=0.1)
    sentence = describe_checks(dict(tm=check), rule)
    assert sentence.startswith('TM separated (per-batch SD of the differences 0.01')
    assert sentence.endswith(f'needs {rule.batches_to_decide(check.difference_sd)} batches)')
    assert describe_checks(dict(tm=check)) == 'TM separated'


def test_reverse_selects_the_lowest_and_random_has_no_boundary():
    rule = StoppingRule()
    per_batch = fractions([0.30, 0.40, 0.50, 0.60], batches=6, noise=0.01)
    scores = per_batch.mean(0).tolist()
    checks = check_selection(per_batch, per_batch.flip(1), scores, scores[::-1], 0.5, 'reverse', 'tm+te', rule)
    assert checks['tm'].selected == [0, 1] and checks['te'].selected == [2, 3]
    assert all(check.settled for check in checks.values())
    assert check_selection(per_batch, per_batch, scores, scores, 0.5, 'random', 'tm+te', rule) == {}
    swap = check_selection(per_batch, per_batch.flip(1), scores, scores[::-1], 0.5, 'swap', 'tm', rule)
    assert list(swap) == ['tm'] and swap['tm'].selected == [0, 1]  # swap: TM on the highest null scores


def test_the_rule_refuses_settings_that_cannot_work():
    with pytest.raises(ValueError, match='min_batches >= 2'):
        StoppingRule(min_batches=1)
    with pytest.raises(ValueError, match='tie_margin'):
        StoppingRule(tie_margin=-0.1)


def analysis_of(stop, count=40, seed=1, **rule):
    vit = tiny_vit()
    block_outputs, task_losses = make_callables(vit)
    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randn(2, 3, 16, 16, generator=generator) for _ in range(count)]
    loaded = []

    def reading():  # a one-shot stream that records every batch it hands out
        for images in batches:
            loaded.append(images)
            yield images

    settings = AnalysisSettings(range_variance=0.9, ratio=0.34)
    source = batches if stop == 'full' else reading()
    plan = analyze(
        source,
        block_outputs,
        task_losses,
        TASKS,
        3,
        16,
        settings,
        stop=stop,
        rule=StoppingRule(**rule) if rule else None)
    return plan, loaded


def test_adaptive_gives_the_full_plan_up_to_declared_ties_and_reads_each_batch_once():
    full, _ = analysis_of('full')
    # the fixture's batches hold 10 tokens of width 16: a looser covariance rule lets the pass settle within 40
    adaptive, loaded = analysis_of('adaptive', leak_tolerance=1.0)
    covariance_read, conflict_read = adaptive.stopped_after
    assert adaptive.stop == 'adaptive' and full.stop == 'full' and full.stopped_after == []
    assert 4 <= covariance_read < 40 and 4 <= conflict_read < 40, adaptive.stop_reasons
    assert adaptive.stop_reasons[0].startswith('covariance pass: settled after')
    assert adaptive.stop_reasons[1].startswith('conflict pass: settled after')
    for chosen, reference, tied in ((adaptive.tm_layers, full.tm_layers, adaptive.tied_tm_layers),
                                    (adaptive.te_layers, full.te_layers, adaptive.tied_te_layers)):
        assert set(chosen) ^ set(reference) <= set(tied)
    # one stream, each batch loaded once: the conflict pass starts on the covariance pass's batches
    assert len(loaded) == max(covariance_read, conflict_read)
    assert Plan.from_json(adaptive.to_json()) == adaptive
    assert 'adaptive analysis, covariance pass' in adaptive.summary_table()


def test_an_unsettled_adaptive_pass_reads_the_whole_set_and_says_so():
    # a separation no difference can reach and no tie margin: neither pass can settle before the set ends
    plan, loaded = analysis_of('adaptive', count=6, separation=1e9, tie_margin=0.0, leak_tolerance=0.0)
    assert plan.stopped_after == [6, 6] and len(loaded) == 6
    assert all('ended after 6 batches' in reason for reason in plan.stop_reasons)


def test_each_check_sums_the_processes_once():
    # Two identical processes, simulated by a reduce that doubles: the summed statistics are twice one process's,
    # whatever the number of checks on the way (a check must not feed summed statistics back into the local ones).
    from mmdtme.dtme.analysis import adaptive_covariance
    block_outputs, _ = make_callables(tiny_vit())
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(2, 3, 16, 16, generator=generator) for _ in range(8)]
    never = StoppingRule(min_batches=2, leak_tolerance=0.0)
    alone, read, _ = adaptive_covariance(iter(batches), block_outputs, 3, 16, 0.9, never)
    doubled, _, _ = adaptive_covariance(
        iter(batches), block_outputs, 3, 16, 0.9, never, reduce=lambda tensors: [tensor.mul_(2) for tensor in tensors])
    assert read == 8
    torch.testing.assert_close(doubled.sums, 2 * alone.sums)
    torch.testing.assert_close(doubled.counts, 2 * alone.counts)


def test_a_capped_cache_reads_the_uncached_batches_again_for_the_conflict_pass():
    block_outputs, task_losses = make_callables(tiny_vit())
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(2, 3, 16, 16, generator=generator) for _ in range(6)]
    never = StoppingRule(min_batches=2, separation=1e9, tie_margin=0.0, leak_tolerance=0.0, max_cached_batches=2)
    plan = analyze(
        batches,
        block_outputs,
        task_losses,
        TASKS,
        3,
        16,
        AnalysisSettings(range_variance=0.9, ratio=0.34),
        stop='adaptive',
        rule=never)
    full = analyze(batches, block_outputs, task_losses, TASKS, 3, 16, AnalysisSettings(range_variance=0.9, ratio=0.34))
    assert plan.stopped_after == [6, 6]
    assert plan.range_conflict == pytest.approx(full.range_conflict) and plan.ks == full.ks
