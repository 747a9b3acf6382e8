"""Video: files (:mod:`.av_io`, PyAV), frames through the network (:mod:`.frames`), temporal
consistency (:mod:`.temporal`: flicker and the blend; :mod:`.warping`: the warping error, OpenCV)
and the file-to-file pipeline (:mod:`.pipeline`).

    from styletransfer.inference.video import stylize_video
    result = stylize_video("starry_night", "clip.mp4", "clip_starry.mp4", max_size=512)
"""
from styletransfer.inference.video.av_io import PYAV_MISSING, VideoError, VideoInfo, probe_video, read_frames
from styletransfer.inference.video.frames import FrameStylizer, Stability
from styletransfer.inference.video.pipeline import VideoResult, stylize_video
from styletransfer.inference.video.warping import WarpingError, measure_warping_error

__all__ = ["PYAV_MISSING", "FrameStylizer", "Stability", "VideoError", "VideoInfo", "VideoResult", "WarpingError",
           "measure_warping_error", "probe_video", "read_frames", "stylize_video"]
