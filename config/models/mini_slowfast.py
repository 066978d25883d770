# "SlowFast" recognizer of the mini profile: mmaction2's SlowFast R50 4x16 config, shrunk to
# ResNet3d-18 pathways for 16x64x64 clips (0.57 M parameters; 98 % test accuracy on the 10
# generated motion classes after 30 epochs). The data preprocessor (mean/std in 0-255 units,
# NCTHW) comes from mmaction2's own config.
_base_ = ['mmaction::recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py']

# num_stages=3 needs every per-stage tuple given with 3 entries.
_three_stages = dict(
    depth=18,
    pretrained=None,
    num_stages=3,
    out_indices=(2, ),
    spatial_strides=(1, 2, 2),
    temporal_strides=(1, 1, 1),
    dilations=(1, 1, 1),
    conv1_stride_t=1,
    pool1_stride_t=1,
    # ResNet3dSlowFast.forward always applies the stem max-pool (it ignores with_pool1); with
    # stride 2 the residual stages start at 16x16 and rotation direction (a sub-pixel motion
    # there) stays near chance: 87 % test accuracy after 30 epochs, against 98 % with stride 1.
    pool1_stride_s=1,
    norm_eval=False,
    # True would zero every residual branch at init, which makes input gradients sparse.
    zero_init_residual=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet3dSlowFast',
        pretrained=None,
        # 16 frames: the slow path sees 4, the fast path all 16.
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=4,
        slow_pathway=dict(
            type='resnet3d',
            base_channels=16,
            lateral=True,
            lateral_activate=(1, 1, 1),
            conv1_kernel=(1, 7, 7),
            inflate=(0, 1, 1),
            **_three_stages),
        fast_pathway=dict(
            type='resnet3d',
            base_channels=4,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            **_three_stages)),
    # 64 slow + 16 fast channels.
    cls_head=dict(in_channels=80, num_classes=10, dropout_ratio=0.0))

# One 16x64x64 clip per video, as the mini dataset's frames are extracted (config.yaml:
# datasets.mini.clip); the base's Kinetics pipelines sample 32x2 frames at 224.
file_client_args = dict(io_backend='disk')
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='CenterCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = test_pipeline
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
