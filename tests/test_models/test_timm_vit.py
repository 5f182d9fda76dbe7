import time

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from helpers import free_port
from mmdtme.models.backbones import PretrainedWeightsUnavailable, TimmViT, evenly_spaced_blocks, pretrained_weights

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


def save_jax_npz(vit, path):
    """A timm ViT's weights in the layout of Google's JAX ``.npz`` checkpoints, the files timm's loader reads."""
    sd = {key: value.detach().numpy() for key, value in vit.state_dict().items()}
    C, H = vit.embed_dim, vit.blocks[0].attn.num_heads
    arrays = {
        'embedding/kernel': sd['patch_embed.proj.weight'].transpose(2, 3, 1, 0),  # OIHW -> HWIO
        'embedding/bias': sd['patch_embed.proj.bias'],
        'cls': sd['cls_token'],
        'Transformer/posembed_input/pos_embedding': sd['pos_embed'],
    }
    for i in range(len(vit.blocks)):
        ours, theirs = f'blocks.{i}.', f'Transformer/encoderblock_{i}/'
        attention = theirs + 'MultiHeadDotProductAttention_1/'
        for name, norm in (('LayerNorm_0', 'norm1'), ('LayerNorm_2', 'norm2')):
            arrays[f'{theirs}{name}/scale'] = sd[f'{ours}{norm}.weight']
            arrays[f'{theirs}{name}/bias'] = sd[f'{ours}{norm}.bias']
        weights = sd[ours + 'attn.qkv.weight'].reshape(3, C, C)
        biases = sd[ours + 'attn.qkv.bias'].reshape(3, H, C // H)
        for index, name in enumerate(('query', 'key', 'value')):
            arrays[f'{attention}{name}/kernel'] = weights[index].T.reshape(C, H, C // H)
            arrays[f'{attention}{name}/bias'] = biases[index]
        arrays[attention + 'out/kernel'] = sd[ours + 'attn.proj.weight'].reshape(C, H, C // H).transpose(1, 2, 0)
        arrays[attention + 'out/bias'] = sd[ours + 'attn.proj.bias']
        for r in range(2):
            arrays[f'{theirs}MlpBlock_3/Dense_{r}/kernel'] = sd[f'{ours}mlp.fc{r + 1}.weight'].T
            arrays[f'{theirs}MlpBlock_3/Dense_{r}/bias'] = sd[f'{ours}mlp.fc{r + 1}.bias']
    np.savez(path, **arrays)


@pytest.mark.parametrize('suffix', ['pth', 'safetensors', 'npz'])
def test_local_weights_of_every_format_load_and_the_log_names_file_keys_and_resampling(tmp_path, monkeypatch, suffix):
    source = timm.create_model('vit_tiny_patch16_224', img_size=(64, 64), num_classes=0, **TINY)
    path = str(tmp_path / f'vit.{suffix}')
    if suffix == 'pth':
        torch.save(source.state_dict(), path)
    elif suffix == 'safetensors':
        save_file(source.state_dict(), path)
    else:
        save_jax_npz(source, path)
    logged = []
    monkeypatch.setattr(pretrained_weights, 'print_log', lambda message, **kwargs: logged.append(message))
    backbone = TimmViT('vit_tiny_patch16_224', img_size=(32, 48), pretrained=path, model_kwargs=TINY)
    backbone.init_weights()
    for name, value in source.state_dict().items():
        if name.startswith('blocks.') or name.startswith('patch_embed.') or name == 'cls_token':
            torch.testing.assert_close(backbone.vit.state_dict()[name], value, msg=name)
    assert len(logged) == 1 and path in logged[0]
    assert 'pos_embed (1, 65, 32) -> (1, 25, 32)' in logged[0]  # 8x8 grid + class token to 4x6
    if suffix != 'npz':
        total = len(backbone.vit.state_dict())
        assert f'{total} of {total} tensors matched' in logged[0]


def test_timm_weights_come_from_the_hub_cache_without_network(tmp_path, monkeypatch):
    # what huggingface_hub would have cached after the first download
    source = timm.create_model('vit_tiny_patch16_224', img_size=(64, 64), num_classes=0, **TINY)
    cached = str(tmp_path / 'model.safetensors')
    save_file(source.state_dict(), cached)
    monkeypatch.setattr('huggingface_hub.try_to_load_from_cache', lambda repo, filename: cached
                        if repo == 'timm/vit_tiny_patch16_224.augreg_in21k' else None)
    monkeypatch.setattr(pretrained_weights, '_reachable', lambda url: pytest.fail('no connection may be tried'))
    logged = []
    monkeypatch.setattr(pretrained_weights, 'print_log', lambda message, **kwargs: logged.append(message))
    backbone = TimmViT('vit_tiny_patch16_224.augreg_in21k', img_size=(32, 48), pretrained='timm', model_kwargs=TINY)
    backbone.init_weights()
    torch.testing.assert_close(backbone.vit.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert 'timm/vit_tiny_patch16_224.augreg_in21k' in logged[0] and cached in logged[0]


def test_timm_weights_without_cache_or_network_fail_at_once_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr('huggingface_hub.try_to_load_from_cache', lambda repo, filename: None)
    monkeypatch.setattr(pretrained_weights, '_hub_endpoint', lambda: f'http://127.0.0.1:{free_port()}')
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable) as error:
        pretrained_weights.resolve_timm_weights('vit_base_patch16_384')
    assert time.monotonic() - start < 10  # one refused connection, no retries
    message = str(error.value)
    assert '/timm/vit_base_patch16_384.augreg_in21k_ft_in1k/resolve/main/model.safetensors' in message
    assert '--cfg-options model.backbone.pretrained=checkpoints/vit_base_patch16_384.augreg_in21k_ft_in1k' \
        '.safetensors' in message
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(PretrainedWeightsUnavailable, match='HF_HUB_OFFLINE'):
        pretrained_weights.resolve_timm_weights('vit_base_patch16_384')
    with pytest.raises(ValueError, match='no Hugging Face weights'):
        pretrained_weights.resolve_timm_weights('vit_base_patch16_384.no_such_tag')
