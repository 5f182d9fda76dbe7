import os.path as osp
import subprocess
import sys
import textwrap

import mmdtme.dtme

DTME_DIR = osp.dirname(mmdtme.dtme.__file__)


def test_dtme_imports_without_openmmlab():
    """Load mmdtme/dtme standalone (not via mmdtme/__init__, which imports mmengine) and check what it pulls in."""
    script = textwrap.dedent(f"""
        import importlib.util
        import sys
        spec = importlib.util.spec_from_file_location('dtme', {osp.join(DTME_DIR, '__init__.py')!r},
                                                      submodule_search_locations=[{DTME_DIR!r}])
        dtme = importlib.util.module_from_spec(spec)
        sys.modules['dtme'] = dtme
        spec.loader.exec_module(dtme)
        heavy = sorted(name for name in sys.modules if name.split('.')[0] in ('mmengine', 'mmseg', 'mmcv', 'mmdtme'))
        assert not heavy, heavy
        missing = [name for name in dtme.__all__ if not hasattr(dtme, name)]
        assert not missing, missing
        assert dtme.Plan.__module__ == 'dtme.plan'
        print('ok', len(dtme.__all__))
    """)
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('ok')
