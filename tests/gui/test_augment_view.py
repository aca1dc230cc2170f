"""Augment workspace: controls for every field, presets, a live preview that is the engine's, save/load, export."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.augment.spec import AugmentSpec, ViewSpec, list_presets, preset
from workbench.augment.views import denormalize, make_views
from workbench.data.decode import decode_image
from workbench.data.scan import scan_folder
from workbench.errors import ConfigError
from workbench.gui.augment_view import AugmentView


@pytest.fixture
def view(qtbot, image_folder):
    v = AugmentView()
    qtbot.addWidget(v)
    v.resize(1100, 700)
    v.samples.setValue(4)
    with qtbot.waitSignal(v.preview_ready, timeout=30000):  # the first preview imports torch
        v.set_report(scan_folder(image_folder))
        v.show()
    yield v
    v.shutdown()


def _next_preview(qtbot, view, change):
    with qtbot.waitSignal(view.preview_ready, timeout=10000) as ready:
        change()
    return ready.args[0]


def test_every_spec_field_has_a_named_control(view):
    expected = {(t.name, f.name) for t in fields(ViewSpec) for f in fields(getattr(ViewSpec(), t.name))}
    assert set(view.editor.controls) == expected
    hue = view.editor.controls[("color_jitter", "hue")].widget
    assert (hue.minimum(), hue.maximum(), hue.suffix()) == (0.0, 0.5, " turn")
    assert "[-degrees, degrees]" in view.editor.controls[("rotation", "degrees")].widget.toolTip()


def test_the_preview_is_the_engines_make_views(view, image_folder):
    preview = view.last_preview
    spec = view.spec()
    batch = np.stack([decode_image(p, 32) for p in preview.paths])
    expected = make_views(spec, torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(), preview.seed)
    for v, out in enumerate(expected):
        assert np.array_equal(preview.views[v], denormalize(spec, out).permute(0, 2, 3, 1).numpy())
    assert preview.views.shape == (2, 4, 32, 32, 3) and np.array_equal(preview.originals, batch)


def test_a_changed_control_changes_the_preview(qtbot, view):
    before = _next_preview(qtbot, view, lambda: view.apply_preset("seed")).views  # seed: grayscale on, p = 0.2
    grayscale = view.editor.controls[("grayscale", "p")].widget
    start = time.perf_counter()
    after = _next_preview(qtbot, view, lambda: grayscale.setValue(1.0)).views
    assert time.perf_counter() - start < 1.0  # debounced ~120 ms + a few ms of work (generous for a busy CI)
    assert view.spec().views[0].grayscale.p == 1.0 and view.spec().name == "custom"
    assert not np.array_equal(before, after)
    gray = after[0]  # every view 1 sample is now gray: R == G == B
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


def test_reroll_draws_new_views_and_a_seed_gives_the_same_ones(qtbot, view):
    first = view.last_preview.views
    rerolled = _next_preview(qtbot, view, view.reroll.click)
    assert view.seed.value() == 1 and not np.array_equal(first, rerolled.views)
    again = _next_preview(qtbot, view, lambda: view.seed.setValue(0))
    assert np.array_equal(first, again.views)


@pytest.mark.parametrize("name", list_presets())
def test_presets_load_into_the_controls(view, name):
    view.apply_preset(name)
    assert view.spec().to_dict() == preset(name).to_dict()
    assert view.preset_label.text() == f"preset: <b>{name}</b>"
    last = view.editor.tabs.count() - 1
    view.editor.tabs.setCurrentIndex(last)  # the controls show the selected view (BYOL's views differ)
    blur = view.editor.controls[("blur", "p")].widget
    assert blur.value() == pytest.approx(preset(name).views[last].blur.p)


def test_editing_one_field_keeps_the_exact_values_of_the_others(view):
    view.apply_preset("simclr")
    view.editor.controls[("rotation", "degrees")].widget.setValue(30)
    spec = view.spec()
    assert spec.views[0].crop.ratio == preset("simclr").views[0].crop.ratio  # 4/3, shown as 1.33
    assert spec.views[0].rotation.degrees == 30 and spec.views[1].rotation.degrees == 15


def test_save_and_load_round_trip(view, tmp_path):
    view.apply_preset("byol")
    view.editor.tabs.setCurrentIndex(1)
    view.editor.controls[("solarize", "threshold")].widget.setValue(0.7)
    saved = view.spec()
    view.save_spec(tmp_path / "spec.json")
    view.apply_preset("light")
    view.load_spec(tmp_path / "spec.json")
    assert view.spec().to_dict() == saved.to_dict()
    assert view.spec().views[1].solarize.threshold == 0.7
    assert AugmentSpec.from_dict(json.loads((tmp_path / "spec.json").read_text())).to_dict() == saved.to_dict()


def test_loading_a_bad_spec_names_the_field(view, tmp_path):
    bad = preset("seed").to_dict()
    bad["views"][0]["crop"]["scale"] = [0.9, 0.1]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=r"augment.views\[0\].crop.scale"):
        view.load_spec(tmp_path / "bad.json")


def test_views_can_be_added_and_removed(qtbot, view):
    preview = _next_preview(qtbot, view, view.editor.add_view.click)
    assert view.spec().n_views == 3 and preview.views.shape[0] == 3
    view.editor.remove_view.click()
    assert view.spec().n_views == 2


def test_export_refuses_a_folder_inside_the_source(qtbot, view, image_folder):
    with qtbot.waitSignal(view.failed, timeout=2000) as failed:
        assert view.export_to(image_folder / "circle") is False
    assert "is inside the image folder" in failed.args[0]
    assert sorted(p.name for p in (image_folder / "circle").iterdir()) == [f"{i:03d}.png" for i in range(8)]


def test_export_writes_k_views_of_each_image(qtbot, view, tmp_path):
    view.copies.setValue(3)
    with qtbot.waitSignal(view.export_runner.running_changed, check_params_cb=lambda busy: not busy, timeout=20000):
        assert view.export_to(tmp_path / "out")
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    stems = [Path(p).relative_to(view._report.root).with_suffix("").as_posix() for p in view.last_preview.paths]
    assert written == sorted(f"{s}_aug{n:03d}.png" for s in stems for n in range(3))
    assert decode_image(tmp_path / "out" / f"{stems[0]}_aug002.png", 32).shape == (32, 32, 3)
