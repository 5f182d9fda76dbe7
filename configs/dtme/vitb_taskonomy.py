# DTME-MTL on Taskonomy: Baseline MT ViT-B/16 + Token Modulation / Expansion chosen at iteration 0. The analysis
# runs on 100 random batches of the training buildings (800 views drawn with seed 0), with the test pipeline.
_base_ = '../baseline/vitb_taskonomy.py'
model = dict(backbone=dict(type='DTMEViT'))
analysis_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='TaskonomyMultiTaskDataset', data_root={{_base_.data_root}}, partition='tiny', split='train+val',
        tasks={{_base_.dataset_tasks}}, mask_invalid=True, max_samples=800, seed=0,
        pipeline={{_base_.test_pipeline}}))
custom_hooks = [
    dict(type='DTMEHook', expand_iter=0, ratio=0.5, range_variance=0.99, variant='tm+te', num_tokens=6,
         analysis_dataloader=analysis_dataloader, max_batches=100)
]
