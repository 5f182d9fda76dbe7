# DTME-MTL on Taskonomy (tiny, 11 tasks): Baseline MT ViT-B/16 + TM / TE chosen at iteration 0 from 100 random training
# batches (800 views, seed 0, test pipeline). 1 GPU x batch 8, 256x256 images, no crop; 40k it, Adam lr 2e-5 wd 1e-6,
# poly 0.9; ImageNet-22K ViT weights (pretrained='timm'). Paper row: DTME-MTL Tab. 3 (Taskonomy, ViT-B), the DTME-MTL
# row.
_base_ = '../baseline/vitb_taskonomy.py'
model = dict(backbone=dict(type='DTMEViT'))
analysis_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='TaskonomyMultiTaskDataset',
        data_root={{_base_.data_root}},
        partition='tiny',
        split='train+val',
        tasks={{_base_.dataset_tasks}},
        mask_invalid=True,
        max_samples=800,
        seed=0,
        pipeline={{_base_.test_pipeline}}))
custom_hooks = [
    dict(
        type='DTMEHook',
        expand_iter=0,
        ratio=0.5,
        range_null_ratio=100,
        variant='tm+te',
        num_tokens=6,
        analysis_dataloader=analysis_dataloader,
        max_batches=100)
]
