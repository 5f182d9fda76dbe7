from mmdtme.utils.runtime import default_run_name


def test_default_work_dirs_do_not_collide_between_config_folders():
    assert default_run_name('configs/baseline/vitt_synth.py') == 'baseline/vitt_synth'
    assert default_run_name('configs/dtme/vitt_synth.py') == 'dtme/vitt_synth'
    assert default_run_name('/data/repo/configs/dtme/ablations/vitb_nyud_tm.py') == 'dtme/ablations/vitb_nyud_tm'
    assert default_run_name('/tmp/my_config.py') == 'my_config'
