import pytest
import timm
import torch

from mmdtme.models.backbones import TimmViT, evenly_spaced_blocks

TINY = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)


def test_evenly_spaced_blocks():
    assert evenly_spaced_blocks(12) == (2, 5, 8, 11)
    assert evenly_spaced_blocks(24) == (5, 11, 17, 23)
    with pytest.raises(ValueError, match='3 blocks'):
        evenly_spaced_blocks(3)


def test_pretrained_local_checkpoint_is_loaded_and_resampled(tmp_path):
    # a "pretrained" model at another resolution, saved as a training checkpoint with a classifier
    source = timm.create_model('vit_tiny_patch16_224', img_size=(64, 64), num_classes=7, **TINY)
    path = str(tmp_path / 'vit.pth')
    torch.save(dict(model=source.state_dict()), path)

    backbone = TimmViT('vit_tiny_patch16_224', img_size=(32, 48), pretrained=path, model_kwargs=TINY)
    backbone.init_weights()
    for name, value in source.state_dict().items():
        if name.startswith('blocks.') or name.startswith('patch_embed.') or name == 'cls_token':
            torch.testing.assert_close(backbone.vit.state_dict()[name], value, msg=name)
    # position embeddings resampled from an 8x8 to a 4x6 grid
    assert backbone.vit.pos_embed.shape == (1, 1 + 4 * 6, 32)


def test_missing_pretrained_file_is_a_clear_error(tmp_path):
    backbone = TimmViT(
        'vit_tiny_patch16_224', img_size=(32, 48), pretrained=str(tmp_path / 'none.pth'), model_kwargs=TINY)
    with pytest.raises(FileNotFoundError, match='none.pth'):
        backbone.init_weights()


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = str(tmp_path / 'resnet.pth')
    torch.save({'conv1.weight': torch.zeros(8, 3, 7, 7)}, path)
    backbone = TimmViT('vit_tiny_patch16_224', img_size=(32, 48), pretrained=path, model_kwargs=TINY)
    with pytest.raises(KeyError, match='another architecture'):
        backbone.init_weights()


def test_input_not_a_multiple_of_the_patch_is_a_clear_error():
    backbone = TimmViT('vit_tiny_patch16_224', img_size=(32, 48), model_kwargs=TINY)
    with pytest.raises(ValueError, match='size_divisor'):
        backbone(torch.zeros(1, 3, 30, 48))
