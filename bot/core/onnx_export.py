"""Run the local embedding model on ONNX Runtime, exported on this machine from the bundled weights.

Why: PyTorch is the slow part of ingest and of every question on a 2-core CPU. ONNX Runtime with
fused BERT kernels gives the same vectors somewhat faster; int8 weights are faster still but give
vectors that are close, not identical (so a store records which backend built it).

Why not sentence-transformers' own ONNX backend: `SentenceTransformer(..., backend="onnx")` loads and
exports through `optimum-onnx`, whose releases (0.1.0 and older) pin `transformers<4.58`, while
sentence-transformers 6 needs `transformers>=5` (and optimum's exporter no longer imports on 5.x).
So the export is done here with `torch.onnx.export`, ONNX Runtime's BERT fusions and
`quantize_dynamic`; `bot.core.encoder.OnnxEmbeddings` runs the result with ONNX Runtime and the
`tokenizers` library, without importing PyTorch. No model is downloaded; the export needs the `onnx`
package. Only exporting imports torch and transformers.

    folder, file_name = onnx_model_dir(model_path, cache_dir, quantized=False)
    embeddings = OnnxEmbeddings(folder, file_name)
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch and transformers are needed only while exporting
    import torch
    from transformers import PretrainedConfig

# Bump when the export recipe changes, so that caches built by an older recipe are not reused.
RECIPE = "2"  # 2: weights in an external data file (fast session creation)
FP32_FILE = "onnx/model.onnx"
# Dynamic int8, tuned on an AMD EPYC with AVX2 but neither AVX-512 nor VNNI: signed int8 weights
# (ONNX Runtime's u8s8 kernels; u8u8, sentence-transformers' "avx2" preset, was ~10% slower here) with
# one scale per output channel (one per tensor drifted to cosine 0.93 from PyTorch). `reduce_range`
# (ONNX Runtime's remedy for u8s8 saturation without VNNI) was no faster and no closer to PyTorch here.
INT8_FILE = "onnx/model_qint8_avx2.onnx"
INT8_OPTIONS: dict[str, Any] = {"per_channel": True, "reduce_range": False}
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.h5", "*.msgpack", "*.ckpt", "onnx", "openvino")
PROBE = [
    "Automated license plate readers photograph every passing car and keep the plate, time and place.",
    "Retention?",
    "The city council must approve any new surveillance technology after a public hearing, and the "
    "police department reports each year on how the system was used and who the data was shared with.",
]
STALE_TEMP_SECONDS = 3600


def onnx_model_dir(model_path: str, cache_dir: Path, quantized: bool) -> tuple[Path, str]:
    """The ONNX copy of a local sentence-transformers model: (folder, ONNX file relative to it).

    Exported on first use into `cache_dir/<model>-onnx[-qint8_avx2]-<fingerprint>`; later calls only
    check that the folder exists. The fingerprint covers the source files' names, sizes and times and
    the export recipe, so new weights or a new recipe get a new folder instead of stale vectors.
    A folder appears only complete (built in a temporary folder, then renamed), so a crash or two
    processes exporting at once never leave a half-written model behind.
    """
    source = Path(model_path).resolve()
    if not (source / "modules.json").is_file():
        raise FileNotFoundError(f"{model_path} is not a local sentence-transformers model folder")
    file_name = INT8_FILE if quantized else FP32_FILE
    variant = "onnx-qint8_avx2" if quantized else "onnx"
    folder = Path(cache_dir) / f"{_slug(source)}-{variant}-{_fingerprint(source)}"
    if (folder / file_name).is_file():
        return folder, file_name

    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folder)
    temp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        _export(source, temp, quantized)
        try:
            temp.rename(folder)
        except OSError:  # another process finished first: its copy is as good as ours
            if not (folder / file_name).is_file():
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return folder, file_name


def _slug(source: Path) -> str:
    """A readable folder name: the model folder (and its parent, for generic names like "model")."""
    name = source.name if source.name.lower() not in {"model", "models"} else source.parent.name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _fingerprint(source: Path) -> str:
    """Cheap identity of the source model (file stats, no hashing of 90 MB of weights)."""
    digest = hashlib.sha256(f"recipe={RECIPE};int8={INT8_OPTIONS}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(source)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def _remove_stale_temps(folder: Path) -> None:
    """Temporary folders left by a crashed export (old ones only: a live export may own a new one)."""
    for temp in folder.parent.glob(f".tmp-{folder.name}-*"):
        if time.time() - temp.stat().st_mtime > STALE_TEMP_SECONDS:
            shutil.rmtree(temp, ignore_errors=True)


def _export(source: Path, dest: Path, quantized: bool) -> None:
    """Write a complete ONNX model folder into `dest` (an empty temporary folder)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*WEIGHT_FILES), dirs_exist_ok=True)
    (dest / "onnx").mkdir()

    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModel.from_pretrained(source, attn_implementation="eager", dtype=torch.float32).eval()
    # Padded probe batch: the traced graph must not specialise on "no padding".
    probe = tokenizer(PROBE, padding=True, truncation=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in probe]
    with torch.no_grad():
        expected = model(**{n: probe[n] for n in names}).last_hidden_state.numpy()

    raw = dest / "onnx" / "raw.onnx"
    _torch_export(model, {n: probe[n] for n in names}, raw)
    fp32 = dest / FP32_FILE
    _fuse(raw, fp32, model.config)
    raw.unlink()
    _check(fp32, probe, expected, min_cosine=0.9999)
    if quantized:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = dest / INT8_FILE
        quantize_dynamic(
            fp32,
            int8,
            weight_type=QuantType.QInt8,
            # Fused contrib ops have no ONNX shape inference; their outputs are float tensors.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            **INT8_OPTIONS,
        )
        fp32.unlink()
        _check(int8, probe, expected, min_cosine=0.97)
    _externalize(dest / (INT8_FILE if quantized else FP32_FILE))


def _torch_export(model: torch.nn.Module, inputs: dict[str, torch.Tensor], path: Path) -> None:
    """TorchScript-based export (the one optimum uses): no onnxscript needed, and BERT traces cleanly."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(inputs, args, strict=True))).last_hidden_state

    axes = {name: {0: "batch", 1: "sequence"} for name in [*inputs, "last_hidden_state"]}
    with warnings.catch_warnings():
        # Known and harmless here: the legacy exporter's deprecation notice, and a tracer note about a
        # shape comparison in transformers' mask code; `_check` verifies the result against PyTorch.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(),
            tuple(inputs.values()),
            str(path),
            dynamo=False,
            input_names=list(inputs),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            do_constant_folding=True,
        )


def _fuse(raw: Path, out: Path, config: PretrainedConfig) -> None:
    """ONNX Runtime's offline BERT fusions (attention, embedding and skip layer norms, bias+GELU).

    Worth ~15% on fp32 for the same vectors; other architectures are kept unfused.
    """
    if config.model_type != "bert":
        shutil.copyfile(raw, out)
        return
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,  # Python fusions only: the file stays portable across ONNX Runtime builds
    )
    fused.save_model_to_file(str(out))


def _externalize(path: Path) -> None:
    """Move the weights out of the protobuf into `<file>_data` beside it (a lossless re-save).

    ONNX Runtime then maps the weights from that file instead of parsing them out of the model,
    which halves session creation: what every answering process pays before its first answer.
    """
    import onnx

    data = path.with_name(f"{path.name}_data")
    onnx.save_model(
        onnx.load(path),
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=1024,
    )
    data.chmod(path.stat().st_mode)  # onnx writes it owner-only; readable like the model itself


def _check(path: Path, probe: dict[str, torch.Tensor], expected: np.ndarray, min_cosine: float) -> None:
    """Refuse an export whose mean-pooled vectors drift from PyTorch's beyond `min_cosine`."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: probe[i.name].numpy() for i in session.get_inputs()}
    (hidden,) = session.run(["last_hidden_state"], inputs)
    mask = probe["attention_mask"].numpy()[..., None]

    def pooled(x: np.ndarray) -> np.ndarray:
        vectors = (x * mask).sum(1) / mask.sum(1)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    cosine = float((pooled(hidden) * pooled(expected)).sum(1).min())
    if cosine < min_cosine:
        raise RuntimeError(f"ONNX export {path.name} drifts from PyTorch: cosine {cosine:.5f} < {min_cosine}")
