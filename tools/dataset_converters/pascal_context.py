"""Assemble the PASCAL-Context multi-task layout (PASCAL_MT of ASTMT / MTI-Net / InvPT) from the public sources.

Derived here:
  JPEGImages/NAME.jpg               copied (or linked) from VOC2010
  ImageSets/Context/{train,val}.txt VOC2010 ImageSets/Main/{train,val}.txt, restricted to images with a Context
                                    label map (4998 / 5105 with the full sources)
  pascal-context/trainval/NAME.mat  copied from PASCAL-Context trainval/ (the loader computes edges from it and
                                    masks the normals with it)
  semseg/pascal-context/NAME.png    the 459-class LabelMap mapped to the 21 VOC classes: the Context label of each
                                    class (CONTEXT_LABEL_OF_CLASS) becomes its index, every other label background
  semseg/VOC12/NAME.png             optional: VOC2012 SegmentationClass PNGs, which the loader prefers, as the
                                    release and the references do
  human_parts/NAME.mat              copied from Pascal-Part Annotations_Part/; an image without a Pascal-Part file
                                    gets an annotation without objects (all ignored for human parts)

Not derivable: normals_distill/ and sal_distill/ are the outputs of networks distilled by Maninis et al. (ASTMT);
they are only in PASCAL_MT.tgz. Give --distill PATH_TO_EXTRACTED_PASCAL_MT to copy them from there.

Example:
  python tools/dataset_converters/pascal_context.py --voc2010 VOCdevkit/VOC2010 --context trainval \\
      --parts Annotations_Part --voc2012-seg VOCdevkit/VOC2012/SegmentationClass --distill PASCAL_MT \\
      --out data/PASCALContext
"""
import argparse
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image
from scipy.io import savemat
from tqdm import tqdm

from mmdtme.datasets.transforms.pascal_loading import CONTEXT_LABEL_OF_CLASS, read_context_label_map


def context_to_voc21(label_map: np.ndarray) -> np.ndarray:
    """21-class ``uint8`` map of a 459-class Context label map (unlisted labels and 0 → background 0)."""
    lookup = np.zeros(max(int(label_map.max()) + 1, max(CONTEXT_LABEL_OF_CLASS) + 1), dtype=np.uint8)
    for index, context_label in enumerate(CONTEXT_LABEL_OF_CLASS):
        lookup[context_label] = index
    return lookup[label_map]


def empty_parts_annotation(path: str, name: str) -> None:
    """A Pascal-Part style ``anno`` struct with no objects."""
    anno = np.empty((1, 1), dtype=[('imname', 'O'), ('objects', 'O')])
    anno[0, 0] = (name, np.zeros((0, 0)))
    savemat(path, {'anno': anno})


def _place(src: str, dst: str, link: bool) -> None:
    if osp.lexists(dst):
        os.remove(dst)
    if link:
        os.symlink(osp.abspath(src), dst)
    else:
        shutil.copyfile(src, dst)


def _read_split(voc2010: str, split: str) -> List[str]:
    path = osp.join(voc2010, 'ImageSets', 'Main', f'{split}.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found; --voc2010 must be VOCdevkit/VOC2010 (with ImageSets/Main/)')
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def convert(voc2010: str,
            context: str,
            parts: str,
            out: str,
            voc2012_seg: Optional[str] = None,
            distill: Optional[str] = None,
            link: bool = False,
            progress: bool = True) -> Dict[str, int]:
    """Write the multi-task layout under ``out``; returns counts of what was written or missing."""
    for name, path in dict(voc2010=voc2010, context=context, parts=parts).items():
        if not osp.isdir(path):
            raise FileNotFoundError(f'--{name} {path!r} is not a folder')
    folders = ['JPEGImages', 'ImageSets/Context', 'pascal-context/trainval', 'semseg/pascal-context', 'human_parts']
    if voc2012_seg:
        folders.append('semseg/VOC12')
    if distill:
        folders += ['normals_distill', 'sal_distill']
    for folder in folders:
        os.makedirs(osp.join(out, folder), exist_ok=True)

    counts = dict(train=0, val=0, no_context=0, no_parts=0, voc12=0, distilled=0, no_distilled=0)
    for split in ('train', 'val'):
        listed = _read_split(voc2010, split)
        names = [name for name in listed if osp.isfile(osp.join(context, name + '.mat'))]
        counts['no_context'] += len(listed) - len(names)
        with open(osp.join(out, 'ImageSets', 'Context', f'{split}.txt'), 'w') as f:
            f.write(''.join(name + '\n' for name in names))
        counts[split] = len(names)
        for name in tqdm(names, desc=f'PASCAL-Context {split}', disable=not progress):
            _place(osp.join(voc2010, 'JPEGImages', name + '.jpg'), osp.join(out, 'JPEGImages', name + '.jpg'), link)
            label_src = osp.join(context, name + '.mat')
            _place(label_src, osp.join(out, 'pascal-context', 'trainval', name + '.mat'), link)
            semseg = context_to_voc21(read_context_label_map(label_src))
            Image.fromarray(semseg).save(osp.join(out, 'semseg', 'pascal-context', name + '.png'))
            parts_src, parts_dst = osp.join(parts, name + '.mat'), osp.join(out, 'human_parts', name + '.mat')
            if osp.isfile(parts_src):
                _place(parts_src, parts_dst, link)
            else:
                empty_parts_annotation(parts_dst, name)
                counts['no_parts'] += 1
            if voc2012_seg and osp.isfile(osp.join(voc2012_seg, name + '.png')):
                _place(osp.join(voc2012_seg, name + '.png'), osp.join(out, 'semseg', 'VOC12', name + '.png'), link)
                counts['voc12'] += 1
            if distill:
                sources = [osp.join(distill, folder, name + '.png') for folder in ('normals_distill', 'sal_distill')]
                if all(osp.isfile(src) for src in sources):
                    for src, folder in zip(sources, ('normals_distill', 'sal_distill')):
                        _place(src, osp.join(out, folder, name + '.png'), link)
                    counts['distilled'] += 1
                else:
                    counts['no_distilled'] += 1
    return counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--voc2010', required=True, help='VOCdevkit/VOC2010 (JPEGImages/, ImageSets/Main/)')
    parser.add_argument('--context', required=True, help='PASCAL-Context trainval/ folder of NAME.mat label maps')
    parser.add_argument('--parts', required=True, help='Pascal-Part Annotations_Part/ folder of NAME.mat')
    parser.add_argument('--voc2012-seg', help='optional VOC2012 SegmentationClass/ folder (written to semseg/VOC12)')
    parser.add_argument('--distill', help='optional extracted PASCAL_MT root with normals_distill/ and sal_distill/')
    parser.add_argument('--out', required=True, help='output root, e.g. data/PASCALContext')
    parser.add_argument('--link', action='store_true', help='symlink images and .mat files instead of copying')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    counts = convert(
        args.voc2010,
        args.context,
        args.parts,
        args.out,
        voc2012_seg=args.voc2012_seg,
        distill=args.distill,
        link=args.link)
    print(f'wrote {counts["train"]} train / {counts["val"]} val samples to {args.out} '
          f'({counts["voc12"]} with a VOC2012 semseg map)')
    if counts['no_context']:
        print(f'skipped {counts["no_context"]} VOC2010 images without a PASCAL-Context label map')
    if counts['no_parts']:
        print(f'{counts["no_parts"]} images have no Pascal-Part annotation: written without objects (ignored '
              'for human parts)')
    if not args.distill:
        print('normals_distill/ and sal_distill/ are not derivable from these sources: copy them from the '
              'PASCAL_MT.tgz release (or rerun with --distill PATH), or train without normals / saliency '
              "(dataset tasks=['semseg', 'human_parts', 'edge']).")
    elif counts['no_distilled']:
        print(f'{counts["no_distilled"]} images have no distilled normals / saliency under {args.distill}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
