"""Write a tiny PASCAL-Context multi-task root in the real PASCAL_MT file formats, and what a reader should get.

Formats, as in the PASCAL_MT release of ASTMT / MTI-Net / InvPT: JPEG images; ``ImageSets/Context/{split}.txt``;
21-class ``uint8`` grey PNGs in ``semseg/pascal-context/`` and a palette PNG (VOC2012 style, 255 borders) in
``semseg/VOC12/``; Pascal-Part ``.mat`` files holding a 1×1 ``anno`` struct (``imname``, ``objects``) whose
1×N ``objects`` have ``class``, ``class_ind`` (double), ``mask`` (uint8) and ``parts`` (1×P struct of
``part_name`` / ``mask``, or a 0×0 double when none); RGB ``uint8`` normals; grey ``uint8`` saliency; Context
``.mat`` files holding ``LabelMap`` (``uint16``, 459 classes, 0 unlabelled).
"""
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image
from scipy.io import savemat

from mmdtme.datasets.transforms.pascal_loading import CONTEXT_LABEL_OF_CLASS, NORMALS_VALID_CONTEXT_LABELS

FOLDERS = ('JPEGImages', 'ImageSets/Context', 'semseg/pascal-context', 'semseg/VOC12', 'human_parts', 'normals_distill',
           'sal_distill', 'pascal-context/trainval')
# Context labels used in the label maps: person (284), chair (72), tvmonitor (427) and dog (113), where the normals
# are ground truth, and sky (360) and 0 (unlabelled), where they are not.
CONTEXT_LABELS = (284, 72, 360, 427, 113, 0)
OBJECT_DTYPE = [('class', 'O'), ('class_ind', 'O'), ('mask', 'O'), ('parts', 'O')]
PART_DTYPE = [('part_name', 'O'), ('mask', 'O')]


def voc_palette() -> List[int]:
    """The 256-colour palette of VOC's SegmentationClass PNGs (bits of the index spread over R, G, B)."""
    palette = []
    for index in range(256):
        red = green = blue = 0
        for bit in range(8):
            red |= ((index >> (3 * bit)) & 1) << (7 - bit)
            green |= ((index >> (3 * bit + 1)) & 1) << (7 - bit)
            blue |= ((index >> (3 * bit + 2)) & 1) << (7 - bit)
        palette += [red, green, blue]
    return palette


def context_to_semseg(label_map: np.ndarray) -> np.ndarray:
    """The 21-class map of a Context label map: the class whose Context label matches, else background."""
    semseg = np.zeros(label_map.shape, dtype=np.uint8)
    for index, context_label in enumerate(CONTEXT_LABEL_OF_CLASS):
        semseg[label_map == context_label] = index
    return semseg


def _struct(dtype, rows: List[tuple]) -> np.ndarray:
    array = np.empty((1, len(rows)), dtype=dtype)
    for column, row in enumerate(rows):
        array[0, column] = row
    return array


def write_parts_mat(path: str, name: str, objects: Sequence[dict]) -> None:
    """A Pascal-Part annotation: ``objects`` are dicts of class, class_ind, mask and parts ``[(name, mask)]``."""
    rows = []
    for obj in objects:
        parts = _struct(PART_DTYPE, [(part, mask.astype(np.uint8)) for part, mask in obj['parts']]) \
            if obj['parts'] else np.zeros((0, 0))
        rows.append((obj['class'], np.array([[float(obj['class_ind'])]]), obj['mask'].astype(np.uint8), parts))
    anno = np.empty((1, 1), dtype=[('imname', 'O'), ('objects', 'O')])
    anno[0, 0] = (name, _struct(OBJECT_DTYPE, rows) if rows else np.zeros((0, 0)))
    savemat(path, {'anno': anno})


def _human_objects(kind: int, height: int, width: int):
    """(objects, expected parts map) for fixture kind 0: persons with parts, 1: no part, 2: no objects."""

    def box(top, left, bottom, right):
        mask = np.zeros((height, width), dtype=bool)
        mask[top:bottom, left:right] = True
        return mask

    if kind == 0:
        head, torso, hand = box(2, 4, 6, 10), box(6, 4, 14, 10), box(10, 8, 13, 14)
        other_foot = box(12, 16, 18, 22)
        objects = [
            {
                'class': 'person',
                'class_ind': 15,
                'mask': head | torso | hand,
                'parts': [('hair', head), ('torso', torso), ('rhand', hand)]
            },
            # parts of other classes are not human parts
            {
                'class': 'dog',
                'class_ind': 12,
                'mask': box(18, 0, 24, 8),
                'parts': [('head', box(18, 0, 20, 4))]
            },
            # a later person overwrites the first one's hand where they overlap
            {
                'class': 'person',
                'class_ind': 15,
                'mask': other_foot | box(12, 12, 14, 14),
                'parts': [('lfoot', other_foot), ('luleg', box(12, 12, 14, 14))]
            },
        ]
        expected = np.zeros((height, width), dtype=np.uint8)
        expected[head], expected[torso], expected[hand] = 1, 2, 4
        expected[other_foot], expected[box(12, 12, 14, 14)] = 6, 5
        return objects, expected
    if kind == 1:
        objects = [{
            'class': 'person',
            'class_ind': 15,
            'mask': box(0, 0, 8, 8),
            'parts': []
        }, {
            'class': 'dog',
            'class_ind': 12,
            'mask': box(8, 8, 16, 16),
            'parts': []
        }]
        return objects, np.full((height, width), 255, dtype=np.uint8)
    return [], np.full((height, width), 255, dtype=np.uint8)


def write_pascal_fixture(root: str,
                         names_per_split: Dict[str, List[str]],
                         height: int = 24,
                         width: int = 32,
                         seed: int = 0) -> dict:
    """Write samples for every task; returns, per name, the arrays a faithful reader returns.

    Sample ``i`` (in split order) has human-parts kind ``i % 3`` (0: persons with parts, 1: persons without
    parts, 2: no objects); the first sample also has a ``semseg/VOC12`` file, which the reader must prefer.
    """
    rng = np.random.default_rng(seed)
    for folder in FOLDERS:
        os.makedirs(osp.join(root, folder), exist_ok=True)
    written, index = {}, 0
    for split, names in names_per_split.items():
        with open(osp.join(root, 'ImageSets', 'Context', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
        for name in names:
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            image_path = osp.join(root, 'JPEGImages', f'{name}.jpg')
            Image.fromarray(image).save(image_path, quality=95)
            with Image.open(image_path) as stored:
                image = np.asarray(stored.convert('RGB'))  # what a JPEG decoder returns

            # blocky Context label map: 4×4 cells of random labels
            cells = rng.choice(CONTEXT_LABELS, size=(height // 4 + 1, width // 4 + 1))
            label_map = np.kron(cells, np.ones((4, 4), dtype=np.int64))[:height, :width].astype(np.uint16)
            savemat(osp.join(root, 'pascal-context', 'trainval', f'{name}.mat'), {'LabelMap': label_map})

            semseg = context_to_semseg(label_map)
            semseg[0, :2] = 255  # an ignored pixel pair, as the released maps may hold
            Image.fromarray(semseg).save(osp.join(root, 'semseg', 'pascal-context', f'{name}.png'))
            if index == 0:
                voc = semseg.copy()
                voc[voc > 5] = 5
                voc[:, -1] = 255  # VOC's void border
                palette_image = Image.fromarray(voc)
                palette_image.putpalette(voc_palette())  # turns the grey image into a palette one
                palette_image.save(osp.join(root, 'semseg', 'VOC12', f'{name}.png'))
                semseg = voc

            objects, parts = _human_objects(index % 3, height, width)
            write_parts_mat(osp.join(root, 'human_parts', f'{name}.mat'), name, objects)

            normals = rng.normal(size=(height, width, 3))
            normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
            stored_normals = np.round((normals + 1) / 2 * 255).astype(np.uint8)
            Image.fromarray(stored_normals).save(osp.join(root, 'normals_distill', f'{name}.png'))
            decoded = stored_normals.astype(np.float32) * (2.0 / 255.0) - 1.0
            valid = np.isin(label_map, list(NORMALS_VALID_CONTEXT_LABELS))
            expected_normals = np.where(valid[..., None], decoded, 0.0).astype(np.float32)

            saliency = rng.integers(0, 256, (height, width), dtype=np.uint8)
            saliency[0, :3] = (127, 128, 255)  # 127/255 < 0.5 < 128/255
            Image.fromarray(saliency).save(osp.join(root, 'sal_distill', f'{name}.png'))

            written[name] = dict(
                image=image,
                label_map=label_map,
                semseg=semseg,
                human_parts=parts,
                normals=expected_normals,
                stored_normals=stored_normals,
                saliency=(saliency >= 128).astype(np.uint8),
                objects=objects)
            index += 1
    return written
