import numpy as np
import pytest
import torch
from PIL import Image

from ot_gan.data import load_source, read_image
from ot_gan.errors import InputError
from ot_gan.sources import PALETTE, SOURCES, toy_2d


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


@pytest.fixture
def mixed_folder(tmp_path):
    """Gray, RGB, RGBA, palette, 16-bit and TIFF images of different sizes and aspect ratios."""
    rng = np.random.default_rng(0)
    save(tmp_path / "a" / "gray.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    save(tmp_path / "a" / "rgb.jpg", rng.integers(0, 256, (40, 24, 3), dtype=np.uint8))
    save(tmp_path / "b" / "rgba.png", np.dstack([np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint8)]))
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).convert("P").save(tmp_path / "b" / "pal.bmp")
    save(tmp_path / "b" / "deep.png", np.full((10, 10), 65535, dtype=np.uint16))
    save(tmp_path / "b" / "scan.tif", rng.integers(0, 256, (9, 14, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_of_mixed_images(mixed_folder):
    s = load_source(str(mixed_folder), size=8)
    assert s.data.shape == (6, 3, 8, 8) and s.data.dtype == torch.float32
    assert s.data.min() >= -1 and s.data.max() <= 1
    assert s.classes == ["a", "b"] and s.labels.tolist() == [0, 0, 1, 1, 1, 1]
    names = sorted(p.name for p in (mixed_folder / "b").iterdir())
    by_name = dict(zip(names, s.data[2:]))
    assert torch.allclose(by_name["deep.png"], torch.ones(3, 8, 8))  # 16-bit white stays white
    assert torch.allclose(by_name["rgba.png"], torch.ones(3, 8, 8))  # transparent -> white


def test_gray_folder_stays_gray(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", np.full((8, 8), 255 * (i % 2), np.uint8))
    s = load_source(str(tmp_path), size=4)
    assert s.data.shape == (3, 1, 4, 4) and s.labels is None
    assert s.data[1].eq(1).all() and s.data[0].eq(-1).all()


def test_unreadable_image_is_a_clear_error(tmp_path):
    save(tmp_path / "ok.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png: not a readable image"):
        load_source(str(tmp_path))
    with pytest.raises(InputError):
        read_image(tmp_path / "broken.png")


def test_arrays(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    s = load_source(str(tmp_path / "x.npy"))
    values = np.asarray(s.data)
    assert values.dtype == np.float32 and np.allclose(values, x, atol=1e-6)
    np.savez(tmp_path / "xy.npz", x=x, y=np.arange(50) % 3)
    s = load_source(str(tmp_path / "xy.npz"))
    assert s.labels.tolist()[:4] == [0, 1, 2, 0]
    train, held = s.split(0.2, seed=1)
    assert len(train) == 40 and len(held) == 10
    again, _ = s.split(0.2, seed=1)
    assert torch.equal(train.data, again.data)
    both = torch.cat([train.data, held.data])
    assert torch.equal(both[both[:, 0].argsort()], torch.as_tensor(x, dtype=torch.float32)[x[:, 0].argsort()])


@pytest.mark.parametrize("content,message", [
    (np.array([[1.0, np.nan]]), "NaN"), (np.zeros(5), "expected vectors"), (np.array([["a", "b"]]), "numbers")])
def test_bad_arrays(tmp_path, content, message):
    np.save(tmp_path / "bad.npy", content)
    with pytest.raises(InputError, match=message):
        load_source(str(tmp_path / "bad.npy"))


def test_builtins():
    digits = load_source("digits")
    assert digits.data.shape == (1797, 1, 8, 8) and digits.data.min() == -1 and digits.data.max() == 1
    three = load_source("digits:3")
    assert len(three) == 183 and (three.labels == 3).all()
    photos = load_source("photos", size=16)
    assert photos.data.shape[1:] == (3, 16, 16) and len(photos) > 100
    assert photos.data.std(dim=(0, 2, 3)).min() > 0.1  # color, not flat
    for toy in ("gaussians", "rings", "checkerboard"):
        pts = load_source(f"{toy}:500").data
        assert pts.shape == (500, 2) and torch.isfinite(pts).all()
    assert torch.equal(toy_2d("rings", 10, seed=3), toy_2d("rings", 10, seed=3))


@pytest.mark.parametrize("spec,message", [
    ("missing_dir/", "no such file or folder"), ("digits:12", "0-9"), ("rings:abc", "positive integer"),
    ("nothing.npy", "no such file")])
def test_bad_specs(spec, message):
    with pytest.raises(InputError, match=message):
        load_source(spec)


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no images found"):
        load_source(str(tmp_path))


def test_colordigits_are_the_digits_in_one_palette_color_each():
    palette = torch.tensor(PALETTE)
    gray, color = load_source("digits:3"), load_source("colordigits:3", seed=5)
    assert color.data.shape == (len(gray), 3, 8, 8) and color.name == "colordigits:3"
    ink = (gray.data + 1) / 2
    rgb = (color.data + 1) / 2
    picks = [int((rgb[i] - ink[i] * palette[:, :, None, None]).abs().amax(dim=(1, 2, 3)).argmin())
             for i in range(len(gray))]
    for i, k in enumerate(picks):
        torch.testing.assert_close(rgb[i], ink[i] * palette[k][:, None, None])
    assert len(set(picks)) == 4  # every color is used


@pytest.mark.filterwarnings("ignore:.*were upscaled")
def test_every_source_comes_out_as_a_tensor_at_the_size_asked_for(mixed_folder, tmp_path):
    """One size contract: digits, photos, folders and (non-square) arrays all come out 12 x 12,
    resized on the short side and center-cropped; without a size, digits and arrays keep theirs."""
    wide = np.random.default_rng(0).integers(0, 256, (3, 1, 10, 20), dtype=np.uint8)
    np.save(tmp_path / "wide.npy", wide)
    np.save(tmp_path / "float.npy", np.zeros((3, 3, 6, 6), np.float32))  # memory-mapped
    specs = ["digits:1", "colordigits", "photos", str(mixed_folder), str(tmp_path / "wide.npy"),
             str(tmp_path / "float.npy")]
    for spec in specs:
        s = load_source(spec, size=12)
        assert isinstance(s.data, torch.Tensor) and s.data.shape[-2:] == (12, 12), spec
    middle = torch.as_tensor(wide[:, :, :, 5:15] / 127.5 - 1, dtype=torch.float32)  # the center crop
    torch.testing.assert_close(load_source(str(tmp_path / "wide.npy"), size=10).data, middle)
    assert load_source("digits").data.shape[-2:] == (8, 8)
    assert load_source(str(tmp_path / "wide.npy")).data.shape[-2:] == (10, 20)
    assert isinstance(load_source(str(tmp_path / "float.npy")).data, torch.Tensor)


def test_a_folder_named_like_a_built_in_is_read_as_dot_slash_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(2):
        save(tmp_path / "digits" / f"{i}.png", np.full((8, 8), 255 * i, np.uint8))
    with pytest.warns(UserWarning, match=r"^digits: the built-in source is read, not the file or folder digits "
                                         r"\(write \./digits for that\)$"):
        assert len(load_source("digits")) == 1797
    assert len(load_source("./digits", size=8)) == 2 and len(load_source(str(tmp_path / "digits"), size=8)) == 2


def test_an_unknown_source_names_every_built_in():
    with pytest.raises(InputError) as err:
        load_source("digit:3")
    assert str(err.value).endswith(f"({', '.join(s.syntax for s in SOURCES.values())})")
