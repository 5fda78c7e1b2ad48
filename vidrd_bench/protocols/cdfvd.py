"""Content-debiased FVD (cd-FVD, Ge et al. CVPR 2024): FVD on VideoMAE-v2 features, each convention cited.

Reference: songweige/content-debiased-fvd a1e037a, the code of cd-fvd 0.1.1 on PyPI (CDFVD below).
"""

from __future__ import annotations

import dataclasses

from vidrd_bench.protocols.base import cite
from vidrd_bench.protocols.fvd import FVDProtocol

_CONVENTIONS = """
Detector videomae-v2-g: the SSv2 fine-tune of VideoMAE-v2 ViT-g/14 (third_party/VideoMAEv2/utils.py:48-80), fed
pixels / 255 stretched bilinear to 224 without mean/std (utils.py:8-45), feature forward_features = fc_norm of the
mean token (fvd.py:21-29; videomaev2_finetune.py:553-554). Clips: 16 consecutive frames; a video folder (real or
generated alike, fvd.py:239-244) is read as every 16-frame window (utils/data_utils.py:166, torchvision VideoClips
with one frame between clips) of which one per video is drawn uniformly at random (data_utils.py:177-192), so both
sides take a random offset here (fake_clip and real_clip "random-offset"). Frames: shorter side to the generated
size (rounded up), bilinear antialiased in [0, 1], floor centre crop (data_utils.py:37-68), no JPEG
(real_preparation "cdfvd-resize-crop-bilinear"); generated videos already square at that size pass unchanged.
Statistics: mean and covariance divided by N (utils/metric_utils.py:125-136), Frechet distance (fvd.py:94-98).
Differences kept by vidrd-bench: offsets come from numpy default_rng((seed, index)), where CDFVD draws from Python's
random after seed_everything(42) in loader order (fvd.py:126,152); a folder with fewer videos than num_fake is
refused (or derived with --allow-fewer) where CDFVD loops over it again (README.md:33; fvd.py:153-160); a video
shorter than the clip is dropped and counted where CDFVD takes the next video's clip instead (data_utils.py:187-189).
"""

CDFVD_UCF101_2048 = FVDProtocol(
    name="cdfvd-ucf101-2048", detector="videomae-v2-g", fake_clip="random-offset",
    real_preparation="cdfvd-resize-crop-bilinear", real_jpeg_quality=None, num_fake=2048, fake_selection="first",
    real_split=None)
CDFVD_UCF101_2048 = cite(CDFVD_UCF101_2048, f"""cd-FVD with cd-fvd's defaults on UCF-101: 2,048 generated videos
(the first 2,048 in manifest order) against every UCF-101 video (CDFVD fvd.py:58 n_real='full', n_fake=2048;
README.md:38-40: its precomputed UCF-101 statistics take train+test, 'full', seed 0, no frame skip).
{_CONVENTIONS}""")
CDFVD_UCF101_10K = dataclasses.replace(CDFVD_UCF101_2048, name="cdfvd-ucf101-10k", num_fake=10_000)
CDFVD_UCF101_10K = cite(CDFVD_UCF101_10K, f"""cd-FVD on the UCF-101 10K set: 10,000 generated videos (the count of
fvd-ucf101-10k, so the two read side by side) against every UCF-101 video (CDFVD README.md:38-40, n_real='full'
per fvd.py:58); every other convention as cdfvd-ucf101-2048.
{_CONVENTIONS}""")
CDFVD_MSRVTT = dataclasses.replace(CDFVD_UCF101_2048, name="cdfvd-msrvtt-2048", real_split="msrvtt-test")
CDFVD_MSRVTT = cite(CDFVD_MSRVTT, f"""cd-FVD on MSR-VTT with cd-fvd's defaults: the first 2,048 generated videos
(fvd.py:58 n_fake=2048) against all 2,990 test videos (video7010-video9999; n_real='full'). CDFVD ships no MSR-VTT
statistics; every other convention as cdfvd-ucf101-2048.
{_CONVENTIONS}""")

SMOKE_CDFVD = dataclasses.replace(CDFVD_UCF101_2048, name="cdfvd-smoke-tiny", detector="videomae-tiny-random",
                                  resolution=32, num_fake=None, fake_selection="all")
SMOKE_CDFVD = cite(SMOKE_CDFVD, "Smoke runs only: tiny random VideoMAE-v2 at 32 px, every video, cd-FVD's clip rules "
                                "and real-frame preparation.")

CDFVD_PROTOCOLS = (CDFVD_UCF101_10K, CDFVD_UCF101_2048, CDFVD_MSRVTT, SMOKE_CDFVD)
