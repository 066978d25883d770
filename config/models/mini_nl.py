# "NL" recognizer of the mini profile: mmaction2's I3D non-local (dot product) config, shrunk
# to a ResNet3d-18 for 16x64x64 clips (0.53 M parameters; 99 % test accuracy on the 10
# generated motion classes after 30 epochs, 73 % after 12). Everything not overridden here
# (data preprocessor: mean/std in 0-255 units, NCTHW) comes from mmaction2's own config.
_base_ = [
    'mmaction::recognition/i3d/'
    'i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet3d',
        pretrained=None,
        pretrained2d=False,
        depth=18,
        num_stages=3,
        base_channels=16,
        out_indices=(2, ),
        # num_stages=3 needs every per-stage tuple given with 3 entries.
        spatial_strides=(1, 2, 2),
        # Temporal stride 1 everywhere: striding time away at 16 frames leaves the motion
        # classes at chance (docs/stack.md, "Small mmaction2 recognizers"); pool2 halves T once after layer1.
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1),
        inflate=(1, 1, 1),
        conv1_kernel=(5, 5, 5),
        conv1_stride_s=2,
        conv1_stride_t=1,
        with_pool1=False,
        with_pool2=True,
        conv_cfg=dict(type='Conv3d'),
        norm_eval=False,
        # A non-local block in the last residual block of stages 2 and 3.
        non_local=((0, 0), (0, 1), (0, 1)),
        non_local_cfg=dict(
            sub_sample=True,
            use_scale=False,
            norm_cfg=dict(type='BN3d', requires_grad=True),
            mode='dot_product'),
        # True would zero every residual branch at init, which makes input gradients sparse.
        zero_init_residual=False),
    cls_head=dict(in_channels=64, num_classes=10, dropout_ratio=0.0))

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
