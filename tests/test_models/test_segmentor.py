import pytest
import torch

from helpers import TINY_SIZE, fake_batch
from mmdtme.registry import MODELS

TASKS = ('semseg', 'depth', 'normals', 'edge')


def tiny_model(tasks=TASKS, heads=None):
    heads = heads if heads is not None else dict(
        semseg=dict(type='TaskConvHead', out_channels=5, channels=8),
        depth=dict(type='TaskConvHead', out_channels=1, channels=8),
        normals=dict(type='TaskConvHead', out_channels=3, channels=8),
        edge=dict(type='TaskConvHead', out_channels=1, channels=8))
    return MODELS.build(
        dict(
            type='MultiTaskSegmentor',
            tasks=list(tasks),
            heads=heads,
            data_preprocessor=dict(
                type='MultiTaskDataPreProcessor', mean=[0, 0, 0], std=[255, 255, 255], size_divisor=8),
            backbone=dict(
                type='TimmViT',
                model_name='vit_tiny_patch16_224',
                img_size=TINY_SIZE,
                model_kwargs=dict(patch_size=8, embed_dim=32, depth=4, num_heads=2))))


def test_backbone_returns_four_evenly_spaced_levels():
    model = tiny_model()
    assert model.backbone.out_indices == (0, 1, 2, 3)
    features = model.backbone(torch.randn(2, 3, 32, 48))
    assert [tuple(f.shape) for f in features] == [(2, 32, 4, 6)] * 4


def test_loss_has_every_task_and_backpropagates():
    model = tiny_model()
    data = model.data_preprocessor(fake_batch(), training=True)
    assert data['inputs'].shape == (2, 3, 32, 48)  # padded to the patch size
    assert set(data['data_samples'][0].gt_depth_map.data.shape[-2:]) == {32, 48}
    losses = model(**data, mode='loss')
    assert set(losses) == {'semseg.loss_ce', 'depth.loss_l1', 'normals.loss_l1', 'edge.loss_bce'}
    total, _ = model.parse_losses(losses)
    total.backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None]
    assert without_grad == []


def test_padding_values_are_ignored_by_losses():
    model = tiny_model()
    data = model.data_preprocessor(fake_batch(size=(30, 44)), training=True)
    sample = data['data_samples'][0]
    assert (sample.gt_sem_seg.data[:, 30:] == 255).all() and (sample.gt_edge_map.data[:, :, 44:] == 255).all()
    assert (sample.gt_depth_map.data[:, 30:] == 0).all() and (sample.gt_normal_map.data[:, 30:] == 0).all()


def test_predict_crops_padding_and_fills_every_task():
    model = tiny_model().eval()
    with torch.no_grad():
        data = model.data_preprocessor(fake_batch(size=(30, 44)), training=False)
        samples = model(**data, mode='predict')
    sample = samples[0]
    assert sample.pred_sem_seg.data.shape == (1, 30, 44)
    assert sample.pred_sem_seg.data.max() < 5
    assert sample.pred_depth_map.data.shape == (1, 30, 44)
    torch.testing.assert_close(sample.pred_normal_map.data.norm(dim=0), torch.ones(30, 44))
    edge = sample.pred_edge_map.data
    assert edge.shape == (1, 30, 44) and 0 <= edge.min() and edge.max() <= 1


def test_single_task_model_has_one_head():
    model = tiny_model(tasks=['depth'])
    assert list(model.heads) == ['depth']
    data = model.data_preprocessor(fake_batch(), training=True)
    assert list(model(**data, mode='loss')) == ['depth.loss_l1']


def test_task_without_head_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\['edge'\].*no head"):
        tiny_model(
            heads=dict(
                semseg=dict(type='TaskConvHead', out_channels=5),
                depth=dict(type='TaskConvHead', out_channels=1),
                normals=dict(type='TaskConvHead', out_channels=3)))


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match='unknown task'):
        tiny_model(tasks=['semseg', 'optical_flow'])


def test_nan_loss_names_the_loss():
    model = tiny_model()
    with pytest.raises(FloatingPointError, match='depth.loss_l1'):
        model.parse_losses({'semseg.loss_ce': torch.tensor(1.0), 'depth.loss_l1': torch.tensor(float('nan'))})
