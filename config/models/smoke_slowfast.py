# Tiny "SlowFast" recognizer for the smoke profile and the test suite: the mini architecture with
# one residual block per stage and a quarter of the channels (trains in seconds on 8x32x32 clips).
_base_ = ['./mini_slowfast.py']

model = dict(
    backbone=dict(
        slow_pathway=dict(base_channels=4, stage_blocks=(1, 1, 1)),
        fast_pathway=dict(base_channels=1, stage_blocks=(1, 1, 1))),
    # 16 slow + 4 fast channels.
    cls_head=dict(in_channels=20))
