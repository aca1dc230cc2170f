"""The encoder under torchvision's (and timm's) names: exported ResNet backbones load into plain torchvision with
only the classifier missing and give the encoder's features; the ViT likewise through the documented mapping; every
snippet of docs/encoders.md runs against freshly exported runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from tests.conftest import write_class_folder
from workbench.augment.views import prepare
from workbench.config import ExperimentConfig
from workbench.engine.fit import fit
from workbench.models import create_encoder
from workbench.results.evaluate import load_encoder
from workbench.results.export import ExportError, export_encoder
from workbench.results.interop import (
    VIT_TINY,
    interop_state_dicts,
    timm_vit_state_dict,
    torchvision_state_dict,
    uses_small_stem,
    vit_patch_size,
)

DOC = Path(__file__).parents[2] / "docs" / "encoders.md"
SIZE = 16


def encoder_run(data: Path, run_dir: Path, encoder: str, steps: int = 1, image_size: int = SIZE) -> Path:
    """A real run of `encoder` at `image_size` px, one step of batch 8, no monitoring, CPU: trained weights (and
    BatchNorm statistics) that differ from any fresh initialisation."""
    config = ExperimentConfig()
    config.data.path = str(data)
    config.data.image_size = image_size
    config.model.encoder = encoder
    config.method.proj_hidden_dim = 32
    config.method.proj_output_dim = 16
    config.train.batch_size = 8
    config.train.max_steps = steps
    config.train.workers = 0
    config.train.device = "cpu"
    # fp32, not "auto": fine-tunes inherit it, and their tests compare two runs step by step; on a CPU with native
    # bf16, auto's timing check of a ~5 ms step can choose differently from one run to the next (engine/precision.py)
    config.train.precision = "fp32"
    config.train.monitor_every_epochs = 0
    config.train.checkpoint_every_epochs = 0
    fit(config, run_dir)
    return run_dir


def images_in_unit_range(run: Path, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, normalised x): `n` float RGB images in [0, 1] at the run's size, and the same as training normalised
    them (augment/views.prepare, the path kNN and the maps use)."""
    config, _ = load_encoder(run)
    pixels = torch.randint(0, 256, (n, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    return pixels.float() / 255.0, prepare(config.augment, pixels)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_class_folder(tmp_path_factory.mktemp("interop") / "images", per_class=4, size=SIZE)


@pytest.fixture(scope="module")
def resnet_export(folder, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    run = encoder_run(folder, tmp_path_factory.mktemp("resnet") / "run", "resnet18")
    return run, export_encoder(run, run.parent / "export", torchvision=True, onnx=True)  # what the page uses


@pytest.fixture(scope="module")
def vit_export(folder, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    run = encoder_run(folder, tmp_path_factory.mktemp("vit") / "run", "vit-tiny")
    return run, export_encoder(run, run.parent / "export", torchvision=True)


def _small_stem(model: nn.Module) -> nn.Module:
    """The documented stem change (docs/encoders.md)."""
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


@pytest.mark.slow
def test_a_trained_resnet18_loads_into_plain_torchvision_and_gives_the_encoders_features(resnet_export):
    run, files = resnet_export
    assert set(files) == {"state_dict", "torchscript", "onnx", "torchvision"}
    assert files["torchvision"].name == "encoder.torchvision.pt"
    state = torch.load(files["torchvision"], weights_only=True)
    assert uses_small_stem(state) and state["conv1.weight"].shape == (64, 3, 3, 3)
    with pytest.raises(RuntimeError, match="size mismatch for conv1.weight"):  # why the stem change is documented
        torchvision.models.resnet18(weights=None).load_state_dict(state, strict=False)
    model = _small_stem(torchvision.models.resnet18(weights=None))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc.weight", "fc.bias"] and result.unexpected_keys == []
    model.fc = nn.Identity()
    _, encoder = load_encoder(run)
    trained = encoder.state_dict()
    assert not torch.equal(trained["stem.1.running_mean"], torch.zeros(64))  # trained statistics, not the init
    x, normalised = images_in_unit_range(run)
    with torch.no_grad():
        ours, theirs = encoder.represent(normalised, "final"), model.eval()(normalised)
    assert theirs.shape == (3, 512)
    np.testing.assert_allclose(theirs.numpy(), ours.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "name",
    ["resnet18", pytest.param("resnet34", marks=pytest.mark.slow), pytest.param("resnet50", marks=pytest.mark.slow)],
)
def test_every_resnet_maps_onto_torchvisions_keys_and_shapes_with_either_stem(name):
    for image_size, small in ((SIZE, True), (96, False)):
        encoder = create_encoder(name, image_size=image_size)
        state = torchvision_state_dict(name, encoder)
        assert uses_small_stem(state) is small
        model = getattr(torchvision.models, name)(weights=None)
        model = _small_stem(model) if small else model  # a run above 64 px loads into the stock model
        result = model.load_state_dict(state, strict=False)  # a shape mismatch would raise here
        assert result.missing_keys == ["fc.weight", "fc.bias"] and result.unexpected_keys == []
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


@pytest.mark.slow
def test_the_imagenet_stem_gives_the_same_features_in_stock_torchvision():
    torch.manual_seed(0)
    encoder = create_encoder("resnet18", image_size=32, small_stem=False).eval()
    model = torchvision.models.resnet18(weights=None)
    model.load_state_dict(torchvision_state_dict("resnet18", encoder), strict=False)
    model.fc = nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(x).numpy(), encoder(x).numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_the_vit_loads_into_torchvisions_vision_transformer_through_the_mapping(vit_export):
    run, files = vit_export
    assert set(files) == {"state_dict", "torchscript", "torchvision", "timm"}
    state = torch.load(files["torchvision"], weights_only=True)
    assert vit_patch_size(state) == 4
    model = torchvision.models.VisionTransformer(SIZE, vit_patch_size(state), **VIT_TINY)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["heads.head.weight", "heads.head.bias"] and result.unexpected_keys == []
    model.heads = nn.Identity()
    _, encoder = load_encoder(run)
    x, normalised = images_in_unit_range(run)
    with torch.no_grad():
        np.testing.assert_allclose(
            model.eval()(normalised).numpy(), encoder.represent(normalised, "final").numpy(), atol=1e-5, rtol=1e-5
        )


def test_the_timm_mapping_renames_every_tensor_once_and_keeps_it():
    encoder = create_encoder("vit-tiny", image_size=SIZE)
    tv = torchvision_state_dict("vit-tiny", encoder)
    timm_state = timm_vit_state_dict(tv)
    assert len(timm_state) == len(tv) == len(encoder.state_dict())
    assert sorted(id(v) for v in timm_state.values()) == sorted(id(v) for v in tv.values())
    assert (
        timm_state["blocks.11.attn.qkv.weight"] is tv["encoder.layers.encoder_layer_11.self_attention.in_proj_weight"]
    )
    assert timm_state["blocks.0.mlp.fc2.bias"] is tv["encoder.layers.encoder_layer_0.mlp.3.bias"]
    assert timm_state["norm.weight"] is tv["encoder.ln.weight"] and timm_state["cls_token"] is tv["class_token"]
    assert timm_state["patch_embed.proj.weight"] is tv["conv_proj.weight"]
    assert not any(k.startswith(("encoder.", "vit.")) for k in timm_state)
    with pytest.raises(ExportError, match="'odd.weight' has no timm name"):
        timm_vit_state_dict({"odd.weight": torch.zeros(1)})


@pytest.mark.slow
def test_timm_loads_the_vit_and_the_resnet_and_gives_the_same_features():
    timm = pytest.importorskip("timm")  # not a dependency; the mapping above is tested without it
    torch.manual_seed(0)
    vit = create_encoder("vit-tiny", image_size=SIZE).eval()
    state = interop_state_dicts("vit-tiny", vit)["timm"]
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=SIZE, patch_size=4, num_classes=0)
    model.load_state_dict(state)  # strict: every key matches
    resnet = create_encoder("resnet18", image_size=SIZE).eval()
    timm_resnet = _small_stem(timm.create_model("resnet18", pretrained=False, num_classes=0))
    timm_resnet.load_state_dict(torchvision_state_dict("resnet18", resnet))
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(x).numpy(), vit(x).numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(timm_resnet.eval()(x).numpy(), resnet(x).numpy(), atol=1e-5, rtol=1e-5)


def test_an_encoder_without_a_torchvision_counterpart_is_one_sentence_and_writes_nothing(folder, tmp_path):
    run = encoder_run(folder, tmp_path / "run", "small-cnn")
    with pytest.raises(ExportError, match=r"^The 'small-cnn' encoder has no torchvision counterpart; .*resnet18"):
        export_encoder(run, tmp_path / "out", torchvision=True)
    assert not (tmp_path / "out").exists()


def test_a_changed_encoder_is_refused_rather_than_half_mapped():
    encoder = create_encoder("resnet18", image_size=SIZE)
    encoder.extra = nn.Linear(2, 2)
    with pytest.raises(ExportError, match="'extra.weight' has no torchvision name"):
        torchvision_state_dict("resnet18", encoder)


# ---- docs/encoders.md: every snippet runs ---------------------------------------------------------------------

SNIPPET_RUNS = {  # the page's sections with code, and the export each one's snippets run against
    "TorchScript": "resnet",
    "onnxruntime": "resnet",
    "torchvision (resnet18, resnet34, resnet50)": "resnet",
    "torchvision and timm (vit-tiny)": "vit",
}


def doc_snippets() -> list[tuple[str, int, str]]:
    """(section, index in the section, code) for every ```python block of docs/encoders.md."""
    out = []
    for section in re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", section, flags=re.S)):
            out.append((title, i, code))
    return out


def test_the_page_has_the_snippets_this_test_runs():
    assert {title for title, _, _ in doc_snippets()} == set(SNIPPET_RUNS)
    assert len(doc_snippets()) == 5


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize(("title", "index", "code"), doc_snippets(), ids=[f"{t} #{i}" for t, i, _ in doc_snippets()])
def test_every_snippet_of_the_page_gives_the_encoders_representation(
    title, index, code, resnet_export, vit_export, monkeypatch
):
    if "import timm" in code:
        pytest.importorskip("timm")
    run, files = resnet_export if SNIPPET_RUNS[title] == "resnet" else vit_export
    monkeypatch.chdir(files["state_dict"].parent)  # the snippets name the files as `workbench export` writes them
    x, normalised = images_in_unit_range(run)
    namespace = {"x": x}
    exec(compile(code, f"docs/encoders.md: {title} #{index}", "exec"), namespace)
    config, encoder = load_encoder(run)
    assert encoder.resolve_representation(config.model.representation) == "final"  # what every snippet returns
    with torch.no_grad():
        expected = encoder.represent(normalised, "final").numpy()
    features = namespace["features"]
    features = features.detach().numpy() if isinstance(features, torch.Tensor) else features
    np.testing.assert_allclose(features, expected, atol=1e-4, rtol=1e-4)
    if "missing" in namespace:
        assert namespace["unexpected"] == [] and all(k.startswith(("fc.", "heads.")) for k in namespace["missing"])
