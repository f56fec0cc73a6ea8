"""Detector runtimes: onnxruntime (default, CPU or CUDA) and ultralytics ``.pt``.

Both take a uint8 batch ``(N, C, H, W)`` in the model's channel order, feed it
as float32 ``/255`` and decode the raw YOLO head ``(N, 4 + nc, anchors)`` (box
centre x, y, width, height in input pixels, then class scores) the same way:
score threshold, then class-agnostic NMS. So the two backends give the same
boxes for the same weights, and the pyramid never depends on which one ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minescan.kernel.bands import S2_BANDS
from minescan.kernel.errors import MinescanError, first_line
from minescan.kernel.executor import cores_per_worker
from minescan.kernel.model import (
    DETECTOR_ONNX,
    DETECTOR_PT,
    load_scaling,
    model_file,
    verify_pickle,
)

#: Most boxes kept per chip before NMS (highest scores first); mines are few per chip.
MAX_CANDIDATES = 1000


def decode(raw: np.ndarray, conf: float, iou: float = 0.5) -> list[np.ndarray]:
    """Raw YOLO output ``(N, 4 + nc, A)`` to one ``(k, 5)`` array per image: x1, y1, x2, y2, score.

    Examples
    --------
    >>> raw = np.zeros((1, 5, 2), np.float32)
    >>> raw[0, :, 0] = [10, 10, 4, 4, 0.9]    # a box centred at (10, 10), score 0.9
    >>> decode(raw, conf=0.5)[0].astype(float).round(2).tolist()
    [[8.0, 8.0, 12.0, 12.0, 0.9]]
    """
    out = []
    for pred in np.asarray(raw, dtype=np.float32):
        scores = pred[4:].max(axis=0)
        keep = np.flatnonzero(scores >= conf)
        keep = keep[np.argsort(-scores[keep], kind="stable")][:MAX_CANDIDATES]
        cx, cy, w, h = pred[:4, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, scores[keep]], axis=1)
        out.append(boxes[nms(boxes, iou)])
    return out


def nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; ``boxes`` sorted by score, highest first. Returns indices."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.arange(len(boxes))
    kept = []
    while order.size:
        i, rest = order[0], order[1:]
        kept.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(kept, dtype=np.int64)


def _check_channels(channels: tuple[str, ...], n_input: int | None, where: Path) -> None:
    unknown = [c for c in channels if c not in S2_BANDS]
    if unknown:
        raise MinescanError(f"model {where} names unknown channel(s) {', '.join(unknown)}")
    if n_input is not None and n_input != len(channels):
        raise MinescanError(
            f"model {where} takes {n_input} channels but its scaling names {len(channels)}"
        )


class OnnxDetector:
    """A YOLO model exported to ONNX, run with onnxruntime.

    Parameters
    ----------
    model_dir
        Folder holding ``detector.onnx`` and ``scaling.json``.
    device
        ``cpu``, or ``cuda`` / ``cuda:N`` (needs onnxruntime-gpu).
    threads
        Intra-op threads; 0 means all cores.
    """

    def __init__(self, model_dir: str | os.PathLike, device: str = "cpu", threads: int = 0):
        import onnxruntime as ort

        path = model_file(model_dir, DETECTOR_ONNX)
        self.scaling = load_scaling(model_dir)
        self.channels = tuple(self.scaling.bands)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cores_per_worker()
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise MinescanError(
                    "device cuda asked for, but this onnxruntime has no CUDA provider "
                    "(pip install onnxruntime-gpu)"
                )
            index = int(device.partition(":")[2] or 0)
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise MinescanError(f"cannot load {path}: {first_line(exc)}") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        n_input = model_input.shape[1] if isinstance(model_input.shape[1], int) else None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "minescan_channels" in meta:
            declared = tuple(c.strip() for c in meta["minescan_channels"].split(","))
            if declared != self.channels:
                raise MinescanError(
                    f"model {path} declares channels {','.join(declared)} but its scaling.json "
                    f"names {','.join(self.channels)}"
                )
        _check_channels(self.channels, n_input, path)

    def raw(self, batch_uint8: np.ndarray) -> np.ndarray:
        """The undecoded head output ``(N, 4 + nc, anchors)``."""
        images = np.asarray(batch_uint8).astype(np.float32, order="C")  # a copy, always
        images /= np.float32(255.0)
        return self.session.run(None, {self.input_name: images})[0]

    def predict(self, batch_uint8: np.ndarray, conf: float, iou: float = 0.5) -> list[np.ndarray]:
        """Boxes per image, ``(k, 5)``: x1, y1, x2, y2 (input pixels), score."""
        if len(batch_uint8) == 0:
            return []
        return decode(self.raw(batch_uint8), conf, iou)


class UltralyticsDetector:
    """The same YOLO model from its ultralytics ``detector.pt``, run with torch.

    The network is called directly (no letterboxing, no ultralytics pre- or
    post-processing), so its boxes match :class:`OnnxDetector` for the same weights.
    """

    def __init__(self, model_dir: str | os.PathLike, device: str = "cpu", threads: int = 0):
        from minescan.kernel import offline

        path = model_file(model_dir, DETECTOR_PT)
        verify_pickle(path)
        self.scaling = load_scaling(model_dir)
        self.channels = tuple(self.scaling.bands)
        ul = offline.ultralytics()
        import torch

        if threads:
            torch.set_num_threads(threads)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MinescanError("device cuda asked for, but torch sees no CUDA GPU")
        try:
            self.model = ul.YOLO(str(path)).model.to(device).float().eval()
        except Exception as exc:  # torch/ultralytics raise many types on a bad file
            raise MinescanError(f"cannot load {path}: {first_line(exc)}") from None
        self.device = device
        n_input = self.model.yaml.get("channels", self.model.yaml.get("ch"))
        _check_channels(self.channels, n_input, path)

    def raw(self, batch_uint8: np.ndarray) -> np.ndarray:
        """The undecoded head output ``(N, 4 + nc, anchors)``."""
        import torch

        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(batch_uint8)).to(self.device)
            out = self.model(images.float() / 255.0)
        out = out[0] if isinstance(out, (list, tuple)) else out
        return out.float().cpu().numpy()

    def predict(self, batch_uint8: np.ndarray, conf: float, iou: float = 0.5) -> list[np.ndarray]:
        """Boxes per image, ``(k, 5)``: x1, y1, x2, y2 (input pixels), score."""
        if len(batch_uint8) == 0:
            return []
        return decode(self.raw(batch_uint8), conf, iou)


BACKENDS = {"onnx": OnnxDetector, "ultralytics": UltralyticsDetector}


def load_detector(model_dir, backend: str = "onnx", device: str = "cpu", threads: int = 0):
    """The detector in ``model_dir`` with the named runtime."""
    if backend not in BACKENDS:
        raise MinescanError(f"unknown detector backend {backend!r}; expected onnx or ultralytics")
    return BACKENDS[backend](model_dir, device=device, threads=threads)
