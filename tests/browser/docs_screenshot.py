"""Make docs/images/zone-editor.png, the screenshot the README shows.

Runs ``edge-app zones edit`` on TUD-Stadtmitte (../shared/data) with its example zones and
the live preview on (MediaPipe's selfie-segmentation model on ONNX Runtime stands in for
PeopleSemSegFormer), and photographs the page in headless chromium::

    .venv/bin/python -m tests.browser.docs_screenshot [OUT.png]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from tests.browser.chromium import REPO, launch_browser, zone_editor
from tests.conftest import SHARED_DATA

CONFIG = """\
cameras:
  - id: tud-stadtmitte
    source: {{type: file, path: {video}}}
    zones: zones/tud-stadtmitte.yaml
segmenter:
  type: onnxruntime
  model: {model}
  input_name: input_1
  output: {{name: segment_back}}
  preprocess:
    infer_dims: [3, 144, 256]
    tensor_layout: NHWC
    net_scale_factor: 0.00392156862745098
    offsets: [0.0]
mqtt: {{enabled: false}}
"""


def main(out: Path) -> None:
    video = SHARED_DATA / "tud_stadtmitte" / "tud_stadtmitte.mp4"
    model = SHARED_DATA / "selfie_segmentation" / "selfie_segmentation_landscape.onnx"
    missing = [str(p) for p in (video, model) if not p.is_file()]
    if missing:
        sys.exit(
            f"needs {' and '.join(missing)}: the public test data beside the repository "
            "(README: Tests that need real data)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "zones").mkdir()
        shutil.copy(REPO / "tests" / "zones" / "tud-stadtmitte.yaml", folder / "zones")
        config = folder / "edge-app.yaml"
        config.write_text(CONFIG.format(video=video, model=model), encoding="utf-8")
        with (
            launch_browser() as browser,
            zone_editor(
                ["--config", "edge-app.yaml", "--zones", "zones/tud-stadtmitte.yaml"], cwd=folder
            ) as url,
        ):
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.click("#zone-list li:nth-child(2)")
            page.check("#preview-toggle")
            # Wait for a frame where people stand in two or more zones at once. (Polled
            # from here: the page's CSP forbids the eval behind wait_for_function.)
            busy = "Object.values(ed.preview.counts).filter((c) => c.count > 0).length"
            for _ in range(300):
                if page.evaluate(busy) >= 2:
                    break
                page.wait_for_timeout(200)
            page.wait_for_timeout(500)  # let the newest preview picture load
            page.screenshot(path=str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "zone-editor.png")
