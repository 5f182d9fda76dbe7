import json

import pytest
import torch

from mmdtme.dtme import PLAN_VERSION, Plan


def _plan(**overrides) -> Plan:
    fields = dict(
        tasks=['semseg', 'depth', 'normals'],
        num_layers=4,
        channels=8,
        tm_layers=[1, 3],
        te_layers=[2, 3],
        ks=[2, 3, 5, 8],
        eigenvalues=[[4.0, 1.0], [3.0, 2.0], [2.5, 0.5], [1.0, 1.0]],
        eigenvalue_totals=[5.5, 6.0, 3.5, 8.0],
        range_conflict=[0.1, 0.4, 0.2, 0.35],
        null_conflict=[0.3, 0.05, 0.25, 0.2],
        range_cosine=[0.2, -0.1, 0.0, -0.05],
        null_cosine=[0.1, 0.3, -0.2, 0.0],
        ratio=0.5,
        range_variance=0.95,
        seed=7)
    fields.update(overrides)
    return Plan(**fields)


def test_json_round_trip():
    plan = _plan()
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert plan.to_dict()["version"] == PLAN_VERSION == 3  # 2 added copied_modules (Recon), 3 the adaptive record


def test_save_load_and_tensor_round_trip(tmp_path):
    plan = _plan(modulator='bn', mode='swap', num_tokens=3)
    path = str(tmp_path / 'plan.json')
    plan.save(path)
    assert Plan.load(path) == plan
    tensor = plan.to_tensor()
    assert tensor.dtype == torch.uint8 and tensor.dim() == 1
    assert Plan.from_tensor(tensor.clone()) == plan
    with pytest.raises(ValueError, match='non-empty 1-D uint8'):
        Plan.from_tensor(torch.zeros(0, dtype=torch.uint8))


def test_version_and_unknown_key_errors():
    data = _plan().to_dict()
    with pytest.raises(ValueError, match='version 4 is not supported'):
        Plan.from_dict(dict(data, version=4))
    older = {
        key: value
        for key, value in data.items()
        if key not in ('stop', 'stopped_after', 'stop_reasons', 'tied_tm_layers', 'tied_te_layers')
    }
    assert Plan.from_dict(dict(older, version=2)) == _plan()  # a version-2 plan: a full analysis, no ties
    with pytest.raises(ValueError, match=r"unknown DTME plan keys \['colour'\]"):
        Plan.from_dict(dict(data, colour='red'))
    with pytest.raises(ValueError, match=r"lacks required keys \['channels'\]"):
        Plan.from_dict({key: value for key, value in data.items() if key != 'channels'})


@pytest.mark.parametrize('overrides, message', [
    (dict(tm_layers=[1, 4]), r'tm_layers \[4\] are out of range for 4 layers'),
    (dict(te_layers=[-1]), r'te_layers \[-1\] are out of range'),
    (dict(tasks=[]), 'tasks must be a non-empty list'),
    (dict(tasks=['depth', 'depth']), 'tasks must be unique'),
    (dict(ks=[1, 2, 3]), 'ks has 3 entries, expected 4'),
    (dict(range_conflict=[0.1]), 'range_conflict has 1 entries'),
    (dict(ks=[1, 2, 3, 9]), r'ks \[9\] are outside \[1, channels=8\]'),
    (dict(mode='best'), "mode must be one of .* got 'best'"),
    (dict(modulator='ln'), "modulator must be one of .* got 'ln'"),
    (dict(num_tokens=0), 'num_tokens must be >= 1'),
    (dict(ratio=0.0), r'ratio must be in \(0, 1\], got 0.0'),
])
def test_validate_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        _plan(**overrides).validate()


def test_hand_written_plan_without_analysis_is_valid():
    plan = Plan(tasks=['semseg', 'depth'], num_layers=12, channels=768, tm_layers=[5], te_layers=[])
    assert plan.validate() is plan
    assert plan.first_modified_layer == 5
    assert Plan(tasks=['semseg'], num_layers=2, channels=4).first_modified_layer is None
    assert _plan().first_modified_layer == 1


def test_check_compatible_names_the_differences():
    plan = _plan()
    plan.check_compatible(['semseg', 'depth', 'normals'], 4, 8)
    with pytest.raises(
            ValueError,
            match=r"tasks \['semseg', 'depth', 'normals'\] in the plan vs "
            r"\['semseg', 'normals', 'depth'\] in the model"):
        plan.check_compatible(['semseg', 'normals', 'depth'], 4, 8)
    with pytest.raises(ValueError, match='num_layers 4 in the plan vs 12 in the model; channels 8 in the plan vs 768'):
        plan.check_compatible(['semseg', 'depth', 'normals'], 12, 768)


def test_load_of_a_corrupt_file_names_it(tmp_path):
    path = tmp_path / 'broken_plan.json'
    path.write_text('{"tasks": ["semseg"], "num_layers": ')
    with pytest.raises(ValueError, match='cannot parse DTME plan file .*broken_plan.json'):
        Plan.load(str(path))
    path.write_text(json.dumps(dict(_plan().to_dict(), tm_layers=[9])))
    with pytest.raises(ValueError, match=r'broken_plan.json.*tm_layers \[9\]'):
        Plan.load(str(path))


def test_summary_table_has_a_row_per_layer():
    table = _plan(range_conflict=[0.1, 0.4, float('nan'), 0.35]).summary_table()
    lines = table.splitlines()
    assert 'semseg, depth, normals' in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ['0', '1', '2', '3']
    assert rows[0] == ['0', '2', '0.100', '0.300']
    assert rows[1] == ['1', '3', '0.400', '0.050', 'x']
    assert rows[2] == ['2', '5', '-', '0.250', 'x']
    assert rows[3] == ['3', '8', '0.350', '0.200', 'x', 'x']
    tm_column, te_column = lines[1].index('TM') + 1, lines[1].index('TE') + 1  # marks are right-aligned
    assert [line[tm_column:tm_column + 1] for line in lines[2:]] == ['', 'x', ' ', 'x']
    assert [line[te_column:te_column + 1] for line in lines[2:]] == ['', '', 'x', 'x']
    bare = Plan(tasks=['a', 'b'], num_layers=2, channels=4, tm_layers=[0]).summary_table().splitlines()
    assert bare[2].split() == ['0', '-', '-', '-', 'x'] and bare[3].split() == ['1', '-', '-', '-']


def test_an_adaptive_plan_agrees_with_the_full_one_up_to_its_declared_ties():
    full = _plan(tm_layers=[1, 2], te_layers=[0, 3])
    assert _plan(tm_layers=[1, 2], te_layers=[0, 3]).agrees_up_to_ties(full)
    assert _plan(tm_layers=[1, 3], te_layers=[0, 3], tied_tm_layers=[2, 3]).agrees_up_to_ties(full)
    assert not _plan(tm_layers=[1, 3], te_layers=[0, 3], tied_tm_layers=[3]).agrees_up_to_ties(full)  # 2 not tied
    assert not _plan(tm_layers=[1, 2], te_layers=[0, 2], tied_tm_layers=[2, 3]).agrees_up_to_ties(full)  # TE ties
