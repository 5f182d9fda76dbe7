"""mmdtme: Dynamic Token Modulation and Expansion for multi-task dense prediction on OpenMMLab.

torch, torchvision and mmcv (with compiled ops) are not listed as install requirements: pip cannot build
mmcv 2.1.0 for torch 2.14 on its own. Run ``bash tools/install.sh``, which installs the whole stack.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmdtme', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(path: str) -> list:
    with open(osp.join(osp.dirname(__file__), path)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-r')]


setup(
    name='mmdtme',
    version=read_version(),
    description='DTME-MTL (Dynamic Token Modulation and Expansion) for multi-task dense prediction on OpenMMLab',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
    classifiers=['License :: OSI Approved :: Apache Software License', 'Programming Language :: Python :: 3'],
)
