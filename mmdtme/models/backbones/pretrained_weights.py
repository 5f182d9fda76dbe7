"""Where a ViT's pretrained weights come from and how they are loaded.

``pretrained`` of a backbone is ``None`` (random initialisation), a local file (timm / DeiT ``.pth`` / ``.bin`` /
``.safetensors`` or a JAX ``.npz``), or ``'timm'``: the weights timm publishes for the model name, e.g.
``vit_base_patch16_384`` → ``timm/vit_base_patch16_384.augreg_in21k_ft_in1k`` on the Hugging Face Hub (ImageNet-21K,
i.e. ImageNet-22K, pre-training, as the paper's backbones). A tag in the name (``'vit_base_patch16_384.orig_in21k'``)
picks other weights. Timm weights are taken from the Hugging Face cache, or downloaded into it once.

Without network the download would wait on retries; :func:`resolve_timm_weights` therefore first tries one TCP
connection to the hub with a short timeout and, when that fails, raises :class:`PretrainedWeightsUnavailable` at
once, with the file to fetch and the override that points a run at it.
"""
import os
import os.path as osp
import socket
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

import timm
import torch
from mmengine.logging import print_log
from timm.models import get_pretrained_cfg
from timm.models.vision_transformer import checkpoint_filter_fn

TIMM_WEIGHTS = 'timm'
CONNECT_TIMEOUT_S = 5.0
HUB_FILENAMES = ('model.safetensors', 'pytorch_model.bin')  # what timm's hub repositories hold, preferred first


class PretrainedWeightsUnavailable(FileNotFoundError):
    """The pretrained weights a config asks for are neither cached nor downloadable."""


def _hub_endpoint() -> str:
    from huggingface_hub import constants
    return constants.ENDPOINT.rstrip('/')


def _reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> Tuple[bool, str]:
    """Whether one TCP connection to ``url``'s host succeeds within ``timeout`` seconds, and why not."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == 'https' else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True, ''
    except OSError as error:
        return False, f'{type(error).__name__}: {error}'


def _unavailable(model_name: str, url: str, reason: str) -> PretrainedWeightsUnavailable:
    repository, filename = urlparse(url).path.split('/')[-4], osp.basename(urlparse(url).path)
    local = osp.join('checkpoints', f'{repository}{osp.splitext(filename)[1]}')
    return PretrainedWeightsUnavailable(
        f'the pretrained weights of {model_name} are not cached and cannot be downloaded ({reason}). Download\n'
        f'  {url}\n'
        f'on a machine with network, copy it here, e.g. to {local}, and run with\n'
        f'  --cfg-options model.backbone.pretrained={local}\n'
        'or set model.backbone.pretrained=None to train from random weights')


def resolve_timm_weights(model_name: str) -> str:
    """The local file of timm's weights for ``model_name`` (a tag allowed), downloaded into the cache if needed.

    Raises:
        ValueError: timm publishes no weights for the name.
        PretrainedWeightsUnavailable: not cached, and the hub cannot be reached (fails within
            :data:`CONNECT_TIMEOUT_S` seconds) or the download fails.
    """
    hub_id = _hub_id(model_name)
    if not hub_id:
        tags = timm.list_pretrained(model_name.split('.')[0] + '.*')
        raise ValueError(f'timm publishes no Hugging Face weights for {model_name!r} (its tags: {tags or "none"}); '
                         'name one of them in model.backbone.model_name or give model.backbone.pretrained a file')
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    for filename in HUB_FILENAMES:
        cached = try_to_load_from_cache(hub_id, filename)
        if isinstance(cached, str):
            return cached
    url = f'{_hub_endpoint()}/{hub_id}/resolve/main/{HUB_FILENAMES[0]}'
    if os.environ.get('HF_HUB_OFFLINE', '0').lower() in ('1', 'true', 'yes'):
        raise _unavailable(model_name, url, 'HF_HUB_OFFLINE is set')
    reachable, reason = _reachable(url)
    if not reachable:
        raise _unavailable(model_name, url, f'{urlparse(url).hostname}: {reason}')
    print_log(f'downloading the pretrained weights of {model_name} from {url}', logger='current')
    try:
        return hf_hub_download(hub_id, HUB_FILENAMES[0])
    except Exception as error:  # the hub's errors have no common base short of Exception
        raise _unavailable(model_name, url, f'{type(error).__name__}: {str(error).splitlines()[0]}') from None


def _hub_id(model_name: str) -> Optional[str]:
    try:
        cfg = get_pretrained_cfg(model_name)
    except RuntimeError:  # a tag timm does not know
        return None
    return getattr(cfg, 'hf_hub_id', None) if cfg is not None else None


def describe_timm_weights(model_name: str) -> str:
    """``'timm/vit_base_patch16_384.augreg_in21k_ft_in1k'``: the hub repository ``'timm'`` stands for."""
    return _hub_id(model_name) or f'no published weights for {model_name}'


def _read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state_dict = load_file(path)
    else:
        state_dict = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model', 'module'):
        if isinstance(state_dict, dict) and key in state_dict and isinstance(state_dict[key], dict):
            state_dict = state_dict[key]
    for prefix in ('module.', 'backbone.vit.', 'backbone.'):
        if any(key.startswith(prefix) for key in state_dict):
            state_dict = {
                key[len(prefix):] if key.startswith(prefix) else key: value
                for key, value in state_dict.items()
            }
    return state_dict


def _resampled(before: Dict[str, torch.Size], vit: torch.nn.Module) -> List[str]:
    model = vit.state_dict()
    return [
        f'{key} {tuple(before[key])} -> {tuple(model[key].shape)}' for key in ('pos_embed', 'patch_embed.proj.weight')
        if key in before and key in model and tuple(before[key]) != tuple(model[key].shape)
    ]


def load_vit_checkpoint(vit: torch.nn.Module, path: str, source: Optional[str] = None) -> None:
    """Load ViT weights from a local file and log what was loaded: source, keys matched / missing / skipped, and
    the tensors resampled to this model (position embeddings to its grid, the patch embedding to its patch size,
    with timm's ``checkpoint_filter_fn``). Classifier weights and other extra keys are skipped.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'pretrained ViT checkpoint {path!r} does not exist; download the weights '
                                '(e.g. ImageNet-22K ViT-B/16) and set model.backbone.pretrained to the file')
    source = source or path
    if path.endswith('.npz'):
        import numpy as np
        with np.load(path) as arrays:  # the names of Google's JAX checkpoints, which timm's loader reads
            before = {
                key: torch.Size(arrays[name].shape)
                for key, name in (('pos_embed', 'Transformer/posembed_input/pos_embedding'),
                                  ('patch_embed.proj.weight', 'embedding/kernel')) if name in arrays.files
            }
        if 'patch_embed.proj.weight' in before:  # HWIO -> OIHW
            height, width, channels, out = before['patch_embed.proj.weight']
            before['patch_embed.proj.weight'] = torch.Size((out, channels, height, width))
        vit.load_pretrained(path)  # timm's JAX loader; it resamples the position and patch embeddings itself
        print_log(
            f'backbone weights loaded from {source}: a JAX .npz read by timm (every ViT tensor); resampled: '
            f'{_resampled(before, vit) or "none"}',
            logger='current')
        return
    state_dict = _read_state_dict(path)
    before = {key: value.shape for key, value in state_dict.items() if hasattr(value, 'shape')}
    state_dict = checkpoint_filter_fn(state_dict, vit)
    incompatible = vit.load_state_dict(state_dict, strict=False)
    missing_blocks = [key for key in incompatible.missing_keys if key.startswith('blocks.')]
    if missing_blocks:
        raise KeyError(f'{path!r} does not hold this ViT\'s transformer blocks (missing e.g. {missing_blocks[:3]}); '
                       'is it a checkpoint of another architecture?')
    total = len(vit.state_dict())
    resampled = _resampled(before, vit)
    print_log(
        f'backbone weights loaded from {source}: {total - len(incompatible.missing_keys)} of {total} tensors '
        f'matched; missing (left at their initialisation): {incompatible.missing_keys or "none"}; skipped from the '
        f'file: {incompatible.unexpected_keys or "none"}; resampled: {resampled or "none"}',
        logger='current')
