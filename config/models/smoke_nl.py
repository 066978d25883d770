# Tiny "NL" recognizer for the smoke profile and the test suite: the mini architecture with one
# residual block per stage and 4 base channels (trains in seconds on 8x32x32 clips).
_base_ = ['./mini_nl.py']

model = dict(
    backbone=dict(base_channels=4, stage_blocks=(1, 1, 1), non_local=((0, ), (1, ), (1, ))),
    cls_head=dict(in_channels=16))
