"""Shipped code refers only to files of the repository: docstrings cite docs/design.md or the paper, paths exist."""
import glob
import os.path as osp
import re

from helpers import REPO_ROOT

# Files that live beside the repository for its developers, never shipped to users.
OUTSIDE = ('DESIGN.md', 'STYLE.md', 'DEVELOPERS.md', '../shared', '/work/')
# A path of this repository as the code writes it, by what each folder holds (other repositories' files that the
# code cites, such as a reference's ``configs/baseline/taskonomy.yml``, have other suffixes or say whose they are).
REPO_PATH = re.compile(r'(?<![\w/.-])((?:docs/[\w./{}*,<>-]*?\.(?:md|json|png)|configs/[\w./{}*,<>-]*?\.(?:py|md)'
                       r'|(?:tools|tests)/[\w./{}*,<>-]*?\.(?:py|sh)|mmdtme/[\w./{}*,<>-]*?\.py'
                       r'|requirements/[\w./{}*,<>-]*?\.txt))(?![\w])')


def shipped_files():
    for folder in ('mmdtme', 'tools'):
        for pattern in ('**/*.py', '**/*.sh'):
            yield from glob.glob(osp.join(REPO_ROOT, folder, pattern), recursive=True)


def exists(path: str) -> bool:
    if '<' in path or '{' in path:  # a pattern such as configs/<method>/README.md or {a,b}.py: check its folder
        path = path[:min(i for i in (path.find('<'), path.find('{')) if i >= 0)]
        return osp.exists(osp.join(REPO_ROOT, osp.dirname(path))) if '/' in path else True
    return bool(glob.glob(osp.join(REPO_ROOT, path)))


def test_no_module_refers_to_a_file_outside_the_repository():
    offenders = []
    for file in shipped_files():
        with open(file, encoding='utf-8') as f:
            text = f.read()
        name = osp.relpath(file, REPO_ROOT)
        offenders += [f'{name}: names {token!r}' for token in OUTSIDE if token in text]
        offenders += [
            f'{name}: names {path!r}, which does not exist' for path in REPO_PATH.findall(text) if not exists(path)
        ]
    assert not offenders, '\n'.join(offenders)


def test_the_check_finds_what_it_looks_for():
    assert REPO_PATH.findall('see docs/design.md §1.2 and ``tools/train.py``.') == ['docs/design.md', 'tools/train.py']
    assert REPO_PATH.findall('the reference\'s ``configs/baseline/taskonomy.yml``') == []
    assert exists('docs/design.md') and exists('configs/<method>/README.md')
    assert not exists('docs/nothing_here.md')
