"""Every kind of input image becomes uint8 RGB, and every bad one a clear ImageError."""

import numpy as np
import pytest
from PIL import Image

from derain_lib.io import ImageError, list_images, read_image, save_image, to_tensor, to_uint8


def _save(tmp_path, img, name, **kw):
    p = tmp_path / name
    img.save(p, **kw)
    return p


def test_rgb_roundtrip(tmp_path, photo):
    p = save_image(photo, tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(p), photo)
    assert read_image(Image.open(p)).dtype == np.uint8
    np.testing.assert_array_equal(read_image(p.read_bytes()), photo)


def test_grayscale_palette_rgba_cmyk(tmp_path, photo):
    gray = Image.fromarray(photo).convert("L")
    out = read_image(_save(tmp_path, gray, "g.png"))
    assert out.shape == photo.shape and np.all(out[..., 0] == out[..., 1])
    pal = Image.fromarray(photo).convert("P")
    assert read_image(_save(tmp_path, pal, "p.png")).shape == photo.shape
    rgba = np.dstack([photo, np.zeros(photo.shape[:2], np.uint8)])  # fully transparent -> white
    out = read_image(_save(tmp_path, Image.fromarray(rgba, "RGBA"), "t.png"))
    assert out.min() == 255
    cmyk = Image.fromarray(photo).convert("CMYK")
    out = read_image(_save(tmp_path, cmyk, "c.jpg"))
    assert out.shape == photo.shape and abs(out.astype(int).mean() - photo.mean()) < 10


def test_16bit(tmp_path):
    arr16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    p = tmp_path / "d.png"
    Image.fromarray(arr16).save(p)  # 16-bit grayscale PNG (mode I;16)
    out = read_image(p)
    assert out.shape == (48, 64, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    out2 = read_image(np.dstack([arr16] * 3))  # 16-bit RGB array
    np.testing.assert_array_equal(out2[..., 0], out[..., 0])


def test_exif_orientation(tmp_path, photo):
    img = Image.fromarray(photo[:, :200])  # 256 high, 200 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "r.jpg"
    img.save(p, exif=exif.tobytes())
    out = read_image(p)
    assert out.shape == (200, 256, 3)


def test_arrays_and_tensors(photo):
    f = photo.astype(np.float32) / 255
    np.testing.assert_array_equal(read_image(f), photo)
    np.testing.assert_array_equal(read_image(to_tensor(photo)), photo)
    np.testing.assert_array_equal(to_uint8(to_tensor(photo)), photo)
    with pytest.raises(ImageError, match="NaN"):
        read_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="shape"):
        read_image(np.zeros((4, 4, 5)))


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"this is not an image", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt|not an image"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=match):
        read_image(p)


def test_truncated_and_missing(tmp_path, photo):
    p = save_image(photo, tmp_path / "a.jpg")
    data = p.read_bytes()
    q = tmp_path / "trunc.jpg"
    q.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(q)
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)


def test_size_limit(tmp_path):
    p = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000)).save(p)
    with pytest.raises(ImageError, match="over the limit of 1 MP"):
        read_image(p, max_pixels=1_000_000)


def test_save_rejects_unknown_format(tmp_path, photo):
    with pytest.raises(ValueError, match="unsupported output format"):
        save_image(photo, tmp_path / "x.xyz")
    save_image(photo, tmp_path / "x.png")
    assert [p.name for p in list_images(tmp_path)] == ["x.png"]
