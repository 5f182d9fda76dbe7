import math
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from fixtures_pascal import write_parts_mat, write_pascal_fixture
from mmdtme.datasets import PascalContextMultiTaskDataset
from mmdtme.datasets.transforms import IgnoreEmptyHumanParts
from mmdtme.datasets.transforms.pascal_loading import (HUMAN_PART_CLASSES, PASCAL_CONTEXT_CLASSES, context_edges,
                                                       load_human_parts)
from mmdtme.evaluation import MultiTaskMetric

TEST_PIPELINE = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadMultiTaskAnnotations', reduce_zero_label=False),
    dict(type='PackMultiTaskInputs')
]
SPLITS = dict(train=['2008_000002', '2008_000003', '2008_000007'], val=['2008_000009'])
TASK_FOLDERS = dict(
    semseg='semseg/pascal-context',
    human_parts='human_parts',
    saliency='sal_distill',
    normals='normals_distill',
    edge='pascal-context/trainval')


@pytest.fixture
def pascal_root(tmp_path):
    root = str(tmp_path / 'PASCALContext')
    return root, write_pascal_fixture(root, SPLITS)


def test_round_trip_of_every_task(pascal_root):
    root, written = pascal_root
    dataset = PascalContextMultiTaskDataset(data_root=root, split='train', pipeline=TEST_PIPELINE)
    assert len(dataset) == 3 and len(PascalContextMultiTaskDataset(data_root=root, split='val')) == 1
    assert dataset.metainfo['classes'] == PASCAL_CONTEXT_CLASSES and len(PASCAL_CONTEXT_CLASSES) == 21
    assert dataset.metainfo['human_parts_classes'] == HUMAN_PART_CLASSES and len(HUMAN_PART_CLASSES) == 7
    for index, name in enumerate(SPLITS['train']):
        packed, expected = dataset[index], written[name]
        sample = packed['data_samples']
        assert np.array_equal(sample.gt_sem_seg.data[0].numpy(), expected['semseg'])
        assert np.array_equal(sample.gt_parts_map.data[0].numpy(), expected['human_parts'])
        assert np.array_equal(sample.gt_saliency_map.data[0].numpy(), expected['saliency'])
        assert np.array_equal(sample.gt_normal_map.data.numpy().transpose(1, 2, 0), expected['normals'])
        assert np.array_equal(sample.gt_edge_map.data[0].numpy(), context_edges(expected['label_map']))
        image = packed['inputs'].numpy().transpose(1, 2, 0)[..., ::-1].astype(int)  # packed BGR
        assert image.shape == expected['image'].shape
        assert np.abs(image - expected['image']).max() <= 2  # OpenCV's and PIL's JPEG decoders may differ by 1-2
    # the first sample has a VOC12 annotation, preferred over the Context-derived map as in the references
    assert dataset.get_data_info(0)['semseg_path'].endswith(osp.join('semseg', 'VOC12', '2008_000002.png'))
    assert dataset.get_data_info(1)['semseg_path'].endswith(osp.join('semseg', 'pascal-context', '2008_000003.png'))
    assert 255 in written['2008_000002']['semseg'][:, -1]


def test_values_of_the_stored_formats(pascal_root):
    root, written = pascal_root
    dataset = PascalContextMultiTaskDataset(data_root=root, split='train', pipeline=TEST_PIPELINE)
    sample = dataset[0]['data_samples']
    # saliency: 127 / 255 < 0.5 -> 0, 128 / 255 > 0.5 -> 1
    assert sample.gt_saliency_map.data[0, 0, :3].tolist() == [0, 1, 1]
    # person parts: 'hair' -> head (1), 'torso' -> torso (2), 'rhand' -> lower arm (4), a later person's 'luleg'
    # over the first one's hand -> upper leg (5); the dog's 'head' part is not a human part
    parts = sample.gt_parts_map.data[0].numpy()
    assert parts[3, 5] == 1 and parts[8, 5] == 2 and parts[11, 9] == 4 and parts[12, 12] == 5
    assert parts[18, 1] == 0 and set(np.unique(parts)) == {0, 1, 2, 4, 5, 6}
    # normals: kept on person, chair, tvmonitor and dog (NYUD classes), zero (no ground truth) on sky and unlabelled
    normals = sample.gt_normal_map.data.numpy()
    label_map = written['2008_000002']['label_map']
    kept = np.isin(label_map, [284, 72, 427, 113])
    assert kept.any() and (~kept).any()
    assert (np.abs(normals).sum(0)[~kept] == 0).all() and (np.abs(normals).sum(0)[kept] > 0).all()
    np.testing.assert_allclose(np.linalg.norm(normals[:, kept], axis=0), 1.0, atol=0.02)
    unmasked = PascalContextMultiTaskDataset(
        data_root=root, split='train', pipeline=TEST_PIPELINE,
        mask_normals=False)[0]['data_samples'].gt_normal_map.data.numpy()
    stored = written['2008_000002']['stored_normals'].astype(np.float32) * 2 / 255 - 1
    np.testing.assert_allclose(unmasked.transpose(1, 2, 0), stored, atol=1e-6)


def test_images_without_people_are_ignored(pascal_root):
    root, written = pascal_root
    dataset = PascalContextMultiTaskDataset(
        data_root=root, split='train', tasks=['human_parts'], pipeline=TEST_PIPELINE)
    # persons without part annotation (and a dog), and a file without any object: all 255
    for index in (1, 2):
        assert (dataset[index]['data_samples'].gt_parts_map.data == 255).all()
        assert dataset[index]['data_samples'].gt_parts_map.data.shape[-2:] == (24, 32)
    # a crop that misses every part is ignored too, like the references' AddIgnoreRegions after their crop
    transform = IgnoreEmptyHumanParts()
    crop = dict(gt_parts_map=np.zeros((4, 4), np.uint8))
    assert (transform(crop)['gt_parts_map'] == 255).all()
    crop = dict(gt_parts_map=np.array([[0, 255], [0, 0]], np.uint8))
    assert (transform(crop)['gt_parts_map'] == 255).all()
    crop = dict(gt_parts_map=np.array([[0, 3], [255, 0]], np.uint8))
    assert transform(crop)['gt_parts_map'].tolist() == [[0, 3], [255, 0]]
    assert list(transform(dict(img=np.zeros((2, 2))))) == ['img']  # no parts map: nothing to do


def test_edges_from_the_label_map_by_hand():
    # a straight boundary between two regions: |Laplacian| > 0 on both sides (2 px), thinned to one column
    label_map = np.ones((6, 8), np.uint16)
    label_map[:, 4:] = 2
    expected = np.zeros((6, 8), np.uint8)
    expected[1:, 3] = 1  # skimage's thin keeps the left column and drops its top pixel
    assert np.array_equal(context_edges(label_map), expected)
    # 1 | 2 | 3: the middle pixel's neighbours cancel in the Laplacian (1 + 3 - 2 * 2 = 0), so it is no edge
    label_map = np.array([[1, 1, 2, 3, 3]] * 5, np.uint16)
    expected = np.zeros((5, 5), np.uint8)
    expected[:, [1, 3]] = 1
    assert np.array_equal(context_edges(label_map), expected)
    # the image border is reflected, not a boundary
    assert not context_edges(np.full((5, 5), 7, np.uint16)).any()


def test_missing_root_and_split(tmp_path, pascal_root):
    with pytest.raises(FileNotFoundError, match='nowhere.*does not exist') as error:
        PascalContextMultiTaskDataset(data_root=str(tmp_path / 'nowhere'))
    assert 'ImageSets/Context' in str(error.value) and 'sal_distill' in str(error.value)
    root, _ = pascal_root
    with pytest.raises(FileNotFoundError, match=r'ImageSets/Context/test\.txt.*does not exist'):
        PascalContextMultiTaskDataset(data_root=root, split='test')


@pytest.mark.parametrize('folder', ['JPEGImages', *TASK_FOLDERS.values()])
def test_missing_folder_is_named(pascal_root, folder):
    root, _ = pascal_root
    shutil.rmtree(osp.join(root, folder))
    with pytest.raises(FileNotFoundError, match=rf"folder\(s\) \['{folder}'\] missing") as error:
        PascalContextMultiTaskDataset(data_root=root, split='train')
    assert 'JPEGImages/NAME.jpg' in str(error.value)  # the expected layout


def test_missing_file_is_named_and_other_tasks_still_load(pascal_root):
    root, _ = pascal_root
    os.remove(osp.join(root, 'sal_distill', '2008_000003.png'))
    with pytest.raises(FileNotFoundError, match=r'sal_distill/2008_000003\.png'):
        PascalContextMultiTaskDataset(data_root=root, split='train')
    assert len(PascalContextMultiTaskDataset(data_root=root, split='train', tasks=['semseg', 'edge'])) == 3
    # the normals mask reads the Context label map, so normals alone need it too
    os.remove(osp.join(root, 'pascal-context', 'trainval', '2008_000007.mat'))
    with pytest.raises(FileNotFoundError, match=r'trainval/2008_000007\.mat'):
        PascalContextMultiTaskDataset(data_root=root, split='train', tasks=['normals'])
    assert len(PascalContextMultiTaskDataset(data_root=root, split='train', tasks=['normals'], mask_normals=False))
    with pytest.raises(ValueError, match="tasks \\['depth'\\]"):
        PascalContextMultiTaskDataset(data_root=root, tasks=['semseg', 'depth'])


@pytest.mark.parametrize('path', [
    'human_parts/2008_000009.mat', 'pascal-context/trainval/2008_000009.mat', 'sal_distill/2008_000009.png',
    'semseg/pascal-context/2008_000009.png'
])
def test_corrupt_file_is_named(pascal_root, path):
    root, _ = pascal_root
    with open(osp.join(root, path), 'wb') as f:
        f.write(b'not what it should be')
    dataset = PascalContextMultiTaskDataset(data_root=root, split='val', pipeline=TEST_PIPELINE, serialize_data=False)
    with pytest.raises(OSError, match=re.escape(path) + '.*corrupt'):
        dataset[0]


def test_wrong_contents_are_explained(pascal_root):
    root, _ = pascal_root
    semseg_path = osp.join(root, 'semseg', 'pascal-context', '2008_000009.png')
    Image.fromarray(np.full((24, 32), 100, np.uint8)).save(semseg_path)
    dataset = PascalContextMultiTaskDataset(data_root=root, split='val', tasks=['semseg'], pipeline=TEST_PIPELINE)
    with pytest.raises(OSError, match=r'\[100\] are not among the 21 classes'):
        dataset[0]
    mask = np.ones((24, 32), bool)
    write_parts_mat(
        osp.join(root, 'human_parts', '2008_000009.mat'), '2008_000009', [{
            'class': 'person',
            'class_ind': 15,
            'mask': mask,
            'parts': [('tail', mask)]
        }])
    with pytest.raises(KeyError, match="unknown person part 'tail'"):
        load_human_parts(osp.join(root, 'human_parts', '2008_000009.mat'))


def evaluate(dataset, head_as_torso: bool = False) -> dict:
    """Ground truth as prediction (parts of images without people: all 3; optionally head predicted as torso)."""
    metric = MultiTaskMetric(edge_thresholds=9)
    metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        gt = dataset[index]['data_samples']
        parts = gt.gt_parts_map.data.clone()
        if (parts == 255).all():
            parts[:] = 3  # any prediction: these images are ignored
        elif head_as_torso:
            parts[parts == 1] = 2
        sample = dict(
            gt_sem_seg=dict(data=gt.gt_sem_seg.data),
            pred_sem_seg=dict(data=gt.gt_sem_seg.data.clone()),
            gt_parts_map=dict(data=gt.gt_parts_map.data),
            pred_parts_map=dict(data=parts),
            gt_saliency_map=dict(data=gt.gt_saliency_map.data),
            pred_saliency_map=dict(data=gt.gt_saliency_map.data.float() * 0.8 + 0.1),
            gt_normal_map=dict(data=gt.gt_normal_map.data),
            pred_normal_map=dict(data=gt.gt_normal_map.data.clone()),
            gt_edge_map=dict(data=gt.gt_edge_map.data),
            pred_edge_map=dict(data=gt.gt_edge_map.data.float()))
        metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def test_evaluation_of_all_five_tasks(pascal_root):
    root, _ = pascal_root
    dataset = PascalContextMultiTaskDataset(data_root=root, split='train', pipeline=TEST_PIPELINE)
    results = evaluate(dataset)
    assert results['semseg/mIoU'] == 100.0 and results['human_parts/mIoU'] == 100.0
    assert results['saliency/maxF'] == 100.0 and results['saliency/mIoU'] == 100.0
    assert math.isclose(results['normals/mean'], 0.0, abs_tol=0.05) and results['edge/pixel_odsF'] == 100.0
    # image 0 has 24 head, 42 torso, 16 lower-arm, 4 upper-leg, 36 lower-leg and 646 background pixels; with the
    # head predicted as torso: IoU head 0, torso 42 / 66, the other 4 present classes 1 (class 3, predicted only
    # on the ignored images, is absent)
    results = evaluate(dataset, head_as_torso=True)
    assert math.isclose(results['human_parts/mIoU'], 100 * (4 + 42 / 66) / 6)


def test_pascal_config_trains_and_evaluates_on_the_fixture(tmp_path):
    """configs/baseline/vitb_pascal.py with a tiny ViT: the train pipeline, 5 heads and the metric fit together."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from helpers import REPO_ROOT
    root = str(tmp_path / 'PASCALContext')
    # val: persons without parts, no objects, persons with parts
    write_pascal_fixture(
        root,
        dict(train=[f'2008_{i:06d}' for i in range(4)], val=[f'2009_{i:06d}' for i in range(3)]),
        height=32,
        width=48)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/baseline/vitb_pascal.py'))
    cfg.work_dir = str(tmp_path / 'work')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[name].dataset.data_root = root
    for step in cfg.train_dataloader.dataset.pipeline:
        step.update(dict(RandomResize=dict(scale=(48, 32)), RandomCrop=dict(crop_size=(32, 48))).get(step.type, {}))
    cfg.model.data_preprocessor.size = cfg.model.backbone.img_size = (32, 48)
    cfg.model.backbone.model_kwargs = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)
    cfg.model.backbone.pretrained = None  # a shrunk ViT: the ImageNet-22K weights do not fit it
    for head in cfg.model.heads.values():
        head.channels = 16
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 2
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    for key in ('semseg/mIoU', 'human_parts/mIoU', 'saliency/maxF', 'saliency/mIoU', 'normals/mean',
                'edge/approx_odsF'):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics['saliency/maxF'] <= 100.0
    test_metrics = runner.test()  # the test evaluator runs the exact BSDS protocol at PASCAL's radius
    assert runner.test_evaluator.metrics[0].edge_max_dist == 0.0075
    assert 0.0 <= test_metrics['edge/odsF'] <= test_metrics['edge/oisF'] <= 100.0


def load_converter():
    import importlib.util

    from helpers import REPO_ROOT
    spec = importlib.util.spec_from_file_location(
        'pascal_converter', osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'pascal_context.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_assembles_the_layout_from_the_public_sources(tmp_path, pascal_root, capsys):
    """VOC2010 + PASCAL-Context trainval/*.mat + Pascal-Part *.mat -> a root the dataset reads (no distilled maps)."""
    source, written = pascal_root
    voc, context, parts = tmp_path / 'VOC2010', str(tmp_path / 'trainval'), str(tmp_path / 'Annotations_Part')
    os.makedirs(voc / 'ImageSets' / 'Main')
    shutil.copytree(osp.join(source, 'JPEGImages'), voc / 'JPEGImages')
    shutil.copytree(osp.join(source, 'pascal-context', 'trainval'), context)
    shutil.copytree(osp.join(source, 'human_parts'), parts)
    os.remove(osp.join(parts, '2008_000002.mat'))  # an image Pascal-Part does not annotate
    for split, names in dict(train=SPLITS['train'] + ['2008_999999'], val=SPLITS['val']).items():
        (voc / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(names) + '\n')  # 2008_999999: no Context
    out = str(tmp_path / 'converted')
    converter = load_converter()
    assert converter.main(['--voc2010', str(voc), '--context', context, '--parts', parts, '--out', out]) == 0
    report = capsys.readouterr().out
    assert 'wrote 3 train / 1 val' in report and 'skipped 1' in report and 'sal_distill/' in report
    dataset = PascalContextMultiTaskDataset(
        data_root=out, split='train', tasks=['semseg', 'human_parts', 'edge'], pipeline=TEST_PIPELINE)
    assert len(dataset) == 3
    for index, name in enumerate(SPLITS['train']):
        sample = dataset[index]['data_samples']
        label_map = written[name]['label_map']
        expected = np.zeros(label_map.shape, np.uint8)  # person 284 -> 15, chair 72 -> 9, tv 427 -> 20, dog -> 12
        for context_label, voc_class in ((284, 15), (72, 9), (427, 20), (113, 12)):
            expected[label_map == context_label] = voc_class
        assert np.array_equal(sample.gt_sem_seg.data[0].numpy(), expected)
        assert np.array_equal(sample.gt_edge_map.data[0].numpy(), context_edges(label_map))
    assert (dataset[0]['data_samples'].gt_parts_map.data == 255).all()  # no Pascal-Part file: ignored
    with pytest.raises(FileNotFoundError, match='--parts'):
        converter.convert(str(voc), context, str(tmp_path / 'nothing'), out)
