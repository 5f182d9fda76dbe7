# CPU demo of Recon (Shi et al., ICLR 2023): the synthetic Baseline MT; at iteration 100 of 600 the 2 blocks with the
# most conflicting parameter gradients (S=0 over 25 batches) become task-specific copies.
_base_ = '../baseline/vitt_synth.py'
model = dict(backbone=dict(type='DTMEViT'))
custom_hooks = [dict(type='ReconHook', start_iter=100, num_batches=25, threshold=0.0, k=2, granularity='block')]
