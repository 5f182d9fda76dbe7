"""The pretraining stage of the study's ``pretrained`` regime: the study's ViT learns from other scenes, with another
objective, before any row fine-tunes it.

DTME-MTL is a method for fine-tuning pretrained transformers: its range / null split is the span of the pretrained
features. The ``scratch`` regime cannot show what the method does there, so this stage makes a pretrained backbone
here, on the CPU:

- **Corpus**: scenes of the same generator under another seed (scene i of a split is seeded from (seed, split, i),
  so none is a target scene), many more of them than the target set holds, and shown with another appearance
  distribution: every image gets random per-channel gains and a random pull towards grey (colour statistics the
  target scenes never have) and a random horizontal flip.
- **Objective**: masked-patch reconstruction (SimMIM, Xie et al., CVPR 2022): a share of the patch tokens is replaced
  by a learned mask token before the position embeddings, and a linear layer predicts each masked patch's pixels,
  normalised per patch, from the last block's token (L1 on the masked patches). It is no fine-tuning task
  (semantics, depth, normals, edges are never shown), it needs no labels, and it trains every block, so the token
  spaces the analysis splits are shaped by pretraining, as an ImageNet ViT's are.

The result is cached under ``<work dir>/pretrain/<key>/`` keyed by every setting that changes it, written atomically,
and resumable from the last periodic checkpoint; ``backbone.pth`` holds the ViT's weights in timm's names, the file
``model.backbone.pretrained`` of every row points at.
"""
import hashlib
import json
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn as nn

PRETRAIN_VERSION = 1  # bump when the stage changes what it computes: old caches are then not reused
MEAN = (123.675, 116.28, 103.53)  # RGB, as the configs' data preprocessor
STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class PretrainSettings:
    """What the pretraining stage does (all of it goes into the cache key).

    Args:
        seed: Seed of the corpus scenes (the target scenes use seed 0).
        num_scenes: Scenes in the corpus.
        mask_ratio: Share of the patches masked in each image.
        iters / batch_size / lr / weight_decay / warmup_iters: AdamW, linear warm-up, then cosine decay to 0.
        colour_jitter: Per-channel gains are drawn from [1 - j, 1 + j], the pull towards grey from [0, j].
        checkpoint_every: Iterations between resumable checkpoints.
        train_seed: Seed of the initialisation, the masks and the batch order.
    """

    seed: int = 1
    num_scenes: int = 2000
    mask_ratio: float = 0.5
    iters: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_iters: int = 100
    colour_jitter: float = 0.3
    checkpoint_every: int = 250
    train_seed: int = 0


def backbone_config(scale) -> dict:
    """The study's ViT at ``scale``: the synthetic configs' backbone with the size ``resize_synthetic_config`` gives
    it, so that the pretrained weights fit every row."""
    from mmengine.config import Config

    from study_runner import REPO_ROOT
    backbone = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'baseline', 'vitt_synth.py')).model.backbone.to_dict()
    backbone.update(
        img_size=tuple(scale.image_size),
        pretrained=None,
        model_kwargs=dict(
            patch_size=scale.patch_size, embed_dim=scale.embed_dim, depth=scale.depth, num_heads=scale.num_heads))
    return backbone


def cache_key(settings: PretrainSettings, scale) -> str:
    """Short hash of the settings, the backbone and the stage's version."""
    described = dict(version=PRETRAIN_VERSION, settings=asdict(settings), backbone=backbone_config(scale))
    return hashlib.sha1(json.dumps(described, sort_keys=True, default=list).encode()).hexdigest()[:12]


class MaskedPatchModel(nn.Module):
    """A ``TimmViT`` with a mask token and a linear pixel decoder (SimMIM)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        patch_height, patch_width = backbone.patch_size
        self.mask_token = nn.Parameter(torch.zeros(backbone.embed_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.decoder = nn.Linear(backbone.embed_dim, patch_height * patch_width * 3)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images and a (B, h, w) boolean mask -> (B, h·w, p·p·3) predicted patches."""
        vit = self.backbone.vit
        tokens = vit.patch_embed(images)  # (B, h, w, C): timm's NHWC output for dynamic image sizes
        tokens = torch.where(mask[..., None], self.mask_token.to(tokens.dtype), tokens)
        tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(tokens)))
        for block in vit.blocks:
            tokens = block(tokens)
        return self.decoder(tokens[:, vit.num_prefix_tokens:])


def patchify(images: torch.Tensor, patch_size) -> torch.Tensor:
    """(B, 3, H, W) -> (B, h·w, p·p·3), patches in row-major order, each normalised to zero mean and unit variance."""
    patch_height, patch_width = patch_size
    B, C, H, W = images.shape
    patches = images.reshape(B, C, H // patch_height, patch_height, W // patch_width, patch_width)
    patches = patches.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // patch_height) * (W // patch_width), -1)
    mean = patches.mean(dim=-1, keepdim=True)
    std = patches.var(dim=-1, keepdim=True).add(1e-6).sqrt()
    return (patches - mean) / std


def masked_patch_loss(model: MaskedPatchModel, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between predicted and true (per-patch normalised) pixels, over the masked patches."""
    prediction = model(images, mask)
    target = patchify(images, model.backbone.patch_size)
    masked = mask.flatten(1)
    return (prediction - target).abs().mean(dim=-1)[masked].mean()


def load_corpus(data_root: str) -> torch.Tensor:
    """The corpus images as one (N, H, W, 3) uint8 RGB tensor (small: 2,000 scenes of 48×64 are 18 MB)."""
    from PIL import Image
    with open(osp.join(data_root, 'gt_sets', 'train.txt')) as f:
        names = f.read().split()
    images = [np.asarray(Image.open(osp.join(data_root, 'images', f'{name}.png')).convert('RGB')) for name in names]
    return torch.from_numpy(np.stack(images))


def corpus_batch(corpus: torch.Tensor, indices: torch.Tensor, jitter: float, generator: torch.Generator):
    """Normalised (B, 3, H, W) images with the corpus' own appearance: channel gains, a pull to grey, flips."""
    images = corpus[indices].permute(0, 3, 1, 2).float()  # (B, 3, H, W), 0..255
    B = images.shape[0]
    gains = 1.0 + jitter * (2 * torch.rand(B, 3, 1, 1, generator=generator) - 1)
    grey_mix = jitter * torch.rand(B, 1, 1, 1, generator=generator)
    images = (images * gains).clamp(0, 255)
    images = (1 - grey_mix) * images + grey_mix * images.mean(dim=1, keepdim=True)
    flip = torch.rand(B, generator=generator) < 0.5
    images[flip] = images[flip].flip(-1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images - mean) / std


def random_masks(batch: int, grid, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(B, h, w) masks with exactly round(ratio · h · w) masked patches each."""
    h, w = grid
    count = max(1, int(round(ratio * h * w)))
    order = torch.rand(batch, h * w, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, h * w, dtype=torch.bool)
    mask.scatter_(1, order[:, :count], True)
    return mask.view(batch, h, w)


def _learning_rate(settings: PretrainSettings, step: int) -> float:
    if step < settings.warmup_iters:
        return settings.lr * (step + 1) / settings.warmup_iters
    progress = (step - settings.warmup_iters) / max(1, settings.iters - settings.warmup_iters)
    return settings.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, progress)))


def _save_atomic(obj, path: str) -> None:
    temporary = path + '.tmp'
    torch.save(obj, temporary)
    os.replace(temporary, path)


def pretrain_backbone(scale,
                      work_dir: str,
                      settings: PretrainSettings = PretrainSettings(),
                      data_root: Optional[str] = None,
                      log: Callable[[str], None] = print,
                      progress: bool = True) -> str:
    """The path of the pretrained ``backbone.pth`` for ``scale`` and ``settings``: from the cache, or trained now
    (resuming from the last checkpoint of an interrupted run)."""
    import mmdtme.models  # noqa: F401  (registers TimmViT)
    from mmdtme.datasets.synthetic import dataset_is_complete, generate_dataset
    from mmdtme.registry import MODELS

    key = cache_key(settings, scale)
    out_dir = osp.join(work_dir, 'pretrain', key)
    weights = osp.join(out_dir, 'backbone.pth')
    if osp.isfile(weights):
        log(f'pretrained backbone: {weights} (cached)')
        return weights
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'settings.json'), 'w') as f:
        json.dump(
            dict(settings=asdict(settings), backbone=backbone_config(scale), version=PRETRAIN_VERSION),
            f,
            indent=1,
            default=list)

    height, width = scale.image_size
    data_root = data_root or osp.join(work_dir, 'pretrain', f'corpus_s{settings.seed}_n{settings.num_scenes}_'
                                      f'{height}x{width}')
    generator_args = dict(num_train=settings.num_scenes, num_val=0, height=height, width=width, seed=settings.seed)
    if not dataset_is_complete(data_root, **generator_args):
        log(f'rendering the pretraining corpus: {settings.num_scenes} scenes (seed {settings.seed}) in {data_root}')
        generate_dataset(data_root, progress=progress, **generator_args)
    corpus = load_corpus(data_root)

    torch.manual_seed(settings.train_seed)
    model = MaskedPatchModel(MODELS.build(backbone_config(scale)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.train_seed)
    state = dict(step=0, losses=[], seconds=0.0)
    checkpoint = osp.join(out_dir, 'checkpoint.pth')
    if osp.isfile(checkpoint):
        saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
        model.load_state_dict(saved['model'])
        optimizer.load_state_dict(saved['optimizer'])
        generator.set_state(saved['generator'])
        state = saved['state']
        log(f'pretraining: resuming at iteration {state["step"]} of {settings.iters}')
    grid = (height // scale.patch_size, width // scale.patch_size)

    from tqdm import tqdm
    bar = tqdm(total=settings.iters, initial=state['step'], desc='pretraining', disable=not progress, unit='it')
    model.train()
    start = time.perf_counter() - state['seconds']
    while state['step'] < settings.iters:
        step = state['step']
        for group in optimizer.param_groups:
            group['lr'] = _learning_rate(settings, step)
        indices = torch.randint(len(corpus), (settings.batch_size, ), generator=generator)
        images = corpus_batch(corpus, indices, settings.colour_jitter, generator)
        mask = random_masks(settings.batch_size, grid, settings.mask_ratio, generator)
        loss = masked_patch_loss(model, images, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state['losses'].append(loss.item())
        state['step'] = step + 1
        bar.update(1)
        bar.set_postfix(loss=f'{np.mean(state["losses"][-50:]):.3f}')
        if state['step'] % settings.checkpoint_every == 0 and state['step'] < settings.iters:
            state['seconds'] = time.perf_counter() - start
            _save_atomic(
                dict(
                    model=model.state_dict(),
                    optimizer=optimizer.state_dict(),
                    generator=generator.get_state(),
                    state=state), checkpoint)
    bar.close()
    state['seconds'] = time.perf_counter() - start
    with open(osp.join(out_dir, 'pretrain.json'), 'w') as f:
        json.dump(
            dict(
                state,
                loss_first_50=float(np.mean(state['losses'][:50])),
                loss_last_50=float(np.mean(state['losses'][-50:]))), f)
    _save_atomic(dict(state_dict=model.backbone.vit.state_dict(), settings=asdict(settings)), weights)
    if osp.isfile(checkpoint):
        os.remove(checkpoint)
    log(f'pretrained backbone: {weights} ({settings.iters} iterations in {state["seconds"]:.0f} s, masked-patch L1 '
        f'{np.mean(state["losses"][:50]):.3f} -> {np.mean(state["losses"][-50:]):.3f})')
    return weights
