# CPU demo, not a paper row: Recon (Shi et al., ICLR 2023) on the synthetic Baseline MT (ViT-Tiny/8): at iteration 100
# the 2 blocks with the most conflicting parameter gradients (S = 0, 25 batches) become task-specific copies; ViT from
# scratch. 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9.
_base_ = '../baseline/vitt_synth.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='ReconHook', start_iter=100, num_batches=25, threshold=0.0, k=2, granularity='block')]
