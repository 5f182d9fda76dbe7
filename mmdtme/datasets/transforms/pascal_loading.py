"""Readers of the PASCAL-Context multi-task annotations (5 tasks, PASCAL_MT layout of ASTMT / MTI-Net / InvPT).

Ground truth is read as the reference loaders read it (facebookresearch/astmt ``fblib/dataloaders/pascal_context.py``,
kept unchanged by Multi-Task-Learning-PyTorch and InvPT / TaskPrompter ``data/pascal_context.py``):

- semseg: 21 classes (VOC background + 20), ``semseg/VOC12/NAME.png`` when present, else
  ``semseg/pascal-context/NAME.png``; 255 = ignore.
- human_parts: Pascal-Part ``anno`` struct, persons' parts merged into 6 parts + background; an image (or a training
  crop, see :class:`IgnoreEmptyHumanParts`) with no part pixel is all 255 (the reference's ``AddIgnoreRegions``).
- normals: distilled RGB PNG decoded as ``2 v / 255 - 1``, kept only on PASCAL-Context classes that NYUD also labels
  (zero = no ground truth elsewhere).
- saliency: distilled grey PNG, ``v / 255 > 0.5`` → 1.
- edge: ``cv2.Laplacian`` (3×3, 4-neighbour) of the Context ``LabelMap``, non-zero → edge, thinned to one pixel as
  the references' ``skimage.morphology.thin`` (:func:`mmdtme.evaluation.edge_eval.thin_edges`, pixel-identical).
"""
import io
import os.path as osp

import numpy as np
from mmengine import fileio
from PIL import Image

from .loading import register_annotation_loader

PASCAL_CONTEXT_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
                          'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
                          'train', 'tvmonitor')
HUMAN_PART_CLASSES = ('background', 'head', 'torso', 'uarm', 'larm', 'uleg', 'lleg')

# PASCAL-Context (459 classes) label of each of the 21 classes above; every other label is background.
CONTEXT_LABEL_OF_CLASS = (0, 2, 23, 25, 31, 34, 45, 59, 65, 72, 98, 397, 113, 207, 258, 284, 308, 347, 368, 416, 427)

# Pascal-Part person part name -> one of the 6 parts (the references' ``HUMAN_PART[6]``).
PERSON_PART_TO_CLASS = {
    **dict.fromkeys(('hair', 'head', 'lear', 'lebrow', 'leye', 'mouth', 'nose', 'rear', 'rebrow', 'reye'), 1),
    **dict.fromkeys(('neck', 'torso'), 2),
    **dict.fromkeys(('luarm', 'ruarm'), 3),
    **dict.fromkeys(('lhand', 'llarm', 'rhand', 'rlarm'), 4),
    **dict.fromkeys(('luleg', 'ruleg'), 5),
    **dict.fromkeys(('lfoot', 'llleg', 'rfoot', 'rlleg'), 6),
}
PERSON_CLASS_INDEX = 15  # Pascal-Part ``class_ind`` of 'person'

# PASCAL-Context labels on which the distilled normals are ground truth: the Context classes whose name is also an
# NYUD class (except 'unknown'), plus 'tvmonitor' (the references' ``normals_valid_classes``, from their
# ``db_info/{nyu,context}_classes.json``).
NORMALS_VALID_CONTEXT_LABELS = frozenset(
    (3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43, 46, 49, 50, 51, 53, 55, 56, 59,
     61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95, 96, 101, 104, 105, 107, 111, 113, 115, 122, 124, 135,
     141, 142, 143, 146, 150, 154, 157, 158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215,
     216, 219, 220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255, 260, 261, 263, 269, 272,
     273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292, 293, 295, 304, 307, 309, 310, 314, 315, 319, 323, 329,
     330, 331, 336, 342, 345, 349, 350, 351, 352, 355, 357, 368, 370, 371, 374, 379, 380, 383, 384, 397, 401, 403, 405,
     407, 408, 411, 412, 413, 414, 417, 419, 421, 423, 427, 429, 430, 432, 440, 441, 442, 443, 444, 446, 454, 457))

_NORMALS_VALID_ARRAY = np.array(sorted(NORMALS_VALID_CONTEXT_LABELS))

IGNORE_INDEX = 255


def _root_of(path: str, depth: int) -> str:
    for _ in range(depth):
        path = osp.dirname(path)
    return path


def _name_of(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def context_label_path(root: str, name: str) -> str:
    return osp.join(root, 'pascal-context', 'trainval', name + '.mat')


def _loadmat(path: str) -> dict:
    # scipy is imported here so that importing mmdtme does not pay for it
    from scipy.io import loadmat
    return loadmat(io.BytesIO(fileio.get(path)))


def read_context_label_map(path: str) -> np.ndarray:
    """The 459-class ``LabelMap`` (H×W, 0 = unlabelled) of a PASCAL-Context ``trainval/NAME.mat``."""
    mat = _loadmat(path)
    if 'LabelMap' not in mat:
        raise KeyError(f'{path!r} has no LabelMap (variables: {sorted(k for k in mat if not k.startswith("__"))}); '
                       'expected a PASCAL-Context trainval/*.mat')
    return np.asarray(mat['LabelMap'])


def context_edges(label_map: np.ndarray) -> np.ndarray:
    """Edges of a label map as the references compute them: ``thin(|Laplacian| > 0)``, ``uint8`` in {0, 1}.

    The Laplacian is OpenCV's 3×3 aperture (4-neighbour sum minus 4× the centre, reflected border), so a pixel
    whose differing neighbours cancel out (e.g. 1 | 2 | 3 in a row) is not an edge, exactly as in the references.
    """
    import cv2

    from mmdtme.evaluation.edge_eval import thin_edges  # the same Guo-Hall thinning as skimage's, 3-10x faster
    laplacian = cv2.Laplacian(np.ascontiguousarray(label_map, dtype=np.float64), cv2.CV_64F)
    return thin_edges(np.abs(laplacian) > 0).astype(np.uint8)


@register_annotation_loader('pascal_semseg')
def load_pascal_semseg(path: str) -> np.ndarray:
    """21-class map ``uint8`` H×W as stored (0 = background, 255 = ignore); other values are an error."""
    with Image.open(io.BytesIO(fileio.get(path))) as image:
        # palette PNGs (VOC12) hold class indices; convert('L') would map them through the palette
        label = np.asarray(image if image.mode in ('L', 'P') else image.convert('L'))
    bad = np.setdiff1d(np.unique(label), np.r_[np.arange(len(PASCAL_CONTEXT_CLASSES)), IGNORE_INDEX])
    if bad.size:
        raise ValueError(f'values {bad.tolist()} are not among the 21 classes or 255; is this a 21-class map '
                         '(tools/dataset_converters/pascal_context.py writes one from the 459-class LabelMap)?')
    return label.astype(np.uint8)


@register_annotation_loader('pascal_human_parts')
def load_human_parts(path: str) -> np.ndarray:
    """6 parts + background ``uint8`` H×W from a Pascal-Part ``anno`` struct; all 255 when no part is labelled.

    Every person object (``class_ind`` 15) with parts paints its parts, later objects over earlier ones, on a
    background of 0. An image with no person part (no person, persons without part annotation, empty masks) is
    all 255, so it counts neither in the loss nor in the mIoU, as the references' ``AddIgnoreRegions`` makes it.
    The size of a file without objects is read from ``JPEGImages/NAME.jpg`` next to ``human_parts/``.
    """
    anno = _loadmat(path).get('anno')
    if anno is None or not anno.dtype.names or 'objects' not in anno.dtype.names:
        raise KeyError(f'{path!r} has no anno.objects; expected a Pascal-Part annotation (Annotations_Part/*.mat)')
    objects = anno['objects'].ravel()[0]
    objects = objects.ravel() if objects.dtype.names else objects[:0].ravel()
    target = None
    for obj in objects:
        mask = np.asarray(obj['mask'])
        if target is None:
            target = np.zeros(mask.shape, dtype=np.uint8)
        parts = np.asarray(obj['parts'])
        if int(np.asarray(obj['class_ind']).ravel()[0]) != PERSON_CLASS_INDEX or parts.size == 0:
            continue
        for part in parts.ravel():
            name = str(np.asarray(part['part_name']).ravel()[0])
            if name not in PERSON_PART_TO_CLASS:
                raise KeyError(f'{path!r}: unknown person part {name!r}; known: {sorted(PERSON_PART_TO_CLASS)}')
            target[np.asarray(part['mask']).astype(bool)] = PERSON_PART_TO_CLASS[name]
    if target is None:
        image_path = osp.join(_root_of(path, 2), 'JPEGImages', _name_of(path) + '.jpg')
        with Image.open(io.BytesIO(fileio.get(image_path))) as image:
            target = np.zeros(image.size[::-1], dtype=np.uint8)
    if not target.any():
        target[:] = IGNORE_INDEX
    return target


@register_annotation_loader('pascal_normals')
def load_masked_normals(path: str) -> np.ndarray:
    """Distilled normals ``float32`` H×W×3 (``2 v / 255 - 1``), zero outside the NYUD-like Context classes.

    The Context label map is read from ``pascal-context/trainval/NAME.mat`` next to ``normals_distill/``.
    """
    with Image.open(io.BytesIO(fileio.get(path))) as image:
        normals = np.asarray(image.convert('RGB')).astype(np.float32) * (2.0 / 255.0) - 1.0
    label_path = context_label_path(_root_of(path, 2), _name_of(path))
    try:
        label_map = read_context_label_map(label_path)
    except Exception as error:
        raise OSError(f'cannot read the Context label map {label_path!r} that masks these normals ({error})') from error
    if label_map.shape != normals.shape[:2]:
        raise ValueError(f'Context label map {label_path!r} is {label_map.shape} but the normals are '
                         f'{normals.shape[:2]}')
    valid = np.isin(label_map, _NORMALS_VALID_ARRAY)
    return np.where(valid[..., None], normals, np.float32(0.0))


@register_annotation_loader('pascal_saliency')
def load_saliency(path: str) -> np.ndarray:
    """Binary saliency ``uint8`` H×W: 1 where the distilled map's ``v / 255 > 0.5``."""
    with Image.open(io.BytesIO(fileio.get(path))) as image:
        grey = np.asarray(image if image.mode == 'L' else image.convert('L'))
    return (grey.astype(np.float32) / 255.0 > 0.5).astype(np.uint8)


@register_annotation_loader('pascal_context_edge')
def load_context_edge(path: str) -> np.ndarray:
    """Edge map ``uint8`` H×W in {0, 1} computed from a Context ``LabelMap`` (see :func:`context_edges`)."""
    return context_edges(read_context_label_map(path))
