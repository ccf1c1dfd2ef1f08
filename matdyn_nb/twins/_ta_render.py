"""Rendering of the Ta chart twin: model parameters, frames, noise and the slit truth (twins.md §1)."""

import json
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..data import as_stack, rotate_augment
from ._illumination import triangle_support
from ._ta_layout import chart_layout, coverage_table, render_coverage

__all__: list[str] = []

NATIVE_PX_NM = 29.8
_NOISE_STREAM, _ANGLE_STREAM = 0, 1
_SLIT_SAMPLES = 31  # points along a slit to judge the fraction in view


@dataclass(frozen=True)
class TaParams:
    n_frames: int = 1755  # acquisition frames of the run (paper §3.2)
    frame_step: int = 1  # keep every k-th acquisition frame
    frame_period_s: float = 7.2e-3  # effective exposure (thesis B.1)
    velocity_nm_s: float = 340.0  # chart velocity along +x (paper §3.2)
    x0_nm: float | None = None  # offset at frame 0; None centres the run on the chart
    y0_nm: float = 0.0
    frame_px: int = 178  # side of the full reconstructed frame
    pixel_size_nm: float = NATIVE_PX_NM  # PID3Net pixel (twins.md §1.1)
    crop_px: tuple[int, int, int] | None = None  # (row0, col0, size) window of the frame
    n_rotations: int = 5  # rotated copies per frame (paper §3.2)
    max_angle_deg: float = 30.0
    n_subframes: int = 4  # sub-renders per exposure
    phase_ta_rad: float = 0.6  # phase step of the Ta features (twins.md §1.2)
    slit_widths_nm: tuple[float, float] = (311.0, 324.0)  # true d1, d2
    psf_sigma_nm: float = 0.7 * NATIVE_PX_NM  # Gaussian PSF (FWHM about 50 nm)
    triangle_side_nm: float = 5000.0  # beam side (thesis B.1)
    corner_radius_nm: float = 250.0
    edge_sigma_nm: float = 1.5 * NATIVE_PX_NM  # softening of the support edge
    noise_white_rad: float = 0.075  # sigma_w, tuned so the per-row slit-width SD is ~12 nm (§1.5)
    noise_corr_nm: float = NATIVE_PX_NM  # correlation of n_w and n_out
    noise_lf_rad: float = 0.03  # smooth field n_lf
    noise_lf_corr_nm: float = 10 * NATIVE_PX_NM
    phase_offset_sd_rad: float = 0.02  # global offset c_t per frame
    noise_out_rad: float = 0.1  # phase outside the support
    min_feature_nm: float = 0.0  # drop finer features (coarse presets)
    y_scale: float = 1.0  # vertical layout factor (table1 convention)
    supersample: int = 8  # canvas cells per pixel side
    pixel_convention: str = "native"
    chunk_frames: int = 0  # > 0: dask-backed, this many source frames per chunk
    keep_maps: bool = True  # clean phase, support and Ta map per image


class Renderer:
    """Everything fixed across the frames of one dataset: window, support, chart table."""

    def __init__(self, p: TaParams, root_seed: int):
        self.p, self.seed = p, root_seed
        self.r0, self.c0, self.n = p.crop_px if p.crop_px is not None else (0, 0, p.frame_px)
        # centre the triangle's bounding box: the centroid sits (inradius - corner) / 2 below it
        centre = (p.frame_px - 1) / 2
        drop = (p.triangle_side_nm / (2 * np.sqrt(3.0)) - p.corner_radius_nm) / 2 / p.pixel_size_nm
        self.support_full = triangle_support(
            (p.frame_px, p.frame_px),
            p.pixel_size_nm,
            side=p.triangle_side_nm,
            corner_radius=p.corner_radius_nm,
            edge_sigma_px=p.edge_sigma_nm / p.pixel_size_nm,
            center=(centre + drop, centre),
        )
        self.support = self.support_full[self.r0 : self.r0 + self.n, self.c0 : self.c0 + self.n]
        self.layout_key = json.dumps(
            {"slit_widths_nm": list(p.slit_widths_nm), "y_scale": p.y_scale, "min_feature_nm": p.min_feature_nm},
            sort_keys=True,
        )
        self.layout = chart_layout(p.slit_widths_nm, y_scale=p.y_scale, min_feature_nm=p.min_feature_nm)
        self.step = p.pixel_size_nm / p.supersample
        self.pad = int(np.ceil(4 * p.psf_sigma_nm / p.pixel_size_nm)) + 1

    def offset(self, t: np.ndarray | int) -> np.ndarray:
        """Chart offset x (nm) at acquisition frame ``t``."""
        p = self.p
        return p.x0_nm + p.velocity_nm_s * p.frame_period_s * np.asarray(t, float)

    def frame(self, t: int, offset_x: float, offset_y: float, noise_rng: np.random.Generator | None):
        """Noisy phase, clean phase and Ta coverage of one unrotated frame on the window.

        Returns an array ``(3, n, n)``: phase, clean phase, Ta coverage.
        """
        p, n, pad = self.p, self.n, self.pad
        idx = np.arange(-pad, n + pad + 1)
        rows = (idx + self.r0 - p.frame_px / 2) * p.pixel_size_nm
        cols = (idx + self.c0 - p.frame_px / 2) * p.pixel_size_nm
        table = coverage_table(self.layout_key, self.step)
        smear = p.velocity_nm_s * p.frame_period_s * ((np.arange(p.n_subframes) + 0.5) / p.n_subframes - 0.5)
        cover = np.mean(
            [render_coverage(table, self.step, rows - offset_y, cols - offset_x - ds) for ds in smear], axis=0
        )
        blurred = ndimage.gaussian_filter(cover, p.psf_sigma_nm / p.pixel_size_nm, mode="nearest")
        inner = (slice(pad, pad + n), slice(pad, pad + n))
        s = self.support
        obj = -p.phase_ta_rad * blurred[inner]
        obj -= np.sum(s * obj) / np.sum(s)  # the constant c: zero mean inside the support
        clean = s * obj
        if noise_rng is None:
            phase = clean
        else:
            inside = (
                _correlated_noise(noise_rng, n, p.noise_corr_nm / p.pixel_size_nm) * p.noise_white_rad
                + _correlated_noise(noise_rng, n, p.noise_lf_corr_nm / p.pixel_size_nm) * p.noise_lf_rad
                + noise_rng.normal(0.0, p.phase_offset_sd_rad)
            )
            outside = _correlated_noise(noise_rng, n, p.noise_corr_nm / p.pixel_size_nm) * p.noise_out_rad
            phase = s * (obj + inside) + (1 - s) * outside
        return np.stack([phase, clean, cover[inner]])

    def noise_rng(self, t: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(t), _NOISE_STREAM])

    def angle_rng(self, t: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(t), _ANGLE_STREAM])

    def angles(self, t: int) -> np.ndarray:
        """The rotation angles of the copies of frame ``t`` (the draw rotate_augment makes)."""
        p = self.p
        return self.angle_rng(t).uniform(-p.max_angle_deg, p.max_angle_deg, size=(1, p.n_rotations))[0]

    def chunk(self, frames: np.ndarray) -> np.ndarray:
        """Images and maps of source frames ``frames`` (acquisition indices), augmented.

        Returns float32 ``(len(frames) * (1 + k), 4, n, n)``: phase, clean, support, Ta map.
        """
        p = self.p
        out = []
        for t in frames:
            phase, clean, cover = self.frame(t, float(self.offset(t)), p.y0_nm, self.noise_rng(t))
            planes = np.stack([phase, clean, self.support, cover]).astype(np.float32)
            if p.n_rotations == 0:
                out.append(planes[None])
                continue
            aug = rotate_augment(
                as_stack(planes[None], dims=("frame", "channel", "y", "x")),
                p.n_rotations,
                p.max_angle_deg,
                rng=self.angle_rng(t),
            )
            if not np.array_equal(aug.angle.values[1:], self.angles(t)):
                raise RuntimeError(
                    "matdyn_nb.data.rotate_augment changed how it draws angles; update _Renderer.angles to match"
                )
            out.append(aug.values)
        block = np.concatenate(out)
        block[:, 2] = np.clip(block[:, 2], 0.0, 1.0)
        block[:, 3] = block[:, 3] >= 0.5
        return block


def _correlated_noise(rng: np.random.Generator, n: int, sigma_px: float) -> np.ndarray:
    """Unit-variance Gaussian noise with a Gaussian correlation of ``sigma_px`` pixels."""
    white = rng.standard_normal((n, n))
    if sigma_px <= 0:
        return white
    delta = np.zeros((2 * int(4 * sigma_px) + 3,) * 2)
    delta[delta.shape[0] // 2, delta.shape[1] // 2] = 1.0
    norm = np.sqrt(np.sum(ndimage.gaussian_filter(delta, sigma_px) ** 2))
    return ndimage.gaussian_filter(white, sigma_px, mode="wrap") / norm


def _rotate_points(rows: np.ndarray, cols: np.ndarray, angle_deg: np.ndarray, n: int):
    """Where pixel positions go when the n x n image is rotated (rotate_augment's convention)."""
    c = (n - 1) / 2
    a = np.deg2rad(angle_deg)
    dy, dx = rows - c, cols - c
    return c + dy * np.cos(a) - dx * np.sin(a), c + dx * np.cos(a) + dy * np.sin(a)


def slit_table(r: Renderer, t: np.ndarray, angles: np.ndarray) -> dict[str, np.ndarray]:
    """The slit copies in view of each image, as padded ``(image, slit)`` arrays."""
    p, n = r.p, r.n
    slits = r.layout["slits"]
    off_x, off_y = r.offset(t)[:, None], p.y0_nm
    x = np.array([s["x_nm"] for s in slits])[None]
    y = np.array([s["y_nm"] for s in slits])[None]
    half = np.array([s["length_nm"] for s in slits])[None, :, None] / 2
    # unrotated window px of the centre and of points along the slit (images, slits, samples)
    col = (x + off_x) / p.pixel_size_nm + p.frame_px / 2 - 0.5 - r.c0
    row = np.broadcast_to((y + off_y) / p.pixel_size_nm + p.frame_px / 2 - 0.5 - r.r0, col.shape)
    along = np.linspace(-1, 1, _SLIT_SAMPLES)[None, None] * half / p.pixel_size_nm
    prow = row[..., None] + along
    pcol = np.broadcast_to(col[..., None], prow.shape)
    inside = (prow >= 0) & (prow <= n - 1) & (pcol >= 0) & (pcol <= n - 1)
    lit = ndimage.map_coordinates(r.support_full, [prow + r.r0, pcol + r.c0], order=1, mode="constant")
    qrow, qcol = _rotate_points(prow, pcol, angles[:, None, None], n)
    inside &= (qrow >= -0.5) & (qrow <= n - 0.5) & (qcol >= -0.5) & (qcol <= n - 0.5)
    visible = np.mean(inside & (lit >= 0.5), axis=-1)
    crow, ccol = _rotate_points(row, col, angles[:, None], n)

    shown = visible > 0
    width = max(int(shown.sum(axis=1).max()), 1)
    order = np.argsort(~shown, axis=1, kind="stable")[:, :width]
    keep = np.take_along_axis(shown, order, axis=1)

    def pick(values, fill):
        return np.where(keep, np.take_along_axis(np.broadcast_to(values, shown.shape), order, axis=1), fill)

    ids = np.array([s["id"] for s in slits])[None]
    widths = np.array([s["width_nm"] for s in slits])[None]
    labels = np.array([s["label"] for s in slits])[None]
    return {
        "slit_id": pick(ids, -1).astype(np.int32),
        "slit_label": pick(labels, ""),
        "slit_width_nm": pick(widths, np.nan),
        "slit_row_px": pick(crow, np.nan),
        "slit_col_px": pick(ccol, np.nan),
        "slit_angle_deg": pick(angles[:, None], np.nan),
        "slit_visible": pick(visible, 0.0),
    }


SLIT_ATTRS = {
    "slit_id": ("1", "slit copy id on the chart (2 * motif + 0 for d1, 1 for d2; -1: empty slot)"),
    "slit_label": ("1", "slit label (d1 or d2; empty slot: '')"),
    "slit_width_nm": ("nm", "true slit (gap) width"),
    "slit_row_px": ("px", "slit centre row in the image, after rotation"),
    "slit_col_px": ("px", "slit centre column in the image, after rotation"),
    "slit_angle_deg": ("degree", "slit long-axis angle from the image y axis, counter-clockwise as displayed"),
    "slit_visible": ("1", "fraction of the slit's length inside the image and the support"),
}
