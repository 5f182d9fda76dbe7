# CPU demo, not a paper row: CAGrad (Liu et al., NeurIPS 2021): conflict-averse update, c = 0.4; synthetic Baseline MT
# (ViT-Tiny/8). 1 process x batch 8, crop 96x128; 600 it, Adam lr 1e-3 wd 1e-6, 50-it linear warm-up then poly 0.9. ViT
# trained from scratch.
_base_ = '../baseline/vitt_synth.py'
optim_wrapper = dict(
    type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor', aggregator=dict(type='CAGrad', c=0.4))
model_wrapper_cfg = dict(type='MultiTaskDDP')  # per-task losses reach the optim wrapper under DDP
